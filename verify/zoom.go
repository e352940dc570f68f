package verify

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Zoom's signature headers.
const (
	HeaderZoomSignature = "X-Zm-Signature"
	HeaderZoomTimestamp = "X-Zm-Request-Timestamp"
)

// ZoomURLValidation is the event of Zoom's endpoint validation challenge.
const ZoomURLValidation = "endpoint.url_validation"

// defaultZoomTolerance bounds x-zm-request-timestamp (Zoom states none).
const defaultZoomTolerance = 5 * time.Minute

// Zoom verifies Zoom event subscriptions (Meetings, Video SDK, Phone).
//
// x-zm-signature is "v0=" + hex HMAC-SHA256(secret token,
// "v0:" + x-zm-request-timestamp + ":" + body). A verified
// endpoint.url_validation request is returned as a Challenge answered
// with {"plainToken":...,"encryptedToken": hex HMAC-SHA256(secret,
// plainToken)}, with the secret that verified it.
type Zoom struct {
	// Keys maps a label to secret tokens; every one is tried.
	Keys Keyring
	// Tolerance is how far x-zm-request-timestamp may be from now, either
	// way. If zero, five minutes is used.
	Tolerance time.Duration
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
}

// NewZoom returns a Zoom verifier after checking keys and tolerance.
func NewZoom(keys Keyring, tolerance time.Duration, now func() time.Time) (*Zoom, error) {
	if err := keys.Validate(); err != nil {
		return nil, err
	}
	tol, err := toleranceRule(ProviderZoom, tolerance, defaultZoomTolerance, false)
	if err != nil {
		return nil, err
	}
	return &Zoom{Keys: keys, Tolerance: tol, Now: now}, nil
}

func newZoomVerifier(keys Keyring, o Options) (Verifier, error) {
	return NewZoom(keys, o.Tolerance, o.Now)
}

// SignatureHeaders implements SignatureHeaderer.
func (v *Zoom) SignatureHeaders() []string { return []string{HeaderZoomSignature} }

// ForwardTimeout implements ForwardTimeouter: Zoom wants an answer within
// 3 s.
func (v *Zoom) ForwardTimeout() time.Duration { return 2500 * time.Millisecond }

// ReplayWindow implements ReplayWindower.
func (v *Zoom) ReplayWindow() time.Duration { return 2 * v.tolerance() }

func (v *Zoom) tolerance() time.Duration { return positiveOr(v.Tolerance, defaultZoomTolerance) }

// Verify implements Verifier.
func (v *Zoom) Verify(r *Request) ([]Event, error) {
	sig, tsRaw, at, err := timestampedSignature(r.Header, HeaderZoomSignature, HeaderZoomTimestamp)
	if err != nil {
		return nil, fmt.Errorf("zoom: %w", err)
	}
	hexSig, ok := strings.CutPrefix(sig, "v0=")
	if !ok {
		return nil, fmt.Errorf("zoom: %w: %s is not v0=<hex>", ErrMalformedSignature, HeaderZoomSignature)
	}
	mac, ok := decodeHex(hexSig, sha256.Size)
	if !ok {
		return nil, fmt.Errorf("zoom: %w: %s is not a hex HMAC-SHA256", ErrMalformedSignature, HeaderZoomSignature)
	}
	label, secret, ok := matchLabel(v.Keys, [][]byte{mac}, func(k []byte) []byte {
		return hmacSum(sha256.New, k, []byte("v0:"+tsRaw+":"), r.Body)
	})
	if !ok {
		return nil, fmt.Errorf("zoom: %w", ErrSignatureMismatch)
	}
	if !within(at, nowFunc(v.Now), v.tolerance()) {
		return nil, fmt.Errorf("zoom: %w: %s %s", ErrStale, HeaderZoomTimestamp, tsRaw)
	}

	fields, err := objectMembers(r.Body, "event", "event_ts", "payload")
	if err != nil {
		return nil, fmt.Errorf("zoom: %w: %w", ErrMalformedBody, err)
	}
	typ, err := fieldString(fields, "event")
	if err != nil {
		return nil, fmt.Errorf("zoom: %w: %w", ErrMalformedBody, err)
	}
	evTime, _, err := fieldTime(fields, "event_ts", time.Millisecond)
	if err != nil {
		return nil, fmt.Errorf("zoom: %w: %w", ErrMalformedBody, err)
	}
	ev := Event{Provider: ProviderZoom, Key: BodyKey(label, r.Body), Type: typ, Time: evTime, KeyID: label, Body: r.Body}
	if typ == ZoomURLValidation {
		plain, err := zoomPlainToken(fields)
		if err != nil {
			return nil, fmt.Errorf("zoom: %w: %w", ErrMalformedBody, err)
		}
		ev.Challenge = &Challenge{ContentType: "application/json", Body: ZoomChallengeAnswer(secret, plain)}
	}
	return []Event{ev}, nil
}

// zoomPlainToken reads payload.plainToken of a url_validation body.
func zoomPlainToken(fields map[string]json.RawMessage) (string, error) {
	raw := fields["payload"]
	if isNull(raw) {
		return "", fmt.Errorf("%s without payload", ZoomURLValidation)
	}
	payload, err := objectMembers(raw, "plainToken")
	if err != nil {
		return "", fmt.Errorf("payload: %w", err)
	}
	plain, err := fieldString(payload, "plainToken")
	if err != nil || plain == "" {
		return "", fmt.Errorf("%s without payload.plainToken", ZoomURLValidation)
	}
	return plain, nil
}

// ZoomChallengeAnswer is the JSON answer to an endpoint.url_validation
// request: plainToken and encryptedToken = hex HMAC-SHA256(secret,
// plainToken).
func ZoomChallengeAnswer(secret []byte, plainToken string) []byte {
	return jsonBody(map[string]string{"plainToken": plainToken, "encryptedToken": hexMAC(secret, []byte(plainToken))})
}

// SignZoom returns the x-zm-signature Zoom sends: "v0=" + hex
// HMAC-SHA256(secret, "v0:" + ts + ":" + body).
func SignZoom(secret []byte, ts time.Time, body []byte) string {
	return "v0=" + hexMAC(secret, []byte("v0:"+strconv.FormatInt(ts.Unix(), 10)+":"), body)
}

// sendZoom signs m as Zoom does; m.Type endpoint.url_validation sends the
// challenge with m.ID as plainToken.
func sendZoom(m Message) (Outgoing, error) {
	body := m.Body
	if body == nil {
		typ := or(m.Type, "meeting.started")
		payload := map[string]any{"account_id": "demo-account", "object": map[string]any{"id": "85634961234", "uuid": m.ID, "topic": "demo"}}
		if typ == ZoomURLValidation {
			payload = map[string]any{"plainToken": m.ID}
		}
		body = jsonBody(map[string]any{"event": typ, "event_ts": m.At.UnixMilli(), "payload": payload})
	}
	h := http.Header{"Content-Type": {"application/json"}}
	h.Set(HeaderZoomTimestamp, strconv.FormatInt(m.At.Unix(), 10))
	h.Set(HeaderZoomSignature, SignZoom([]byte(m.Secret), m.At, body))
	return Outgoing{Header: h, Body: body}, nil
}

var _ Verifier = (*Zoom)(nil)
