package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks header names, and the svix- names Svix sends instead.
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"

	HeaderSvixID        = "svix-id"
	HeaderSvixTimestamp = "svix-timestamp"
	HeaderSvixSignature = "svix-signature"
)

// StandardSecretPrefix starts a Standard Webhooks secret; base64 of the key
// bytes follows.
const StandardSecretPrefix = "whsec_"

// defaultStandardTolerance is the window the official libraries use.
const defaultStandardTolerance = 5 * time.Minute

// Standard verifies Standard Webhooks (the open spec used by Svix, OpenAI,
// Resend and others).
//
// webhook-signature holds space-separated "v1,<base64>" entries, each an
// HMAC-SHA256 over webhook-id + "." + webhook-timestamp + "." + body; one
// entry matching one secret is enough. Other versions (v1a, ...) are ignored.
type Standard struct {
	// Keys maps a label to decoded secrets (see ParseStandardSecret). Every
	// secret of every label is tried; the event's KeyID is the label of the
	// one that matched.
	Keys Keyring
	// Tolerance is how far webhook-timestamp may be from now, either way.
	// If zero, five minutes is used. Negative values are refused by
	// NewStandard.
	Tolerance time.Duration
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
}

// NewStandard returns a Standard Webhooks verifier over decoded secrets.
func NewStandard(keys Keyring, tolerance time.Duration, now func() time.Time) (*Standard, error) {
	if err := keys.Validate(); err != nil {
		return nil, err
	}
	tol, err := toleranceRule(ProviderStandardWebhooks, tolerance, defaultStandardTolerance, false)
	if err != nil {
		return nil, err
	}
	return &Standard{Keys: keys, Tolerance: tol, Now: now}, nil
}

func newStandardVerifier(keys Keyring, o Options) (Verifier, error) {
	return NewStandard(keys, o.Tolerance, o.Now)
}

// SignatureHeaders implements SignatureHeaderer.
func (v *Standard) SignatureHeaders() []string {
	return []string{HeaderWebhookSignature, "Svix-Signature"}
}

// ForwardTimeout implements ForwardTimeouter.
func (v *Standard) ForwardTimeout() time.Duration { return 10 * time.Second }

// ReplayWindow implements ReplayWindower: webhook-timestamp may lie up to
// the tolerance on either side of now.
func (v *Standard) ReplayWindow() time.Duration { return 2 * v.tolerance() }

func (v *Standard) tolerance() time.Duration {
	return positiveOr(v.Tolerance, defaultStandardTolerance)
}

// ParseStandardSecret decodes a secret as configured: "whsec_" followed by
// base64, or the base64 alone. Errors never repeat the secret.
func ParseStandardSecret(s string) ([]byte, error) {
	b64 := strings.TrimPrefix(strings.TrimSpace(s), StandardSecretPrefix)
	if b64 == "" {
		return nil, errors.New("empty secret")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(b64)
	}
	if err != nil || len(key) == 0 {
		return nil, errors.New("secret is not whsec_ followed by base64")
	}
	return key, nil
}

// Verify implements Verifier. The webhook- headers are used when any of
// them is present, the svix- headers otherwise.
func (v *Standard) Verify(r *Request) ([]Event, error) {
	names := [3]string{HeaderWebhookID, HeaderWebhookTimestamp, HeaderWebhookSignature}
	if len(headerValues(r.Header, HeaderWebhookID)) == 0 && len(headerValues(r.Header, HeaderWebhookTimestamp)) == 0 &&
		len(headerValues(r.Header, HeaderWebhookSignature)) == 0 {
		names = [3]string{HeaderSvixID, HeaderSvixTimestamp, HeaderSvixSignature}
	}
	id, err := singleHeader(r.Header, names[0])
	if err != nil {
		return nil, fmt.Errorf("standard-webhooks: %w", err)
	}
	tsRaw, err := singleHeader(r.Header, names[1])
	if err != nil {
		return nil, fmt.Errorf("standard-webhooks: %w", err)
	}
	// Several signature lines are one list, as during key rotation.
	sigHeader := strings.Join(headerValues(r.Header, names[2]), " ")
	if id == "" || tsRaw == "" || strings.TrimSpace(sigHeader) == "" {
		return nil, fmt.Errorf("standard-webhooks: %w: need %s, %s and %s headers", ErrMissingSignature, names[0], names[1], names[2])
	}
	ts, ok := parseDigits(tsRaw)
	if !ok {
		return nil, fmt.Errorf("standard-webhooks: %w: %s is not a Unix time", ErrMalformedSignature, names[1])
	}
	at, err := signedTime(ts, time.Second)
	if err != nil {
		return nil, fmt.Errorf("standard-webhooks: %w: %s: %w", ErrMalformedSignature, names[1], err)
	}
	sigs, ok := parseStandardSignatures(sigHeader)
	if !ok {
		return nil, fmt.Errorf("standard-webhooks: %w: more than %d signatures", ErrMalformedSignature, MaxStandardSignatures)
	}
	if len(sigs) == 0 {
		return nil, fmt.Errorf("standard-webhooks: %w: no v1 signature", ErrMalformedSignature)
	}
	keyID, ok := v.match(id, tsRaw, r.Body, sigs)
	if !ok {
		return nil, fmt.Errorf("standard-webhooks: %w", ErrSignatureMismatch)
	}
	tol := v.Tolerance
	if tol <= 0 {
		tol = defaultStandardTolerance
	}
	if !within(at, nowFunc(v.Now), tol) {
		return nil, fmt.Errorf("standard-webhooks: %w: timestamp %d", ErrStale, ts)
	}

	// The body may be anything, but a JSON body must be as unambiguous as
	// every other provider's: UTF-8, no duplicate member names at any
	// depth, at most MaxJSONDepth levels.
	fields, err := optionalMembers(r.Body, "type")
	if err != nil {
		return nil, fmt.Errorf("standard-webhooks: %w: %w", ErrMalformedBody, err)
	}
	typ, _ := fieldString(fields, "type")
	return []Event{{
		Provider: ProviderStandardWebhooks,
		ID:       id,
		Key:      idKey(keyID, id),
		Type:     typ,
		Time:     at,
		KeyID:    keyID,
		Body:     r.Body,
	}}, nil
}

// match returns the label of the first key (in label order) with a secret
// that produced one of sigs.
func (v *Standard) match(id, ts string, body []byte, sigs [][]byte) (string, bool) {
	label, _, ok := matchLabel(v.Keys, sigs, func(secret []byte) []byte { return standardMAC(secret, id, ts, body) })
	return label, ok
}

// MaxStandardSignatures bounds the entries of webhook-signature (all
// versions counted): a sender lists one per active secret. A longer list
// is refused as ErrMalformedSignature rather than decoded and compared.
const MaxStandardSignatures = 16

// parseStandardSignatures returns the decoded v1 entries of a
// webhook-signature header; other versions and entries that are not
// canonical base64 of 32 bytes are skipped. ok is false when the header
// holds more than MaxStandardSignatures entries.
func parseStandardSignatures(h string) (sigs [][]byte, ok bool) {
	n := 0
	for entry := range strings.FieldsSeq(h) {
		if n++; n > MaxStandardSignatures {
			return nil, false
		}
		version, b64, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue
		}
		sig, ok := decodeMAC(b64, sha256.Size)
		if !ok {
			continue
		}
		sigs = append(sigs, sig)
	}
	return sigs, true
}

// standardMAC is HMAC-SHA256(key, id + "." + ts + "." + body).
func standardMAC(key []byte, id, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// SignStandard returns the "v1,<base64>" webhook-signature entry for a
// message with this id, timestamp and body.
func SignStandard(key []byte, id string, ts time.Time, body []byte) string {
	mac := standardMAC(key, id, strconv.FormatInt(ts.Unix(), 10), body)
	return "v1," + base64.StdEncoding.EncodeToString(mac)
}

// sendStandard signs m as a Standard Webhooks sender does, with m.ID as
// webhook-id.
func sendStandard(m Message) (Outgoing, error) {
	key, err := ParseStandardSecret(m.Secret)
	if err != nil {
		return Outgoing{}, err
	}
	body := m.Body
	if body == nil {
		body = jsonBody(map[string]any{"type": or(m.Type, "invoice.paid"), "timestamp": m.At.UTC().Format(time.RFC3339),
			"data": map[string]any{"id": m.ID}})
	}
	h := http.Header{"Content-Type": {"application/json"}}
	h.Set(HeaderWebhookID, m.ID)
	h.Set(HeaderWebhookTimestamp, strconv.FormatInt(m.At.Unix(), 10))
	h.Set(HeaderWebhookSignature, SignStandard(key, m.ID, m.At, body))
	return Outgoing{Header: h, Body: body}, nil
}

var _ Verifier = (*Standard)(nil)
