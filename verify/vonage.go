package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// defaultVonageTolerance bounds the token's iat.
const defaultVonageTolerance = 5 * time.Minute

// MaxVonageTokenSize bounds the Authorization header, in bytes.
const MaxVonageTokenSize = 8 << 10

// Vonage verifies Vonage signed webhooks (Voice, Messages).
//
// Authorization holds "Bearer <JWT>", HS256 with the account's signature
// secret, which the api_key claim selects; payload_hash is the hex SHA-256
// of the raw body (compared in constant time), iat the signing time. The
// token is read as strictly as LiveKit's: three canonical base64url
// segments, JSON without duplicate names, alg exactly HS256, no crit,
// string claims strings and time claims integers between 2000 and 2200.
// An exp, when present, must not have passed. Other Vonage APIs (SMS's
// sig parameter) are not verified here.
type Vonage struct {
	// Keys maps an API key to its signature secrets.
	Keys Keyring
	// Tolerance is how far iat may be from now, either way. If zero, five
	// minutes is used.
	Tolerance time.Duration
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
}

// NewVonage returns a Vonage verifier after checking keys and tolerance.
func NewVonage(keys Keyring, tolerance time.Duration, now func() time.Time) (*Vonage, error) {
	if err := keys.Validate(); err != nil {
		return nil, err
	}
	tol, err := toleranceRule(ProviderVonage, tolerance, defaultVonageTolerance, false)
	if err != nil {
		return nil, err
	}
	return &Vonage{Keys: keys, Tolerance: tol, Now: now}, nil
}

func newVonageVerifier(keys Keyring, o Options) (Verifier, error) {
	return NewVonage(keys, o.Tolerance, o.Now)
}

// SignatureHeaders implements SignatureHeaderer.
func (v *Vonage) SignatureHeaders() []string { return []string{"Authorization"} }

// ForwardTimeout implements ForwardTimeouter. Vonage states no timeout
// for event webhooks (inferred: 10 s like most senders).
func (v *Vonage) ForwardTimeout() time.Duration { return 10 * time.Second }

// ReplayWindow implements ReplayWindower.
func (v *Vonage) ReplayWindow() time.Duration { return 2 * v.tolerance() }

func (v *Vonage) tolerance() time.Duration { return positiveOr(v.Tolerance, defaultVonageTolerance) }

// vonageClaims are the claims of a Vonage webhook token that are read.
type vonageClaims struct {
	apiKey, payloadHash, jti string
	iat, exp                 *jwt.NumericDate
}

// Verify implements Verifier.
func (v *Vonage) Verify(r *Request) ([]Event, error) {
	token, err := bearerToken(r.Header, MaxVonageTokenSize)
	if err != nil {
		return nil, fmt.Errorf("vonage: %w", err)
	}
	signed, sig, c, err := parseVonageToken(token)
	if err != nil {
		return nil, fmt.Errorf("vonage: %w", err)
	}
	keyID := c.apiKey
	if keyID == "" {
		keyID, _ = v.Keys.onlyKey()
	}
	secrets, ok := v.Keys[keyID]
	if !ok {
		return nil, fmt.Errorf("vonage: %w: api_key %s", ErrUnknownKey, quoteID(c.apiKey))
	}
	match := false
	for _, s := range secrets {
		if hmac.Equal(hmacSum(sha256.New, s, []byte(signed)), sig) {
			match = true
		}
	}
	if !match {
		return nil, fmt.Errorf("vonage: %w", ErrSignatureMismatch)
	}
	now := nowFunc(v.Now)
	if c.iat == nil {
		return nil, fmt.Errorf("vonage: %w: claims: no iat", ErrMalformedSignature)
	}
	if !within(c.iat.Time, now, v.tolerance()) {
		return nil, fmt.Errorf("vonage: %w: iat %d", ErrStale, c.iat.Unix())
	}
	if c.exp != nil && now.After(c.exp.Time) {
		return nil, fmt.Errorf("vonage: %w: the token expired", ErrStale)
	}
	sum := sha256.Sum256(r.Body)
	if c.payloadHash == "" || !hmac.Equal([]byte(strings.ToLower(c.payloadHash)), []byte(hex.EncodeToString(sum[:]))) {
		return nil, fmt.Errorf("vonage: %w", ErrBodyMismatch)
	}

	fields, err := objectMembers(r.Body, "message_uuid", "uuid", "status", "message_type")
	if err != nil {
		return nil, fmt.Errorf("vonage: %w: %w", ErrMalformedBody, err)
	}
	var id, typ string
	for _, name := range [...]string{"message_uuid", "uuid"} {
		if id, err = fieldString(fields, name); err != nil {
			return nil, fmt.Errorf("vonage: %w: %w", ErrMalformedBody, err)
		} else if id != "" {
			break
		}
	}
	for _, name := range [...]string{"status", "message_type"} {
		if typ, err = fieldString(fields, name); err != nil {
			return nil, fmt.Errorf("vonage: %w: %w", ErrMalformedBody, err)
		} else if typ != "" {
			break
		}
	}
	// A uuid names the call or message, not this status: the key holds
	// the status too, or every event of a call after the first would be a
	// duplicate. Whether jti stays the same across retries is unconfirmed,
	// so it is not used.
	ev := Event{Provider: ProviderVonage, ID: id, Key: BodyKey(keyID, []byte(id+"\x00"+typ)), Type: typ, Time: c.iat.Time, KeyID: keyID, Body: r.Body}
	if id == "" {
		ev.Key = BodyKey(keyID, r.Body)
	}
	return []Event{ev}, nil
}

// parseVonageToken cuts a compact JWS and reads its header and claims with
// the rules of the Vonage type's doc. It returns header.payload, the
// signature and the claims; the signature is not checked.
func parseVonageToken(token string) (string, []byte, *vonageClaims, error) {
	head, rest, ok1 := strings.Cut(token, ".")
	payload, sig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(sig, ".") {
		return "", nil, nil, fmt.Errorf("%w: token is not three segments", ErrMalformedSignature)
	}
	hb, err := jwtSegment(head)
	if err != nil {
		return "", nil, nil, fmt.Errorf("%w: header: %w", ErrMalformedSignature, err)
	}
	hm, err := objectMembers(hb, "alg", "crit")
	if err != nil {
		return "", nil, nil, fmt.Errorf("%w: header: %w", ErrMalformedSignature, err)
	}
	alg, err := fieldString(hm, "alg")
	if err != nil || alg == "" {
		return "", nil, nil, fmt.Errorf("%w: header: no alg", ErrMalformedSignature)
	}
	if alg != "HS256" {
		return "", nil, nil, fmt.Errorf("%w: alg %s", ErrUnsupportedAlgorithm, quoteID(alg))
	}
	if _, ok := hm["crit"]; ok {
		return "", nil, nil, fmt.Errorf("%w: header: crit is not supported", ErrMalformedSignature)
	}
	pb, err := jwtSegment(payload)
	if err != nil {
		return "", nil, nil, fmt.Errorf("%w: claims: %w", ErrMalformedSignature, err)
	}
	pm, err := objectMembers(pb, "api_key", "payload_hash", "jti", "iss", "application_id", "iat", "exp", "nbf")
	if err != nil {
		return "", nil, nil, fmt.Errorf("%w: claims: %w", ErrMalformedSignature, err)
	}
	c := &vonageClaims{}
	for _, s := range [...]struct {
		name string
		dst  *string
	}{{"api_key", &c.apiKey}, {"payload_hash", &c.payloadHash}, {"jti", &c.jti}} {
		if *s.dst, err = fieldString(pm, s.name); err != nil {
			return "", nil, nil, fmt.Errorf("%w: claims: %w", ErrMalformedSignature, err)
		}
	}
	for _, s := range [...]string{"iss", "application_id"} {
		if _, err := fieldString(pm, s); err != nil {
			return "", nil, nil, fmt.Errorf("%w: claims: %w", ErrMalformedSignature, err)
		}
	}
	if c.iat, err = numericDate(pm, "iat"); err != nil {
		return "", nil, nil, fmt.Errorf("%w: claims: %w", ErrMalformedSignature, err)
	}
	if c.exp, err = numericDate(pm, "exp"); err != nil {
		return "", nil, nil, fmt.Errorf("%w: claims: %w", ErrMalformedSignature, err)
	}
	if _, err := numericDate(pm, "nbf"); err != nil {
		return "", nil, nil, fmt.Errorf("%w: claims: %w", ErrMalformedSignature, err)
	}
	s, err := jwtSegment(sig)
	if err != nil {
		return "", nil, nil, fmt.Errorf("%w: signature: %w", ErrMalformedSignature, err)
	}
	if len(s) != sha256.Size {
		return "", nil, nil, fmt.Errorf("%w: signature is not an HMAC-SHA256", ErrMalformedSignature)
	}
	return token[:len(head)+1+len(payload)], s, c, nil
}

// SignVonage returns the Authorization header value Vonage sends with
// body: "Bearer " + an HS256 JWT with iat = now, jti, iss "Vonage",
// api_key and payload_hash = hex SHA-256(body).
func SignVonage(apiKey string, secret []byte, body []byte, now time.Time, jti string) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("vonage: empty secret")
	}
	sum := sha256.Sum256(body)
	claims := jwt.MapClaims{
		"iat":            now.Unix(),
		"jti":            jti,
		"iss":            "Vonage",
		"api_key":        apiKey,
		"application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
		"payload_hash":   hex.EncodeToString(sum[:]),
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", err
	}
	return "Bearer " + tok, nil
}

// sendVonage signs m as Vonage does: a Messages status webhook by default.
func sendVonage(m Message) (Outgoing, error) {
	body := m.Body
	if body == nil {
		body = jsonBody(map[string]any{"message_uuid": m.ID, "to": "447700900000", "from": "447700900001",
			"timestamp": m.At.UTC().Format(time.RFC3339), "status": or(m.Type, "delivered"), "channel": "sms"})
	}
	auth, err := SignVonage(m.KeyID, []byte(m.Secret), body, m.At, "jti-"+m.ID)
	if err != nil {
		return Outgoing{}, err
	}
	return Outgoing{Header: http.Header{"Content-Type": {"application/json"}, "Authorization": {auth}}, Body: body}, nil
}

var _ Verifier = (*Vonage)(nil)
