package verify

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// HeaderMuxSignature carries "t=<unix s>,v1=<hex>[,v1=<hex>...]".
const HeaderMuxSignature = "Mux-Signature"

// defaultMuxTolerance is the window of Mux's SDKs (their tests refuse a
// 6-minute-old timestamp).
const defaultMuxTolerance = 5 * time.Minute

// Mux verifies Mux video webhooks.
//
// Mux-Signature holds t and one or more v1 entries (one per active secret
// during rotation), each a hex HMAC-SHA256(secret, t + "." + body); one
// matching one secret is enough. Mux retries for 24 h and may send
// duplicates even after a 2xx: dedupe is on the body's id.
type Mux struct {
	// Keys maps a label to signing secrets; every one is tried.
	Keys Keyring
	// Tolerance is how far t may be from now, either way. If zero, five
	// minutes is used.
	Tolerance time.Duration
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
}

// NewMux returns a Mux verifier after checking keys and tolerance.
func NewMux(keys Keyring, tolerance time.Duration, now func() time.Time) (*Mux, error) {
	if err := keys.Validate(); err != nil {
		return nil, err
	}
	tol, err := toleranceRule(ProviderMux, tolerance, defaultMuxTolerance, false)
	if err != nil {
		return nil, err
	}
	return &Mux{Keys: keys, Tolerance: tol, Now: now}, nil
}

func newMuxVerifier(keys Keyring, o Options) (Verifier, error) {
	return NewMux(keys, o.Tolerance, o.Now)
}

// SignatureHeaders implements SignatureHeaderer.
func (v *Mux) SignatureHeaders() []string { return []string{HeaderMuxSignature} }

// ForwardTimeout implements ForwardTimeouter. Mux states no timeout
// (inferred: 10 s like most senders).
func (v *Mux) ForwardTimeout() time.Duration { return 10 * time.Second }

// ReplayWindow implements ReplayWindower.
func (v *Mux) ReplayWindow() time.Duration { return 2 * v.tolerance() }

func (v *Mux) tolerance() time.Duration { return positiveOr(v.Tolerance, defaultMuxTolerance) }

// Verify implements Verifier.
func (v *Mux) Verify(r *Request) ([]Event, error) {
	label, at, err := verifyTimedHex(r, HeaderMuxSignature, "t", "v1", v.Keys, v.tolerance(), nowFunc(v.Now))
	if err != nil {
		return nil, fmt.Errorf("mux: %w", err)
	}
	fields, err := objectMembers(r.Body, "id", "type", "created_at")
	if err != nil {
		return nil, fmt.Errorf("mux: %w: %w", ErrMalformedBody, err)
	}
	id, err := fieldString(fields, "id")
	if err != nil {
		return nil, fmt.Errorf("mux: %w: %w", ErrMalformedBody, err)
	}
	typ, err := fieldString(fields, "type")
	if err != nil {
		return nil, fmt.Errorf("mux: %w: %w", ErrMalformedBody, err)
	}
	ev := Event{Provider: ProviderMux, ID: id, Key: idKey(label, id), Type: typ, Time: at, KeyID: label, Body: r.Body}
	if created, err := fieldString(fields, "created_at"); err == nil && created != "" {
		if t, err := time.Parse(time.RFC3339Nano, created); err == nil {
			ev.Time = t.UTC()
		}
	}
	if id == "" {
		ev.Key = BodyKey(label, r.Body)
	}
	return []Event{ev}, nil
}

// verifyTimedHex checks a "ts=<unix s>,sig=<hex>..." header (Mux, Stripe,
// Cloudflare Stream) whose signatures are hex HMAC-SHA256(secret, ts + "."
// + body), then the time's freshness. It returns the label of the secret
// that matched and the signed time.
func verifyTimedHex(r *Request, header, tsName, sigName string, keys Keyring, tol time.Duration, now time.Time) (string, time.Time, error) {
	h, err := singleHeader(r.Header, header)
	if err != nil {
		return "", time.Time{}, err
	}
	if h == "" {
		return "", time.Time{}, fmt.Errorf("%w: no %s header", ErrMissingSignature, header)
	}
	tsRaw, sigs, err := signatureParams(h, tsName, sigName)
	if err != nil {
		return "", time.Time{}, err
	}
	if tsRaw == "" {
		return "", time.Time{}, fmt.Errorf("%w: %s has no %s=", ErrMalformedSignature, header, tsName)
	}
	at, err := unixHeader(header+" "+tsName, tsRaw)
	if err != nil {
		return "", time.Time{}, err
	}
	macs := hexSigs(sigs)
	if len(macs) == 0 {
		return "", time.Time{}, fmt.Errorf("%w: %s has no hex %s= signature", ErrMalformedSignature, header, sigName)
	}
	label, _, ok := matchLabel(keys, macs, func(k []byte) []byte {
		return hmacSum(sha256.New, k, []byte(tsRaw), []byte{'.'}, r.Body)
	})
	if !ok {
		return "", time.Time{}, ErrSignatureMismatch
	}
	if !within(at, now, tol) {
		return "", time.Time{}, fmt.Errorf("%w: %s %s", ErrStale, tsName, tsRaw)
	}
	return label, at, nil
}

// timedHex is hex HMAC-SHA256(secret, ts + "." + body), the signature of
// Mux, Stripe and Cloudflare Stream.
func timedHex(secret []byte, ts time.Time, body []byte) string {
	return hexMAC(secret, []byte(strconv.FormatInt(ts.Unix(), 10)+"."), body)
}

// SignMux returns the Mux-Signature header Mux sends with body.
func SignMux(secret []byte, ts time.Time, body []byte) string {
	return "t=" + strconv.FormatInt(ts.Unix(), 10) + ",v1=" + timedHex(secret, ts, body)
}

// sendMux signs m as Mux does: a video.asset.ready event by default.
func sendMux(m Message) (Outgoing, error) {
	body := m.Body
	if body == nil {
		body = jsonBody(map[string]any{"type": or(m.Type, "video.asset.ready"), "id": m.ID, "created_at": m.At.UTC().Format(time.RFC3339Nano),
			"object": map[string]any{"type": "asset", "id": "demo-asset"}, "data": map[string]any{"id": "demo-asset", "status": "ready"}})
	}
	h := http.Header{"Content-Type": {"application/json"}}
	h.Set(HeaderMuxSignature, SignMux([]byte(m.Secret), m.At, body))
	return Outgoing{Header: h, Body: body}, nil
}

var _ Verifier = (*Mux)(nil)
