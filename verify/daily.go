package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Daily's signature headers.
const (
	HeaderDailySignature = "X-Webhook-Signature"
	HeaderDailyTimestamp = "X-Webhook-Timestamp"
)

// defaultDailyTolerance bounds X-Webhook-Timestamp.
const defaultDailyTolerance = 5 * time.Minute

// Daily verifies daily.co webhooks.
//
// X-Webhook-Signature is the standard base64 of HMAC-SHA256 over
// X-Webhook-Timestamp + "." + body, keyed with the decoded bytes of the
// base64 secret Daily shows (the decoding step, and the timestamp being
// Unix seconds, are inferred from community code, not Daily's docs).
type Daily struct {
	// Keys maps a label to decoded secrets (see ParseDailySecret); every
	// secret is tried.
	Keys Keyring
	// Tolerance is how far X-Webhook-Timestamp may be from now, either
	// way. If zero, five minutes is used.
	Tolerance time.Duration
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
}

// NewDaily returns a Daily verifier over decoded secrets, after checking
// keys and tolerance (zero: five minutes; negative: an error).
func NewDaily(keys Keyring, tolerance time.Duration, now func() time.Time) (*Daily, error) {
	if err := keys.Validate(); err != nil {
		return nil, err
	}
	tol, err := toleranceRule(ProviderDaily, tolerance, defaultDailyTolerance, false)
	if err != nil {
		return nil, err
	}
	return &Daily{Keys: keys, Tolerance: tol, Now: now}, nil
}

func newDailyVerifier(keys Keyring, o Options) (Verifier, error) {
	return NewDaily(keys, o.Tolerance, o.Now)
}

// ParseDailySecret decodes a secret as Daily shows it: base64 (padded or
// not). Errors never repeat the secret.
func ParseDailySecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil || len(key) == 0 {
		return nil, errors.New("secret is not base64 (configure it as Daily shows it)")
	}
	return key, nil
}

// SignatureHeaders implements SignatureHeaderer.
func (v *Daily) SignatureHeaders() []string { return []string{HeaderDailySignature} }

// ForwardTimeout implements ForwardTimeouter. Daily states no timeout
// (inferred: 10 s like most senders).
func (v *Daily) ForwardTimeout() time.Duration { return 10 * time.Second }

// ReplayWindow implements ReplayWindower.
func (v *Daily) ReplayWindow() time.Duration { return 2 * v.tolerance() }

func (v *Daily) tolerance() time.Duration { return positiveOr(v.Tolerance, defaultDailyTolerance) }

// Verify implements Verifier.
func (v *Daily) Verify(r *Request) ([]Event, error) {
	sig, tsRaw, at, err := timestampedSignature(r.Header, HeaderDailySignature, HeaderDailyTimestamp)
	if err != nil {
		return nil, fmt.Errorf("daily: %w", err)
	}
	mac, ok := decodeMAC(sig, sha256.Size)
	if !ok {
		return nil, fmt.Errorf("daily: %w: %s is not a base64 HMAC-SHA256", ErrMalformedSignature, HeaderDailySignature)
	}
	label, _, ok := matchLabel(v.Keys, [][]byte{mac}, func(k []byte) []byte {
		return hmacSum(sha256.New, k, []byte(tsRaw), []byte{'.'}, r.Body)
	})
	if !ok {
		return nil, fmt.Errorf("daily: %w", ErrSignatureMismatch)
	}
	if !within(at, nowFunc(v.Now), v.tolerance()) {
		return nil, fmt.Errorf("daily: %w: %s %s", ErrStale, HeaderDailyTimestamp, tsRaw)
	}

	// Daily's test POST at webhook creation must get 200 whatever it
	// holds; a JSON body must still be unambiguous.
	var id, typ string
	fields, err := optionalMembers(r.Body, "id", "type")
	if err != nil {
		return nil, fmt.Errorf("daily: %w: %w", ErrMalformedBody, err)
	}
	if fields != nil {
		if id, err = fieldString(fields, "id"); err != nil {
			return nil, fmt.Errorf("daily: %w: %w", ErrMalformedBody, err)
		}
		if typ, err = fieldString(fields, "type"); err != nil {
			return nil, fmt.Errorf("daily: %w: %w", ErrMalformedBody, err)
		}
	}
	ev := Event{Provider: ProviderDaily, ID: id, Key: idKey(label, id), Type: typ, Time: at, KeyID: label, Body: r.Body}
	if id == "" {
		ev.Key = BodyKey(label, r.Body)
	}
	return []Event{ev}, nil
}

// SignDaily returns the X-Webhook-Signature Daily sends: standard base64
// of HMAC-SHA256(key, ts + "." + body), key being the decoded secret.
func SignDaily(key []byte, ts time.Time, body []byte) string {
	mac := hmacSum(sha256.New, key, []byte(strconv.FormatInt(ts.Unix(), 10)), []byte{'.'}, body)
	return base64.StdEncoding.EncodeToString(mac)
}

// sendDaily signs m as Daily does.
func sendDaily(m Message) (Outgoing, error) {
	key, err := ParseDailySecret(m.Secret)
	if err != nil {
		return Outgoing{}, err
	}
	body := m.Body
	if body == nil {
		body = jsonBody(map[string]any{"version": "1.0.0", "type": or(m.Type, "meeting.started"), "id": m.ID,
			"event_ts": m.At.Unix(), "payload": map[string]any{"room": "demo-room", "start_ts": m.At.Unix()}})
	}
	h := http.Header{"Content-Type": {"application/json"}}
	h.Set(HeaderDailyTimestamp, strconv.FormatInt(m.At.Unix(), 10))
	h.Set(HeaderDailySignature, SignDaily(key, m.At, body))
	return Outgoing{Header: h, Body: body}, nil
}

var _ Verifier = (*Daily)(nil)
