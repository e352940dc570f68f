package verify

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// HeaderCloudflareStreamSignature carries "time=<unix s>,sig1=<hex>". Case
// aside it is Standard Webhooks' webhook-signature: on a route that
// re-signs what it forwards it is replaced like any sender signature.
const HeaderCloudflareStreamSignature = "Webhook-Signature"

// defaultCloudflareStreamTolerance bounds time: Cloudflare says to discard
// old timestamps without giving a number.
const defaultCloudflareStreamTolerance = 5 * time.Minute

// CloudflareStream verifies Cloudflare Stream webhooks.
//
// Webhook-Signature holds time and sig1 = hex HMAC-SHA256(secret, time +
// "." + body). There is no event id: the dedupe key is the video's uid and
// status.state, else a hash of the body.
type CloudflareStream struct {
	// Keys maps a label to webhook secrets; every one is tried.
	Keys Keyring
	// Tolerance is how far time may be from now, either way. If zero,
	// five minutes is used.
	Tolerance time.Duration
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
}

// NewCloudflareStream returns a Cloudflare Stream verifier after checking
// keys and tolerance.
func NewCloudflareStream(keys Keyring, tolerance time.Duration, now func() time.Time) (*CloudflareStream, error) {
	if err := keys.Validate(); err != nil {
		return nil, err
	}
	tol, err := toleranceRule(ProviderCloudflareStream, tolerance, defaultCloudflareStreamTolerance, false)
	if err != nil {
		return nil, err
	}
	return &CloudflareStream{Keys: keys, Tolerance: tol, Now: now}, nil
}

func newCloudflareStreamVerifier(keys Keyring, o Options) (Verifier, error) {
	return NewCloudflareStream(keys, o.Tolerance, o.Now)
}

// SignatureHeaders implements SignatureHeaderer.
func (v *CloudflareStream) SignatureHeaders() []string {
	return []string{HeaderCloudflareStreamSignature}
}

// ForwardTimeout implements ForwardTimeouter. Cloudflare states no
// timeout (inferred: 10 s like most senders).
func (v *CloudflareStream) ForwardTimeout() time.Duration { return 10 * time.Second }

// ReplayWindow implements ReplayWindower.
func (v *CloudflareStream) ReplayWindow() time.Duration { return 2 * v.tolerance() }

func (v *CloudflareStream) tolerance() time.Duration {
	return positiveOr(v.Tolerance, defaultCloudflareStreamTolerance)
}

// Verify implements Verifier.
func (v *CloudflareStream) Verify(r *Request) ([]Event, error) {
	label, at, err := verifyTimedHex(r, HeaderCloudflareStreamSignature, "time", "sig1", v.Keys, v.tolerance(), nowFunc(v.Now))
	if err != nil {
		return nil, fmt.Errorf("cloudflare-stream: %w", err)
	}
	fields, err := objectMembers(r.Body, "uid", "status")
	if err != nil {
		return nil, fmt.Errorf("cloudflare-stream: %w: %w", ErrMalformedBody, err)
	}
	uid, err := fieldString(fields, "uid")
	if err != nil {
		return nil, fmt.Errorf("cloudflare-stream: %w: %w", ErrMalformedBody, err)
	}
	var state string
	if raw := fields["status"]; !isNull(raw) {
		status, err := cutMembers(raw)
		if err != nil {
			return nil, fmt.Errorf("cloudflare-stream: %w: status: %w", ErrMalformedBody, err)
		}
		if state, err = fieldString(status, "state"); err != nil {
			return nil, fmt.Errorf("cloudflare-stream: %w: status: %w", ErrMalformedBody, err)
		}
	}
	ev := Event{Provider: ProviderCloudflareStream, Key: BodyKey(label, r.Body), Type: state, Time: at, KeyID: label, Body: r.Body}
	if uid != "" && state != "" {
		ev.Key = BodyKey(label, []byte(uid+"\x00"+state)) // never a body: those are JSON
	}
	return []Event{ev}, nil
}

// SignCloudflareStream returns the Webhook-Signature header Cloudflare
// Stream sends with body.
func SignCloudflareStream(secret []byte, ts time.Time, body []byte) string {
	return "time=" + strconv.FormatInt(ts.Unix(), 10) + ",sig1=" + timedHex(secret, ts, body)
}

// sendCloudflareStream signs m as Cloudflare Stream does: a video that is
// ready to stream by default (m.ID as its uid).
func sendCloudflareStream(m Message) (Outgoing, error) {
	body := m.Body
	if body == nil {
		body = jsonBody(map[string]any{"uid": m.ID, "readyToStream": true, "status": map[string]any{"state": or(m.Type, "ready")},
			"meta": map[string]any{"name": "demo.mp4"}, "modified": m.At.UTC().Format(time.RFC3339Nano), "duration": 12.5})
	}
	h := http.Header{"Content-Type": {"application/json"}}
	h.Set(HeaderCloudflareStreamSignature, SignCloudflareStream([]byte(m.Secret), m.At, body))
	return Outgoing{Header: h, Body: body}, nil
}

var _ Verifier = (*CloudflareStream)(nil)
