package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// LiveKitTokenTTL is how long a token made by SignLiveKit is valid, as
// livekit-server sets it for webhooks.
const LiveKitTokenTTL = 5 * time.Minute

// defaultLiveKitLeeway is the clock skew LiveKit's reference receiver allows.
const defaultLiveKitLeeway = time.Minute

// DefaultLiveKitMaxLifetime is how far ahead of now a token's exp may lie
// when LiveKit.MaxLifetime is zero: twice what livekit-server gives a
// webhook token.
const DefaultLiveKitMaxLifetime = 10 * time.Minute

// MaxLiveKitTokenSize bounds the Authorization header, in bytes. A webhook
// token is a few hundred bytes; a longer header is refused as
// ErrMalformedSignature before it is decoded.
const MaxLiveKitTokenSize = 8 << 10

// LiveKit verifies webhooks from livekit-server and LiveKit Cloud.
//
// The Authorization header holds an HS256 JWT signed with the API secret
// selected by its "iss" claim (the API key); its "sha256" claim is the
// standard base64 of SHA-256 over the exact body bytes.
//
// The token is read as strictly as LiveKit's own receiver (go-jose) or more:
// exactly three unpadded base64url segments in canonical form; header and
// claims JSON objects in UTF-8 without duplicate member names; alg exactly
// "HS256" (anything else is ErrUnsupportedAlgorithm) and no "crit" header;
// iss, sha256, sub and jti strings, aud a string or strings; exp required,
// and exp, nbf and iat JSON integers between 2000 and 2200. Header members
// other than alg and crit (typ, kid, jku, ...) are ignored: the secret is
// chosen by iss alone. Malformed tokens are ErrMalformedSignature.
type LiveKit struct {
	// Keys maps an API key to its API secrets (several during rotation).
	Keys Keyring
	// Leeway is the clock skew allowed on exp, nbf and iat (the route's
	// tolerance). If zero (or negative), one minute is used, as LiveKit's
	// own receiver does. The token's exp always applies: LiveKit's check
	// cannot be turned off.
	Leeway time.Duration
	// MaxLifetime is how far ahead of now a token's exp may lie (Leeway is
	// not added), so that a leaked token made to live for years is refused
	// (ErrStale). If zero, DefaultLiveKitMaxLifetime (ten minutes) is used;
	// New refuses a negative value, and Verify treats one as zero.
	MaxLifetime time.Duration
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
}

// NewLiveKit returns a LiveKit verifier after checking that keys holds at
// least one API key and no empty secret, and that leeway is not negative
// (zero: one minute).
func NewLiveKit(keys Keyring, leeway time.Duration, now func() time.Time) (*LiveKit, error) {
	if err := keys.Validate(); err != nil {
		return nil, err
	}
	l, err := toleranceRule(ProviderLiveKit, leeway, defaultLiveKitLeeway, false)
	if err != nil {
		return nil, err
	}
	return &LiveKit{Keys: keys, Leeway: l, Now: now}, nil
}

func newLiveKitVerifier(keys Keyring, o Options) (Verifier, error) {
	if o.MaxTokenLifetime < 0 {
		return nil, fmt.Errorf("%s: negative MaxTokenLifetime %v", ProviderLiveKit, o.MaxTokenLifetime)
	}
	v, err := NewLiveKit(keys, o.Tolerance, o.Now)
	if err != nil {
		return nil, err
	}
	v.MaxLifetime = o.MaxTokenLifetime
	return v, nil
}

// SignatureHeaders implements SignatureHeaderer.
func (v *LiveKit) SignatureHeaders() []string { return []string{"Authorization"} }

// ForwardTimeout implements ForwardTimeouter: newer senders give up after
// 10 s.
func (v *LiveKit) ForwardTimeout() time.Duration { return 9 * time.Second }

// ReplayWindow implements ReplayWindower: a token is good until its exp,
// at most MaxLifetime ahead, plus the leeway.
func (v *LiveKit) ReplayWindow() time.Duration { return v.maxLifetime() + v.leeway() }

func (v *LiveKit) maxLifetime() time.Duration {
	if v.MaxLifetime <= 0 {
		return DefaultLiveKitMaxLifetime
	}
	return v.MaxLifetime
}

func (v *LiveKit) leeway() time.Duration {
	if v.Leeway <= 0 {
		return defaultLiveKitLeeway
	}
	return v.Leeway
}

// liveKitClaims are the claims of a LiveKit webhook token.
type liveKitClaims struct {
	jwt.RegisteredClaims
	SHA256 string `json:"sha256,omitempty"`
}

// liveKitToken is a token cut and decoded by parseLiveKitToken; its
// signature is not checked yet.
type liveKitToken struct {
	signed    string // header.payload, what the signature covers
	signature []byte
	claims    liveKitClaims
}

// Verify implements Verifier.
func (v *LiveKit) Verify(r *Request) ([]Event, error) {
	raw, err := singleHeader(r.Header, "Authorization")
	if err != nil {
		return nil, fmt.Errorf("livekit: %w", err)
	}
	if len(raw) > MaxLiveKitTokenSize {
		return nil, fmt.Errorf("livekit: %w: Authorization header longer than %d bytes", ErrMalformedSignature, MaxLiveKitTokenSize)
	}
	token := raw
	if len(token) >= 7 && strings.EqualFold(token[:7], "Bearer ") {
		token = strings.TrimSpace(token[7:])
	} else if strings.EqualFold(token, "Bearer") {
		token = ""
	}
	if token == "" {
		return nil, fmt.Errorf("livekit: %w: no Authorization header", ErrMissingSignature)
	}

	tok, err := parseLiveKitToken(token)
	if err != nil {
		return nil, fmt.Errorf("livekit: %w", err)
	}
	claims := &tok.claims
	issuer := claims.Issuer
	secrets, ok := v.Keys[issuer]
	if !ok || len(secrets) == 0 {
		return nil, fmt.Errorf("livekit: %w %s", ErrUnknownKey, quoteID(issuer))
	}
	match := false
	for _, s := range secrets {
		if jwt.SigningMethodHS256.Verify(tok.signed, tok.signature, s) == nil {
			match = true
		}
	}
	if !match {
		return nil, fmt.Errorf("livekit: %w", ErrSignatureMismatch)
	}

	now := nowFunc(v.Now)
	if err := v.validator(now).Validate(claims); err != nil {
		sentinel := ErrMalformedSignature
		if errors.Is(err, jwt.ErrTokenExpired) || errors.Is(err, jwt.ErrTokenNotValidYet) ||
			errors.Is(err, jwt.ErrTokenUsedBeforeIssued) {
			sentinel = ErrStale
		}
		return nil, fmt.Errorf("livekit: %w: %w", sentinel, err)
	}
	maxLife := v.maxLifetime()
	if claims.ExpiresAt.After(now.Add(maxLife)) {
		return nil, fmt.Errorf("livekit: %w: exp is more than %v ahead", ErrStale, maxLife)
	}

	sum := sha256.Sum256(r.Body)
	want := base64.StdEncoding.EncodeToString(sum[:])
	if claims.SHA256 == "" || !hmac.Equal([]byte(claims.SHA256), []byte(want)) {
		return nil, fmt.Errorf("livekit: %w", ErrBodyMismatch)
	}

	fields, err := objectFields(r.Body)
	if err != nil {
		return nil, fmt.Errorf("livekit: %w: %w", ErrMalformedBody, err)
	}
	id, err := fieldString(fields, "id")
	if err != nil {
		return nil, fmt.Errorf("livekit: %w: %w", ErrMalformedBody, err)
	}
	typ, err := fieldString(fields, "event")
	if err != nil {
		return nil, fmt.Errorf("livekit: %w: %w", ErrMalformedBody, err)
	}
	created, _, err := fieldTime(fields, "createdAt", time.Second)
	if err != nil {
		return nil, fmt.Errorf("livekit: %w: %w", ErrMalformedBody, err)
	}
	key := idKey(issuer, id)
	if id == "" {
		key = BodyKey(issuer, r.Body)
	}
	return []Event{{
		Provider: ProviderLiveKit,
		ID:       id,
		Key:      key,
		Type:     typ,
		Time:     created,
		KeyID:    issuer,
		Body:     r.Body,
	}}, nil
}

// validator returns golang-jwt's claims validator configured as LiveKit's
// reference receiver: exp required, iat checked, leeway on the time claims.
func (v *LiveKit) validator(now time.Time) *jwt.Validator {
	return jwt.NewValidator(
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.leeway()),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
}

// parseLiveKitToken cuts a compact JWS into its parts and reads its header
// and claims in one pass each, with the rules of the LiveKit type's doc.
// Errors wrap ErrMalformedSignature or ErrUnsupportedAlgorithm and never
// include the token.
func parseLiveKitToken(token string) (*liveKitToken, error) {
	head, rest, ok1 := strings.Cut(token, ".")
	payload, sig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(sig, ".") {
		return nil, fmt.Errorf("%w: token is not three segments", ErrMalformedSignature)
	}
	hb, err := jwtSegment(head)
	if err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrMalformedSignature, err)
	}
	hm, err := objectFields(hb)
	if err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrMalformedSignature, err)
	}
	alg, err := fieldString(hm, "alg")
	if err != nil || alg == "" {
		return nil, fmt.Errorf("%w: header: no alg", ErrMalformedSignature)
	}
	if alg != jwt.SigningMethodHS256.Alg() {
		return nil, fmt.Errorf("%w: alg %s", ErrUnsupportedAlgorithm, quoteID(alg))
	}
	if _, ok := hm["crit"]; ok {
		return nil, fmt.Errorf("%w: header: crit is not supported", ErrMalformedSignature)
	}

	pb, err := jwtSegment(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: claims: %w", ErrMalformedSignature, err)
	}
	pm, err := objectFields(pb)
	if err != nil {
		return nil, fmt.Errorf("%w: claims: %w", ErrMalformedSignature, err)
	}
	t := &liveKitToken{signed: token[:len(head)+1+len(payload)]}
	c := &t.claims
	for _, s := range [...]struct {
		name string
		dst  *string
	}{{"iss", &c.Issuer}, {"sha256", &c.SHA256}, {"sub", &c.Subject}, {"jti", &c.ID}} {
		if *s.dst, err = fieldString(pm, s.name); err != nil {
			return nil, fmt.Errorf("%w: claims: %w", ErrMalformedSignature, err)
		}
	}
	if raw := pm["aud"]; !isNull(raw) {
		if err := json.Unmarshal(raw, &c.Audience); err != nil {
			return nil, fmt.Errorf("%w: claims: aud is not a string or strings", ErrMalformedSignature)
		}
	}
	for _, d := range [...]struct {
		name string
		dst  **jwt.NumericDate
	}{{"exp", &c.ExpiresAt}, {"nbf", &c.NotBefore}, {"iat", &c.IssuedAt}} {
		if *d.dst, err = numericDate(pm, d.name); err != nil {
			return nil, fmt.Errorf("%w: claims: %w", ErrMalformedSignature, err)
		}
	}
	if c.ExpiresAt == nil {
		return nil, fmt.Errorf("%w: claims: no exp", ErrMalformedSignature)
	}
	if t.signature, err = jwtSegment(sig); err != nil {
		return nil, fmt.Errorf("%w: signature: %w", ErrMalformedSignature, err)
	}
	if len(t.signature) != sha256.Size {
		return nil, fmt.Errorf("%w: signature is not an HMAC-SHA256", ErrMalformedSignature)
	}
	return t, nil
}

// jwtSegment decodes one segment of a compact JWS: unpadded base64url in
// its canonical form only. (encoding/base64 alone would skip CR and LF and
// take non-zero trailing bits, so that several strings made one token.)
func jwtSegment(seg string) ([]byte, error) {
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return nil, errors.New("not unpadded base64url")
		}
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return nil, errors.New("not canonical base64url")
	}
	return b, nil
}

// numericDate reads a time claim: absent or null gives nil; anything but a
// JSON integer (a string, "1700000000" included; a fraction; an exponent)
// or a time outside signedTime's range is an error.
func numericDate(m map[string]json.RawMessage, name string) (*jwt.NumericDate, error) {
	raw := m[name]
	if isNull(raw) {
		return nil, nil
	}
	if !intLiteral(string(raw)) {
		return nil, fmt.Errorf("%s is not a JSON integer", name)
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%s is not a JSON integer", name)
	}
	t, err := signedTime(n, time.Second)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return jwt.NewNumericDate(t), nil
}

// SignLiveKit returns the Authorization header value livekit-server sends
// with body: an HS256 JWT with iss = apiKey, iat = nbf = now, exp = now + 5
// minutes and sha256 = standard base64 of SHA-256(body).
func SignLiveKit(apiKey string, secret []byte, body []byte, now time.Time) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("livekit: empty secret")
	}
	sum := sha256.Sum256(body)
	claims := liveKitClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    apiKey,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(LiveKitTokenTTL)),
		},
		SHA256: base64.StdEncoding.EncodeToString(sum[:]),
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
}

// sendLiveKit signs m as livekit-server does: the body as
// application/webhook+json, the token bare in Authorization.
func sendLiveKit(m Message) (Outgoing, error) {
	body := m.Body
	if body == nil {
		ts := strconv.FormatInt(m.At.Unix(), 10)
		body = jsonBody(map[string]any{"event": or(m.Type, "room_started"),
			"room": map[string]any{"sid": "RM_demo", "name": "demo-room", "emptyTimeout": 5, "creationTime": ts},
			"id":   m.ID, "createdAt": ts})
	}
	tok, err := SignLiveKit(m.KeyID, []byte(m.Secret), body, m.At)
	if err != nil {
		return Outgoing{}, err
	}
	return Outgoing{Header: http.Header{"Content-Type": {"application/webhook+json"}, "Authorization": {tok}}, Body: body}, nil
}

var _ Verifier = (*LiveKit)(nil)
