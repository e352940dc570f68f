package verify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

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

// parseLiveKitToken cuts a compact JWS into its parts and reads its header
// and claims in one pass each, with the rules of the LiveKit type's doc.
// buf holds the token's bytes and the decoded segments when it is large
// enough; the result's slices point into it. Errors wrap
// ErrMalformedSignature or ErrUnsupportedAlgorithm and never include the
// token.
func parseLiveKitToken(token string, buf []byte) (liveKitToken, error) {
	var t liveKitToken
	head, rest, ok1 := strings.Cut(token, ".")
	payload, sig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(sig, ".") {
		return t, fmt.Errorf("%w: token is not three segments", ErrMalformedSignature)
	}
	t.signed = token[:len(head)+1+len(payload)]
	hn, pn := liveKitB64.DecodedLen(len(head)), liveKitB64.DecodedLen(len(payload))
	if need := len(token) + hn + pn; need > len(buf) {
		buf = make([]byte, need)
	}
	src, out := buf[:copy(buf, token)], buf[len(token):]
	hb, err := decodeSegment(out[:hn], src[:len(head)])
	if err != nil {
		return t, fmt.Errorf("%w: header: %w", ErrMalformedSignature, err)
	}
	var hs [len(liveKitHeaderNames)]jsonSpan
	if err := scanObject(hb, liveKitHeaderNames[:], hs[:]); err != nil {
		return t, fmt.Errorf("%w: header: %w", ErrMalformedSignature, err)
	}
	alg, err := spanString(hb, hs[0], "alg")
	if err != nil || len(alg) == 0 {
		return t, fmt.Errorf("%w: header: no alg", ErrMalformedSignature)
	}
	if string(alg) != jwt.SigningMethodHS256.Alg() {
		return t, fmt.Errorf("%w: alg %s", ErrUnsupportedAlgorithm, quoteID(string(alg)))
	}
	if hs[1].present() {
		return t, fmt.Errorf("%w: header: crit is not supported", ErrMalformedSignature)
	}

	pb, err := decodeSegment(out[hn:hn+pn], src[len(head)+1:len(t.signed)])
	if err != nil {
		return t, fmt.Errorf("%w: claims: %w", ErrMalformedSignature, err)
	}
	var cs [len(liveKitClaimNames)]jsonSpan
	if err := scanObject(pb, liveKitClaimNames[:], cs[:]); err != nil {
		return t, fmt.Errorf("%w: claims: %w", ErrMalformedSignature, err)
	}
	if t.iss, err = spanString(pb, cs[0], "iss"); err == nil {
		if t.sha256, err = spanString(pb, cs[1], "sha256"); err == nil {
			if _, err = spanString(pb, cs[2], "sub"); err == nil {
				_, err = spanString(pb, cs[3], "jti")
			}
		}
	}
	if err != nil {
		return t, fmt.Errorf("%w: claims: %w", ErrMalformedSignature, err)
	}
	if !claimStrings(cs[4].in(pb)) {
		return t, fmt.Errorf("%w: claims: aud is not a string or strings", ErrMalformedSignature)
	}
	for k, dst := range [...]*int64{&t.exp, &t.nbf, &t.iat} {
		if *dst, err = spanDate(pb, cs[5+k], liveKitClaimNames[5+k]); err != nil {
			return t, fmt.Errorf("%w: claims: %w", ErrMalformedSignature, err)
		}
	}
	if t.exp == 0 {
		return t, fmt.Errorf("%w: claims: no exp", ErrMalformedSignature)
	}

	if len(sig) != liveKitB64.EncodedLen(sha256.Size) {
		if _, err := jwtSegment(sig); err != nil {
			return t, fmt.Errorf("%w: signature: %w", ErrMalformedSignature, err)
		}
		return t, fmt.Errorf("%w: signature is not an HMAC-SHA256", ErrMalformedSignature)
	}
	if _, err := decodeSegment(t.signature[:], src[len(t.signed)+1:]); err != nil {
		return t, fmt.Errorf("%w: signature: %w", ErrMalformedSignature, err)
	}
	return t, nil
}

// decodeSegment decodes seg, one segment of a compact JWS, into dst, which
// is liveKitB64.DecodedLen(len(seg)) long, with the rules of jwtSegment:
// liveKitB64 refuses every byte outside the base64url alphabet ('='
// included) but CR and LF, which it would skip.
func decodeSegment(dst, seg []byte) ([]byte, error) {
	if bytes.IndexByte(seg, '\r') >= 0 || bytes.IndexByte(seg, '\n') >= 0 {
		return nil, errors.New("not unpadded base64url")
	}
	n, err := liveKitB64.Decode(dst, seg)
	if err != nil {
		return nil, errors.New("not canonical base64url")
	}
	return dst[:n], nil
}

// spanString returns the JSON string at s in b, decoded, as fieldString
// does: empty when absent or null, an error when not a string. Without
// escapes it is a slice of b.
func spanString(b []byte, s jsonSpan, name string) ([]byte, error) {
	raw := s.in(b)
	if isNull(raw) {
		return nil, nil
	}
	if raw[0] != '"' {
		return nil, fmt.Errorf("field %q is not a string", name)
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw[1 : len(raw)-1], nil // scanObject checked UTF-8
	}
	str, err := jsonString(bytes.Clone(raw))
	if err != nil {
		return nil, fmt.Errorf("field %q is not a string", name)
	}
	return []byte(str), nil
}

// spanDate reads a time claim at s in b as numericDate does, in Unix
// seconds: 0 when absent or null; anything but a JSON integer, or a time
// outside signedTime's range, is an error.
func spanDate(b []byte, s jsonSpan, name string) (int64, error) {
	raw := s.in(b)
	if isNull(raw) {
		return 0, nil
	}
	n, ok := parseInt(raw)
	if !ok {
		return 0, fmt.Errorf("%s is not a JSON integer", name)
	}
	if _, err := signedTime(n, time.Second); err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return n, nil
}

// unixDate is what jwt.NewNumericDate returns for the Unix time n, but
// not allocated on its own.
func unixDate(n int64) jwt.NumericDate {
	return jwt.NumericDate{Time: time.Unix(n, 0).UTC()}
}

// spanTime reads an integer timestamp in seconds at s in b as fieldTime
// does: a JSON integer or a JSON string of one (as protojson writes
// int64); the zero time when absent or null.
func spanTime(b []byte, s jsonSpan, name string) (time.Time, error) {
	raw := s.in(b)
	if isNull(raw) {
		return time.Time{}, nil
	}
	digits := raw
	if raw[0] == '"' {
		var err error
		if digits, err = spanString(b, s, name); err != nil {
			return time.Time{}, fmt.Errorf("field %q is not an integer", name)
		}
	}
	n, ok := parseInt(digits)
	if !ok {
		return time.Time{}, fmt.Errorf("field %q is not an integer", name)
	}
	t, err := signedTime(n, time.Second)
	if err != nil {
		return time.Time{}, fmt.Errorf("field %q: %w", name, err)
	}
	return t, nil
}

// parseInt parses an optional '-' followed by ASCII digits (intLiteral) as
// an int64; false for anything else and for what overflows an int64, as
// strconv.ParseInt.
func parseInt(s []byte) (int64, bool) {
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	if len(s) == 0 {
		return 0, false
	}
	const limit = 1 << 63 // -limit is the smallest int64
	var n uint64
	for _, c := range s {
		if c < '0' || c > '9' || n > limit/10 {
			return 0, false
		}
		if n = n*10 + uint64(c-'0'); n > limit {
			return 0, false
		}
	}
	if !neg {
		if n == limit {
			return 0, false
		}
		return int64(n), true
	}
	return -int64(n), true // n == limit gives the smallest int64
}

// claimStrings reports whether raw, a JSON value, is what golang-jwt's
// ClaimStrings takes: absent, null, a string or an array of strings.
func claimStrings(raw []byte) bool {
	if isNull(raw) || raw[0] == '"' {
		return true
	}
	if raw[0] != '[' {
		return false
	}
	i := skipSpace(raw, 1)
	if raw[i] == ']' {
		return true
	}
	for {
		if raw[i] != '"' {
			return false
		}
		i = skipSpace(raw, skipString(raw, i))
		if raw[i] == ']' {
			return true
		}
		i = skipSpace(raw, i+1) // the ','
	}
}

// jsonSpan is where a member's value lies in a JSON document; the zero
// jsonSpan is an absent member.
type jsonSpan struct{ start, end int }

func (s jsonSpan) present() bool      { return s.end > 0 }
func (s jsonSpan) in(b []byte) []byte { return b[s.start:s.end] }

// scanObject accepts exactly what objectFields accepts (one JSON object in
// UTF-8, valid JSON, no member name twice in one object at any depth, at
// most MaxJSONDepth levels, nothing after it) in one pass over b, and sets
// spans[k] to the raw value of the top-level member named names[k] (names
// distinct, compared after decoding escapes), leaving it zero when there is
// none. It
// allocates only for member names with escapes and objects of more than
// 16 members, and b does not escape (what reaches encoding/json, which
// would keep it, is a copy), so that it may be a stack buffer.
func scanObject(b []byte, names []string, spans []jsonSpan) error {
	if !utf8.Valid(b) {
		return errInvalidUTF8
	}
	i := skipSpace(b, 0)
	if i == len(b) || b[i] != '{' {
		if err := validJSON(bytes.Clone(b)); err != nil {
			return err
		}
		return errNotObject
	}
	type frame struct {
		object bool
		start  int                 // its first name in seen
		set    map[string]struct{} // its names, once it has many
	}
	// A name is kept as offsets in b, so that b does not escape; a name
	// with escapes is decoded into escaped[-start-1]. Names with different
	// fingerprints differ; others are compared.
	type name struct {
		start, end int
		fp         uint64
	}
	const linearMax = 16 // members compared pairwise before a map is built
	const (
		wantValue = iota
		afterValue
		wantName
	)
	var (
		frameBuf [8]frame // deeper nesting moves the stacks to the heap
		frames   = frameBuf[:0]
		seenBuf  [32]name
		seen     = seenBuf[:0]
		escaped  [][]byte
		member   = -1 // the index in names of the top-level member being read
		start    int  // where its value starts
		state    = wantValue
		err      error
	)
	nameOf := func(n name) []byte {
		if n.start < 0 {
			return escaped[-n.start-1]
		}
		return b[n.start:n.end]
	}
	for {
		switch state {
		case wantValue:
			i = skipSpace(b, i)
			if i == len(b) {
				return errJSONEnd
			}
			switch c := b[i]; {
			case c == '{' || c == '[':
				if len(frames) == MaxJSONDepth {
					return errTooDeep
				}
				i = skipSpace(b, i+1)
				if i < len(b) && b[i] == c+2 { // '}' or ']': empty
					i++
					state = afterValue
					continue
				}
				frames = append(frames, frame{object: c == '{', start: len(seen)})
				if c == '{' {
					state = wantName
				}
				continue
			case c == '"':
				i, _, err = scanString(b, i)
			case c == 't':
				i, err = scanLiteral(b, i, "true")
			case c == 'f':
				i, err = scanLiteral(b, i, "false")
			case c == 'n':
				i, err = scanLiteral(b, i, "null")
			case c == '-' || '0' <= c && c <= '9':
				i, err = scanNumber(b, i)
			default:
				err = jsonSyntax(i)
			}
			if err != nil {
				return err
			}
			state = afterValue

		case afterValue:
			if len(frames) == 0 {
				if skipSpace(b, i) != len(b) {
					return errTrailingData
				}
				return nil
			}
			if len(frames) == 1 && member >= 0 {
				spans[member] = jsonSpan{start, i}
				member = -1
			}
			i = skipSpace(b, i)
			if i == len(b) {
				return errJSONEnd
			}
			f := &frames[len(frames)-1]
			switch c := b[i]; {
			case c == ',':
				i++
				if f.object {
					state = wantName
				} else {
					state = wantValue
				}
			case c == '}' && f.object || c == ']' && !f.object:
				seen = seen[:f.start]
				frames = frames[:len(frames)-1]
				i++
			default:
				return jsonSyntax(i)
			}

		case wantName:
			i = skipSpace(b, i)
			if i == len(b) || b[i] != '"' {
				return jsonSyntax(i)
			}
			end, esc, err := scanString(b, i)
			if err != nil {
				return err
			}
			n := name{start: i + 1, end: end - 1}
			if esc {
				s, err := jsonString(bytes.Clone(b[i:end]))
				if err != nil {
					return err
				}
				escaped = append(escaped, []byte(s))
				n = name{start: -len(escaped)}
			}
			nb := nameOf(n)
			n.fp = fingerprint(nb)
			f := &frames[len(frames)-1]
			switch {
			case f.set != nil:
				if _, dup := f.set[string(nb)]; dup {
					return fmt.Errorf("%w %s", errDuplicateKey, quoteID(string(nb)))
				}
				f.set[string(nb)] = struct{}{}
			default:
				for _, o := range seen[f.start:] {
					if o.fp == n.fp && bytes.Equal(nameOf(o), nb) {
						return fmt.Errorf("%w %s", errDuplicateKey, quoteID(string(nb)))
					}
				}
				seen = append(seen, n)
				if len(seen)-f.start > linearMax {
					f.set = make(map[string]struct{}, 2*linearMax)
					for _, o := range seen[f.start:] {
						f.set[string(nameOf(o))] = struct{}{}
					}
					seen = seen[:f.start]
				}
			}
			i = skipSpace(b, end)
			if i == len(b) || b[i] != ':' {
				return jsonSyntax(i)
			}
			i = skipSpace(b, i+1)
			if len(frames) == 1 {
				member, start = -1, i
				for k, want := range names {
					if len(nb) == len(want) && string(nb) == want {
						member = k
						break
					}
				}
			}
			state = wantValue
		}
	}
}

// fingerprint is name's length and first eight bytes in one word.
func fingerprint(name []byte) uint64 {
	var w [8]byte
	copy(w[:], name)
	return binary.LittleEndian.Uint64(w[:]) ^ uint64(len(name))<<56
}

var errJSONEnd = errors.New("unexpected end of JSON input")

// jsonSyntax is the error for an unexpected byte at offset i (which the
// error does not repeat: it may be part of a token).
func jsonSyntax(i int) error {
	return fmt.Errorf("invalid JSON at offset %d", i)
}

// scanString returns the index after the JSON string starting at b[i] ==
// '"', and whether it has escapes. b is valid UTF-8.
func scanString(b []byte, i int) (end int, escaped bool, err error) {
	for i++; i < len(b); i++ {
		// Skip eight plain bytes at a time; stop at the first that is not.
		for len(b)-i >= 8 {
			if s := special8(binary.LittleEndian.Uint64(b[i:])); s != 0 {
				i += bits.TrailingZeros64(s) / 8
				break
			}
			i += 8
		}
		if i == len(b) {
			break
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, escaped, nil
		case c == '\\':
			escaped = true
			if i++; i == len(b) {
				return 0, false, errJSONEnd
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i <= 4 {
					return 0, false, errJSONEnd
				}
				for _, h := range b[i+1 : i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return 0, false, jsonSyntax(i)
					}
				}
				i += 4
			default:
				return 0, false, jsonSyntax(i)
			}
		case c < 0x20:
			return 0, false, jsonSyntax(i)
		}
	}
	return 0, false, errJSONEnd
}

// special8 returns, for eight bytes of a JSON string read little-endian,
// a word whose lowest set bit is the top bit of the first byte that ends a
// run of plain characters ('"', '\\' or a control character); 0 if there
// is none. (Each test is the classic "has a zero byte" trick, exact for the
// lowest byte it flags; bytes from 0x80 up never match.)
func special8(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q := x ^ ones*'"'
	e := x ^ ones*'\\'
	return ((x-ones*0x20)&^x | (q-ones)&^q | (e-ones)&^e) & highs
}

// scanLiteral returns the index after lit (true, false or null) at b[i].
func scanLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, jsonSyntax(i)
	}
	return i + len(lit), nil
}

// scanNumber returns the index after the JSON number at b[i].
func scanNumber(b []byte, i int) (int, error) {
	digits := func(i int) int {
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i
	}
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(i + 1)
	default:
		return 0, jsonSyntax(i)
	}
	if i < len(b) && b[i] == '.' {
		if j := digits(i + 1); j > i+1 {
			i = j
		} else {
			return 0, jsonSyntax(i)
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if j := digits(i); j > i {
			i = j
		} else {
			return 0, jsonSyntax(i)
		}
	}
	return i, nil
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
