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
	"sync/atomic"
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
//
// The first Verify builds golang-jwt's claims validator and the secrets as
// its HMAC method takes them, and reuses them; they follow later changes
// to the fields (Keys, Leeway and Now are read on every call).
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

	prep atomic.Pointer[liveKitPrep] // built by the first Verify
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
	return positiveOr(v.MaxLifetime, DefaultLiveKitMaxLifetime)
}

func (v *LiveKit) leeway() time.Duration { return positiveOr(v.Leeway, defaultLiveKitLeeway) }

// liveKitClaims are the claims of a LiveKit webhook token, as SignLiveKit
// writes them.
type liveKitClaims struct {
	jwt.RegisteredClaims
	SHA256 string `json:"sha256,omitempty"`
}

// liveKitTimes are a token's exp, nbf and iat for golang-jwt's validator,
// which reads them through RegisteredClaims' pointers (set to the fields
// below, so that one allocation holds them all). Verify checks iss, sha256,
// sub, jti and aud itself, and the validator is built without WithIssuer,
// WithSubject or WithAudience, so RegisteredClaims' strings stay empty.
type liveKitTimes struct {
	jwt.RegisteredClaims
	exp, nbf, iat jwt.NumericDate
}

// liveKitPrep is what a LiveKit verifier builds on its first Verify and
// reuses: golang-jwt's claims validator, whose time function reads the
// verifier's Now on each call, and every API secret as the value
// SigningMethodHS256.Verify takes (a []byte in an interface, which would
// otherwise be allocated per request).
type liveKitPrep struct {
	owner     *LiveKit      // the verifier it was built for (a copy rebuilds it)
	leeway    time.Duration // the leeway the validator was built with
	validator *jwt.Validator
	keys      map[string][]liveKitKey
}

// liveKitKey is one API secret and the same slice as an interface value.
type liveKitKey struct {
	secret []byte
	key    any
}

// prepared returns v's liveKitPrep, building it again when Leeway changed
// since (or v is a copy of the verifier it was built for).
func (v *LiveKit) prepared() *liveKitPrep {
	leeway := v.leeway()
	if p := v.prep.Load(); p != nil && p.owner == v && p.leeway == leeway {
		return p
	}
	p := &liveKitPrep{
		owner:  v,
		leeway: leeway,
		// Configured as LiveKit's reference receiver: exp required, iat
		// checked, leeway on the time claims.
		validator: jwt.NewValidator(
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(leeway),
			jwt.WithTimeFunc(func() time.Time { return nowFunc(v.Now) }),
		),
		keys: make(map[string][]liveKitKey, len(v.Keys)),
	}
	for id, secrets := range v.Keys {
		ks := make([]liveKitKey, len(secrets))
		for i, s := range secrets {
			ks[i] = liveKitKey{secret: s, key: s}
		}
		p.keys[id] = ks
	}
	v.prep.Store(p)
	return p
}

// key returns secret, the i-th secret of API key iss in v.Keys, as an
// interface value: the one built by prepared when it is the very same
// slice (same bytes in memory, so a secret changed in place is still
// what is used), otherwise a new one, so that a Keys changed after the
// first Verify is always honoured.
func (p *liveKitPrep) key(iss []byte, i int, secret []byte) any {
	if ks := p.keys[string(iss)]; i < len(ks) && sameSlice(ks[i].secret, secret) {
		return ks[i].key
	}
	return secret
}

// sameSlice reports whether a and b are the same slice of the same array.
func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// liveKitToken is a token cut and read by parseLiveKitToken; its signature
// is not checked yet. Its byte slices point into the buffer given to
// parseLiveKitToken.
type liveKitToken struct {
	signed    string            // header.payload, what the signature covers
	signature [sha256.Size]byte // the decoded signature
	iss       []byte            // the iss claim, decoded; empty when absent or null
	sha256    []byte            // the sha256 claim, decoded; empty when absent or null
	// exp, nbf and iat in Unix seconds, inside signedTime's range; nbf and
	// iat are 0 when absent or null. (Times hold a pointer, which would
	// make the buffer escape with them.)
	exp, nbf, iat int64
}

// Members read by parseLiveKitToken and Verify, in the order of their
// jsonSpan arrays.
var (
	liveKitHeaderNames = [...]string{"alg", "crit"}
	liveKitClaimNames  = [...]string{"iss", "sha256", "sub", "jti", "aud", "exp", "nbf", "iat"}
	liveKitBodyNames   = [...]string{"id", "event", "createdAt"}
)

// liveKitB64 decodes the segments of a compact JWS: unpadded base64url with
// zero trailing bits.
var liveKitB64 = base64.RawURLEncoding.Strict()

// liveKitTokenBuf is the size of the stack buffer Verify reads a token in:
// the token's bytes, then its decoded header and claims. A longer token
// (LiveKit's are about 250 bytes) is read in an allocated buffer.
const liveKitTokenBuf = 1536

// Verify implements Verifier.
func (v *LiveKit) Verify(r *Request) ([]Event, error) {
	token, err := bearerToken(r.Header, MaxLiveKitTokenSize)
	if err != nil {
		return nil, fmt.Errorf("livekit: %w", err)
	}

	var buf [liveKitTokenBuf]byte
	tok, err := parseLiveKitToken(token, buf[:])
	if err != nil {
		return nil, fmt.Errorf("livekit: %w", err)
	}
	secrets, ok := v.Keys[string(tok.iss)]
	if !ok || len(secrets) == 0 {
		return nil, fmt.Errorf("livekit: %w %s", ErrUnknownKey, quoteID(string(tok.iss)))
	}
	p := v.prepared()
	match := false
	for i, s := range secrets {
		if jwt.SigningMethodHS256.Verify(tok.signed, tok.signature[:], p.key(tok.iss, i, s)) == nil {
			match = true
		}
	}
	if !match {
		return nil, fmt.Errorf("livekit: %w", ErrSignatureMismatch)
	}

	claims := &liveKitTimes{exp: unixDate(tok.exp)}
	claims.ExpiresAt = &claims.exp
	if tok.nbf != 0 {
		claims.nbf = unixDate(tok.nbf)
		claims.NotBefore = &claims.nbf
	}
	if tok.iat != 0 {
		claims.iat = unixDate(tok.iat)
		claims.IssuedAt = &claims.iat
	}
	if err := p.validator.Validate(claims); err != nil {
		sentinel := ErrMalformedSignature
		if errors.Is(err, jwt.ErrTokenExpired) || errors.Is(err, jwt.ErrTokenNotValidYet) ||
			errors.Is(err, jwt.ErrTokenUsedBeforeIssued) {
			sentinel = ErrStale
		}
		return nil, fmt.Errorf("livekit: %w: %w", sentinel, err)
	}
	// The validator read the clock itself; this second reading bounds exp.
	if maxLife := v.maxLifetime(); claims.exp.After(nowFunc(v.Now).Add(maxLife)) {
		return nil, fmt.Errorf("livekit: %w: exp is more than %v ahead", ErrStale, maxLife)
	}

	sum := sha256.Sum256(r.Body)
	var want [44]byte // base64.StdEncoding.EncodedLen(sha256.Size)
	base64.StdEncoding.Encode(want[:], sum[:])
	if len(tok.sha256) == 0 || !hmac.Equal(tok.sha256, want[:]) {
		return nil, fmt.Errorf("livekit: %w", ErrBodyMismatch)
	}

	var fields [len(liveKitBodyNames)]jsonSpan
	if err := scanObject(r.Body, liveKitBodyNames[:], fields[:]); err != nil {
		return nil, fmt.Errorf("livekit: %w: %w", ErrMalformedBody, err)
	}
	id, err := spanString(r.Body, fields[0], "id")
	if err != nil {
		return nil, fmt.Errorf("livekit: %w: %w", ErrMalformedBody, err)
	}
	typ, err := spanString(r.Body, fields[1], "event")
	if err != nil {
		return nil, fmt.Errorf("livekit: %w: %w", ErrMalformedBody, err)
	}
	created, err := spanTime(r.Body, fields[2], "createdAt")
	if err != nil {
		return nil, fmt.Errorf("livekit: %w: %w", ErrMalformedBody, err)
	}
	ev := liveKitEvent(tok.iss, id, typ, r.Body)
	ev.Time = created
	return []Event{ev}, nil
}

// liveKitEvent returns the event of API key iss with the given id and
// type, its strings cut from one allocation: the key idKey(iss, id) holds
// the key id and the id, and the type follows it.
func liveKitEvent(iss, id, typ, body []byte) Event {
	if len(id) == 0 {
		s := string(iss) + string(typ)
		keyID := s[:len(iss)]
		return Event{Provider: ProviderLiveKit, Key: BodyKey(keyID, body), Type: s[len(iss):], KeyID: keyID, Body: body}
	}
	var n [20]byte
	prefix := strconv.AppendInt(n[:0], int64(len(iss)), 10)
	var b strings.Builder
	b.Grow(len(prefix) + 1 + len(iss) + 1 + len(id) + len(typ))
	b.Write(prefix)
	b.WriteByte(':')
	b.Write(iss)
	b.WriteByte(':')
	b.Write(id)
	b.Write(typ)
	s := b.String()
	key := s[:len(s)-len(typ)]
	return Event{
		Provider: ProviderLiveKit,
		ID:       key[len(key)-len(id):],
		Key:      key,
		Type:     s[len(key):],
		KeyID:    key[len(prefix)+1 : len(prefix)+1+len(iss)],
		Body:     body,
	}
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
