package verify

// Reading a LiveKit token: cutting the compact JWS, decoding its segments
// into a stack buffer, and reading the claims' values by their spans.

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

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
