package verify

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HMACConfig configures the generic hmac verifier: where a sender puts its
// signature and what the signature covers. Zero values are the defaults.
type HMACConfig struct {
	// Header carries the signature. Required.
	Header string
	// Algorithm is sha256 (default), sha512, or sha1 (only with
	// AllowSHA1).
	Algorithm string
	// Encoding of the signature: hex (default; lowercase), base64
	// (standard, padded) or base64url (padded or not).
	Encoding string
	// Prefix is stripped from the header before decoding ("sha256=");
	// when set, a header without it is malformed.
	Prefix string
	// Signed is what the signature covers: a template of {body},
	// {timestamp}, {id} and {url} (Request.URL) with literal text between
	// them. Default "{body}". It must hold {body} once, and {timestamp}
	// and {id} when TimestampHeader and IDHeader are set.
	Signed string
	// TimestampHeader, when set, carries the signing time, checked
	// against the tolerance (five minutes by default).
	TimestampHeader string
	// TimestampUnit is "s" (default) or "ms".
	TimestampUnit string
	// IDHeader carries the event id, the dedupe key; it must be signed
	// ({id} in Signed), or a replay could pass with another id.
	IDHeader string
	// IDField names a top-level member of a JSON body holding the event
	// id (a string or an integer), when IDHeader is not set. Neither: the
	// dedupe key is a hash of the body.
	IDField string
}

// SampleHMACConfig is what `hookguard send` and the demo sign with when a
// route's hmac settings are not given: X-Signature holding the hex
// HMAC-SHA256 of the body.
var SampleHMACConfig = HMACConfig{Header: "X-Signature"}

const defaultHMACTolerance = 5 * time.Minute

// hmacPart is one piece of a Signed template: literal text, or a field.
type hmacPart struct {
	literal string
	field   string // "body", "timestamp", "id", "url"; "" for a literal
}

// HMAC verifies any sender that signs with an HMAC in one header, as its
// HMACConfig describes (Shopify, Linear, Calendly, in-house senders).
// Every secret of every label is tried.
type HMAC struct {
	Keys   Keyring
	Config HMACConfig
	// Tolerance is how far the TimestampHeader's time may be from now,
	// either way; zero with a TimestampHeader means Off.
	Tolerance time.Duration
	// Off turns the timestamp check off (the timestamp is still signed).
	Off bool
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time

	hash  func() hash.Hash
	size  int
	parts []hmacPart
}

// NewHMAC returns a generic HMAC verifier after checking keys and c.
// allowSHA1 permits algorithm sha1; tolerance and off follow the one
// tolerance rule, and apply only with a TimestampHeader.
func NewHMAC(keys Keyring, c HMACConfig, allowSHA1 bool, tolerance time.Duration, off bool, now func() time.Time) (*HMAC, error) {
	if err := keys.Validate(); err != nil {
		return nil, err
	}
	v := &HMAC{Keys: keys, Config: c, Now: now}
	if err := v.compile(allowSHA1); err != nil {
		return nil, fmt.Errorf("%s: %w", ProviderHMAC, err)
	}
	if c.TimestampHeader == "" {
		if tolerance != 0 || off {
			return nil, fmt.Errorf("%s: tolerance applies only with a timestamp_header", ProviderHMAC)
		}
		return v, nil
	}
	tol, err := toleranceRule(ProviderHMAC, tolerance, defaultHMACTolerance, off)
	if err != nil {
		return nil, err
	}
	v.Tolerance, v.Off = tol, off
	return v, nil
}

func newHMACVerifier(keys Keyring, o Options) (Verifier, error) {
	if o.HMAC == nil {
		return nil, fmt.Errorf("%s: the hmac settings are required (at least a header)", ProviderHMAC)
	}
	return NewHMAC(keys, *o.HMAC, o.AllowSHA1, o.Tolerance, o.ToleranceOff, o.Now)
}

// compile checks the configuration and prepares the hash and template.
func (v *HMAC) compile(allowSHA1 bool) error {
	c := &v.Config
	if c.Header == "" || !headerName(c.Header) {
		return fmt.Errorf("header: %q is not a header name", c.Header)
	}
	switch c.Algorithm {
	case "", "sha256":
		v.hash, v.size = sha256.New, sha256.Size
	case "sha512":
		v.hash, v.size = sha512.New, sha512.Size
	case "sha1":
		if !allowSHA1 {
			return errors.New("algorithm: sha1 needs allow_sha1: true")
		}
		v.hash, v.size = sha1.New, sha1.Size
	default:
		return fmt.Errorf("algorithm: %q (want sha1, sha256 or sha512)", c.Algorithm)
	}
	switch c.Encoding {
	case "", "hex", "base64", "base64url":
	default:
		return fmt.Errorf("encoding: %q (want hex, base64 or base64url)", c.Encoding)
	}
	for _, h := range [...]struct{ name, v string }{{"timestamp_header", c.TimestampHeader}, {"id_header", c.IDHeader}} {
		if h.v != "" && !headerName(h.v) {
			return fmt.Errorf("%s: %q is not a header name", h.name, h.v)
		}
	}
	switch c.TimestampUnit {
	case "", "s", "ms":
		if c.TimestampUnit != "" && c.TimestampHeader == "" {
			return errors.New("timestamp_unit: needs a timestamp_header")
		}
	default:
		return fmt.Errorf("timestamp_unit: %q (want s or ms)", c.TimestampUnit)
	}
	if c.IDHeader != "" && c.IDField != "" {
		return errors.New("id_header and id_field: give one")
	}
	parts, err := parseSigned(or(c.Signed, "{body}"))
	if err != nil {
		return fmt.Errorf("signed: %w", err)
	}
	has := map[string]int{}
	for _, p := range parts {
		has[p.field]++
	}
	switch {
	case has["body"] != 1:
		return errors.New("signed: must hold {body} exactly once")
	case has["timestamp"] > 0 && c.TimestampHeader == "":
		return errors.New("signed: {timestamp} needs a timestamp_header")
	case has["timestamp"] == 0 && c.TimestampHeader != "":
		return errors.New("signed: the timestamp_header is not signed: add {timestamp}")
	case has["id"] > 0 && c.IDHeader == "":
		return errors.New("signed: {id} needs an id_header")
	case has["id"] == 0 && c.IDHeader != "":
		return errors.New("signed: the id_header is not signed (add {id}), so a replay could pass with a new id; use id_field or the body hash")
	}
	v.parts = parts
	return nil
}

// parseSigned splits a Signed template into literals and fields.
func parseSigned(t string) ([]hmacPart, error) {
	var parts []hmacPart
	for t != "" {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			parts = append(parts, hmacPart{literal: t})
			break
		}
		if i > 0 {
			parts = append(parts, hmacPart{literal: t[:i]})
		}
		j := strings.IndexByte(t[i:], '}')
		if j < 0 {
			return nil, errors.New("unclosed {")
		}
		name := t[i+1 : i+j]
		switch name {
		case "body", "timestamp", "id", "url":
		default:
			return nil, fmt.Errorf("unknown field {%s} (want {body}, {timestamp}, {id} or {url})", name)
		}
		parts = append(parts, hmacPart{field: name})
		t = t[i+j+1:]
	}
	return parts, nil
}

// SignatureHeaders implements SignatureHeaderer.
func (v *HMAC) SignatureHeaders() []string { return []string{v.Config.Header} }

// ForwardTimeout implements ForwardTimeouter: 10 s, what most senders wait.
func (v *HMAC) ForwardTimeout() time.Duration { return 10 * time.Second }

// ReplayWindow implements ReplayWindower: twice the tolerance with a
// checked timestamp, else unbounded.
func (v *HMAC) ReplayWindow() time.Duration {
	if v.Config.TimestampHeader == "" || v.Off {
		return 0
	}
	return 2 * v.tolerance()
}

func (v *HMAC) tolerance() time.Duration { return positiveOr(v.Tolerance, defaultHMACTolerance) }

// mac computes the MAC of the signed template.
func (v *HMAC) mac(key []byte, ts, id, url string, body []byte) []byte {
	m := hmac.New(v.hash, key)
	for _, p := range v.parts {
		switch p.field {
		case "":
			m.Write([]byte(p.literal))
		case "body":
			m.Write(body)
		case "timestamp":
			m.Write([]byte(ts))
		case "id":
			m.Write([]byte(id))
		case "url":
			m.Write([]byte(url))
		}
	}
	return m.Sum(nil)
}

func (v *HMAC) decode(s string) ([]byte, bool) {
	switch v.Config.Encoding {
	case "base64":
		return decodeMAC(s, v.size)
	case "base64url":
		if strings.ContainsAny(s, "\r\n") {
			return nil, false
		}
		enc := base64.RawURLEncoding
		if strings.HasSuffix(s, "=") {
			enc = base64.URLEncoding
		}
		b, err := enc.Strict().DecodeString(s)
		return b, err == nil && len(b) == v.size
	}
	return decodeHex(s, v.size)
}

func (v *HMAC) encode(mac []byte) string {
	switch v.Config.Encoding {
	case "base64":
		return base64.StdEncoding.EncodeToString(mac)
	case "base64url":
		return base64.RawURLEncoding.EncodeToString(mac)
	}
	return hex.EncodeToString(mac)
}

func (v *HMAC) usesURL() bool {
	for _, p := range v.parts {
		if p.field == "url" {
			return true
		}
	}
	return false
}

// Verify implements Verifier.
func (v *HMAC) Verify(r *Request) ([]Event, error) {
	c := &v.Config
	sig, err := singleHeader(r.Header, c.Header)
	if err != nil {
		return nil, fmt.Errorf("hmac: %w", err)
	}
	if sig == "" {
		return nil, fmt.Errorf("hmac: %w: no %s header", ErrMissingSignature, c.Header)
	}
	enc, ok := strings.CutPrefix(sig, c.Prefix)
	if !ok {
		return nil, fmt.Errorf("hmac: %w: %s does not start with the configured prefix", ErrMalformedSignature, c.Header)
	}
	mac, ok := v.decode(enc)
	if !ok {
		return nil, fmt.Errorf("hmac: %w: %s is not a %s %s HMAC", ErrMalformedSignature, c.Header, or(c.Encoding, "hex"), or(c.Algorithm, "sha256"))
	}
	var tsRaw string
	var at time.Time
	if c.TimestampHeader != "" {
		if tsRaw, err = singleHeader(r.Header, c.TimestampHeader); err != nil {
			return nil, fmt.Errorf("hmac: %w", err)
		}
		if tsRaw == "" {
			return nil, fmt.Errorf("hmac: %w: no %s header", ErrMissingSignature, c.TimestampHeader)
		}
		unit := time.Second
		if c.TimestampUnit == "ms" {
			unit = time.Millisecond
		}
		n, ok := parseDigits(tsRaw)
		if !ok {
			return nil, fmt.Errorf("hmac: %w: %s is not a Unix time", ErrMalformedSignature, c.TimestampHeader)
		}
		if at, err = signedTime(n, unit); err != nil {
			return nil, fmt.Errorf("hmac: %w: %s: %w", ErrMalformedSignature, c.TimestampHeader, err)
		}
	}
	var id string
	if c.IDHeader != "" {
		if id, err = singleHeader(r.Header, c.IDHeader); err != nil {
			return nil, fmt.Errorf("hmac: %w", err)
		}
		if id == "" {
			return nil, fmt.Errorf("hmac: %w: no %s header", ErrMissingSignature, c.IDHeader)
		}
	}
	if v.usesURL() && r.URL == "" {
		return nil, fmt.Errorf("hmac: %w: %w", ErrSignatureMismatch, errNoURL)
	}
	label, _, ok := matchLabel(v.Keys, [][]byte{mac}, func(k []byte) []byte { return v.mac(k, tsRaw, id, r.URL, r.Body) })
	if !ok {
		return nil, fmt.Errorf("hmac: %w", ErrSignatureMismatch)
	}
	if c.TimestampHeader != "" && !v.Off && !within(at, nowFunc(v.Now), v.tolerance()) {
		return nil, fmt.Errorf("hmac: %w: %s %s", ErrStale, c.TimestampHeader, tsRaw)
	}

	var fields map[string]json.RawMessage
	if json.Valid(r.Body) {
		if err := validJSON(r.Body); err != nil {
			return nil, fmt.Errorf("hmac: %w: %w", ErrMalformedBody, err)
		}
		fields, _ = cutMembers(r.Body)
	}
	if c.IDField != "" && fields != nil {
		if id, err = memberID(fields, c.IDField); err != nil {
			return nil, fmt.Errorf("hmac: %w: %w", ErrMalformedBody, err)
		}
	}
	ev := Event{Provider: ProviderHMAC, ID: id, Key: idKey(label, id), Time: at, KeyID: label, Body: r.Body}
	if fields != nil {
		ev.Type, _ = fieldString(fields, "type")
	}
	if id == "" {
		ev.Key = BodyKey(label, r.Body)
	}
	return []Event{ev}, nil
}

// memberID reads an id member: a string, or an integer as written.
func memberID(fields map[string]json.RawMessage, name string) (string, error) {
	raw := fields[name]
	if len(raw) > 0 && raw[0] != '"' && !isNull(raw) {
		if !intLiteral(string(raw)) {
			return "", fmt.Errorf("field %q is not a string or an integer", name)
		}
		return string(raw), nil
	}
	return fieldString(fields, name)
}

// Sign returns the header value the configured sender puts in
// Config.Header: Prefix and the encoded MAC of the Signed template.
func (v *HMAC) Sign(secret []byte, ts time.Time, id, url string, body []byte) string {
	var tsRaw string
	if v.Config.TimestampUnit == "ms" {
		tsRaw = strconv.FormatInt(ts.UnixMilli(), 10)
	} else {
		tsRaw = strconv.FormatInt(ts.Unix(), 10)
	}
	return v.Config.Prefix + v.encode(v.mac(secret, tsRaw, id, url, body))
}

// ParseHMACSecret converts an hmac secret as configured: "base64:"
// followed by standard base64 is decoded, anything else is used as its
// bytes. Errors never repeat the secret.
func ParseHMACSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, "base64:")
	if !ok {
		return []byte(s), nil
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil || len(key) == 0 {
		return nil, errors.New("secret after base64: is not base64")
	}
	return key, nil
}

// sendHMAC signs m as the sender m.HMAC (or SampleHMACConfig) describes.
func sendHMAC(m Message) (Outgoing, error) {
	c := SampleHMACConfig
	if m.HMAC != nil {
		c = *m.HMAC
	}
	v := &HMAC{Config: c}
	if err := v.compile(true); err != nil {
		return Outgoing{}, fmt.Errorf("%s: %w", ProviderHMAC, err)
	}
	secret, err := ParseHMACSecret(m.Secret)
	if err != nil {
		return Outgoing{}, err
	}
	body := m.Body
	if body == nil {
		body = jsonBody(map[string]any{"id": m.ID, "type": or(m.Type, "order.created"), "created_at": m.At.UTC().Format(time.RFC3339)})
	}
	h := http.Header{"Content-Type": {"application/json"}}
	if c.TimestampHeader != "" {
		if c.TimestampUnit == "ms" {
			h.Set(c.TimestampHeader, strconv.FormatInt(m.At.UnixMilli(), 10))
		} else {
			h.Set(c.TimestampHeader, strconv.FormatInt(m.At.Unix(), 10))
		}
	}
	if c.IDHeader != "" {
		h.Set(c.IDHeader, m.ID)
	}
	h.Set(c.Header, v.Sign(secret, m.At, m.ID, m.URL, body))
	return Outgoing{Header: h, Body: body}, nil
}

var _ Verifier = (*HMAC)(nil)

// headerName reports whether s is an HTTP field name (an RFC 9110 token).
func headerName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// SignsURL implements URLSigner: when {url} is among the signed fields.
func (v *HMAC) SignsURL() bool { return v.usesURL() }
