package verify

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Slack's signature headers.
const (
	HeaderSlackSignature = "X-Slack-Signature"
	HeaderSlackTimestamp = "X-Slack-Request-Timestamp"
)

// SlackURLVerification is the type of the Events API's challenge.
const SlackURLVerification = "url_verification"

// defaultSlackTolerance is the window of Slack's docs and SDKs.
const defaultSlackTolerance = 5 * time.Minute

// Slack verifies Slack requests: the Events API, interactivity and slash
// commands.
//
// X-Slack-Signature is "v0=" + hex HMAC-SHA256(signing secret, "v0:" +
// X-Slack-Request-Timestamp + ":" + body). A verified url_verification
// event is returned as a Challenge answered with {"challenge":...}. Events
// API bodies are deduplicated on event_id (Slack's retries carry
// X-Slack-Retry-Num and the same event_id); form bodies (slash commands,
// payload= interactivity) on a hash of the body.
type Slack struct {
	// Keys maps a label to signing secrets; every one is tried.
	Keys Keyring
	// Tolerance is how far X-Slack-Request-Timestamp may be from now,
	// either way. If zero, five minutes is used.
	Tolerance time.Duration
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
}

// NewSlack returns a Slack verifier after checking keys and tolerance.
func NewSlack(keys Keyring, tolerance time.Duration, now func() time.Time) (*Slack, error) {
	if err := keys.Validate(); err != nil {
		return nil, err
	}
	tol, err := toleranceRule(ProviderSlack, tolerance, defaultSlackTolerance, false)
	if err != nil {
		return nil, err
	}
	return &Slack{Keys: keys, Tolerance: tol, Now: now}, nil
}

func newSlackVerifier(keys Keyring, o Options) (Verifier, error) {
	return NewSlack(keys, o.Tolerance, o.Now)
}

// SignatureHeaders implements SignatureHeaderer.
func (v *Slack) SignatureHeaders() []string { return []string{HeaderSlackSignature} }

// ForwardTimeout implements ForwardTimeouter: Slack wants an answer
// within 3 s.
func (v *Slack) ForwardTimeout() time.Duration { return 2500 * time.Millisecond }

// ReplayWindow implements ReplayWindower.
func (v *Slack) ReplayWindow() time.Duration { return 2 * v.tolerance() }

func (v *Slack) tolerance() time.Duration { return positiveOr(v.Tolerance, defaultSlackTolerance) }

// Verify implements Verifier.
func (v *Slack) Verify(r *Request) ([]Event, error) {
	sig, tsRaw, at, err := timestampedSignature(r.Header, HeaderSlackSignature, HeaderSlackTimestamp)
	if err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	hexSig, ok := strings.CutPrefix(sig, "v0=")
	if !ok {
		return nil, fmt.Errorf("slack: %w: %s is not v0=<hex>", ErrMalformedSignature, HeaderSlackSignature)
	}
	mac, ok := decodeHex(hexSig, sha256.Size)
	if !ok {
		return nil, fmt.Errorf("slack: %w: %s is not a hex HMAC-SHA256", ErrMalformedSignature, HeaderSlackSignature)
	}
	label, _, ok := matchLabel(v.Keys, [][]byte{mac}, func(k []byte) []byte {
		return hmacSum(sha256.New, k, []byte("v0:"+tsRaw+":"), r.Body)
	})
	if !ok {
		return nil, fmt.Errorf("slack: %w", ErrSignatureMismatch)
	}
	if !within(at, nowFunc(v.Now), v.tolerance()) {
		return nil, fmt.Errorf("slack: %w: %s %s", ErrStale, HeaderSlackTimestamp, tsRaw)
	}

	ev := Event{Provider: ProviderSlack, Key: BodyKey(label, r.Body), Time: at, KeyID: label, Body: r.Body}
	body := strings.TrimLeft(string(r.Body), " \t\r\n")
	if !strings.HasPrefix(body, "{") {
		// A form: a slash command, or interactivity's payload=.
		if form, err := url.ParseQuery(string(r.Body)); err == nil {
			ev.Type = form.Get("command")
		}
		return []Event{ev}, nil
	}
	fields, err := objectMembers(r.Body, "type", "challenge", "event_id", "event", "event_time")
	if err != nil {
		return nil, fmt.Errorf("slack: %w: %w", ErrMalformedBody, err)
	}
	typ, err := fieldString(fields, "type")
	if err != nil {
		return nil, fmt.Errorf("slack: %w: %w", ErrMalformedBody, err)
	}
	ev.Type = typ
	if typ == SlackURLVerification {
		challenge, err := fieldString(fields, "challenge")
		if err != nil || challenge == "" {
			return nil, fmt.Errorf("slack: %w: %s without a challenge", ErrMalformedBody, SlackURLVerification)
		}
		ev.Challenge = &Challenge{ContentType: "application/json", Body: jsonBody(map[string]string{"challenge": challenge})}
		return []Event{ev}, nil
	}
	if ev.ID, err = fieldString(fields, "event_id"); err != nil {
		return nil, fmt.Errorf("slack: %w: %w", ErrMalformedBody, err)
	}
	if ev.ID != "" {
		ev.Key = idKey(label, ev.ID)
	}
	if raw := fields["event"]; !isNull(raw) {
		inner, err := objectMembers(raw, "type")
		if err != nil {
			return nil, fmt.Errorf("slack: %w: event: %w", ErrMalformedBody, err)
		}
		if t, err := fieldString(inner, "type"); err == nil && t != "" {
			ev.Type = t
		}
	}
	if t, ok, err := fieldTime(fields, "event_time", time.Second); err != nil {
		return nil, fmt.Errorf("slack: %w: %w", ErrMalformedBody, err)
	} else if ok {
		ev.Time = t
	}
	return []Event{ev}, nil
}

// SignSlack returns the X-Slack-Signature Slack sends: "v0=" + hex
// HMAC-SHA256(secret, "v0:" + ts + ":" + body).
func SignSlack(secret []byte, ts time.Time, body []byte) string {
	return "v0=" + hexMAC(secret, []byte("v0:"+strconv.FormatInt(ts.Unix(), 10)+":"), body)
}

// sendSlack signs m as Slack does: an Events API event_callback by
// default (m.ID as event_id); m.Type url_verification sends the challenge
// with m.ID as its value.
func sendSlack(m Message) (Outgoing, error) {
	body := m.Body
	if body == nil {
		typ := or(m.Type, "app_mention")
		if typ == SlackURLVerification {
			body = jsonBody(map[string]any{"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": m.ID, "type": SlackURLVerification})
		} else {
			body = jsonBody(map[string]any{"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "team_id": "T0001", "api_app_id": "A0001", "type": "event_callback",
				"event_id": m.ID, "event_time": m.At.Unix(), "event": map[string]any{"type": typ, "user": "U0001", "text": "hello", "channel": "C0001"}})
		}
	}
	h := http.Header{"Content-Type": {"application/json"}}
	if len(body) > 0 && body[0] != '{' {
		h.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	h.Set(HeaderSlackTimestamp, strconv.FormatInt(m.At.Unix(), 10))
	h.Set(HeaderSlackSignature, SignSlack([]byte(m.Secret), m.At, body))
	return Outgoing{Header: h, Body: body}, nil
}

var _ Verifier = (*Slack)(nil)
