package verify

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Helpers shared by the verifiers for reading untrusted header and query
// values.

// singleHeader returns the value of header name. Several header lines with
// different values are refused, since nothing says which one was meant.
func singleHeader(h http.Header, name string) (string, error) {
	vals := headerValues(h, name)
	if len(vals) == 0 {
		return "", nil
	}
	v := strings.TrimSpace(vals[0])
	for _, o := range vals[1:] {
		if strings.TrimSpace(o) != v {
			return "", fmt.Errorf("%w: conflicting %s headers", ErrMalformedSignature, name)
		}
	}
	return v, nil
}

// bearerToken is the token of the one Authorization header, with or
// without a "Bearer " scheme, at most max bytes as sent: ErrMissingSignature
// when there is none, ErrMalformedSignature when it is longer.
func bearerToken(h http.Header, max int) (string, error) {
	raw, err := singleHeader(h, "Authorization")
	if err != nil {
		return "", err
	}
	if len(raw) > max {
		return "", fmt.Errorf("%w: Authorization header longer than %d bytes", ErrMalformedSignature, max)
	}
	token := raw
	if len(token) >= 7 && strings.EqualFold(token[:7], "Bearer ") {
		token = strings.TrimSpace(token[7:])
	} else if strings.EqualFold(token, "Bearer") {
		token = ""
	}
	if token == "" {
		return "", fmt.Errorf("%w: no Authorization header", ErrMissingSignature)
	}
	return token, nil
}

// headerValues is h.Values(name), without making a string of the
// canonical form of a name given in another (webhook-id, X-GitHub-Event):
// it is built in a stack buffer, and a map index by a converted byte slice
// does not allocate.
func headerValues(h http.Header, name string) []string {
	var buf [64]byte
	if len(name) > len(buf) {
		return h.Values(name)
	}
	b := buf[:len(name)]
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isHeaderNameByte(c) {
			return h.Values(name) // textproto leaves such a name as it is
		}
		switch {
		case upper && 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case !upper && 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		b[i] = c
		upper = c == '-'
	}
	return h[string(b)]
}

// isHeaderNameByte reports whether c may be in a header name that
// textproto canonicalizes: a token byte.
func isHeaderNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// parseDigits parses a non-negative decimal integer made of ASCII digits only
// (no sign, no spaces), as senders write Unix timestamps.
func parseDigits(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// decodeMAC decodes a standard base64 signature of want bytes in its
// canonical form only: padded, zero trailing bits, no CR or LF (which
// encoding/base64 skips), so that one signature has one spelling.
func decodeMAC(s string, want int) ([]byte, bool) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, false
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	return b, err == nil && len(b) == want
}

// quoteID quotes an untrusted identifier for an error message, shortened so
// that a hostile sender cannot flood the logs.
func quoteID(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

// errNoURL: a signature covers the request URL, which is unknown.
var errNoURL = errors.New("the request URL is unknown (set public_url)")

// MaxSignatures bounds the signatures one request may carry (Stripe's and
// Mux's v1= entries, Cloudflare Stream's sig1=): a sender lists one per
// active secret. A longer list is refused as ErrMalformedSignature rather
// than decoded and compared.
const MaxSignatures = 16

// signatureParams reads a "name=value,name=value" signature header (Stripe,
// Mux, Cloudflare Stream): the one value of tsName and every value of
// sigName, other names ignored. An entry without "=", tsName given twice,
// or more than MaxSignatures entries is ErrMalformedSignature.
func signatureParams(h, tsName, sigName string) (ts string, sigs []string, err error) {
	n := 0
	for entry := range strings.SplitSeq(h, ",") {
		if n++; n > MaxSignatures {
			return "", nil, fmt.Errorf("%w: more than %d entries", ErrMalformedSignature, MaxSignatures)
		}
		k, v, ok := strings.Cut(strings.TrimSpace(entry), "=")
		if !ok {
			return "", nil, fmt.Errorf("%w: an entry is not name=value", ErrMalformedSignature)
		}
		switch k {
		case tsName:
			if ts != "" {
				return "", nil, fmt.Errorf("%w: %s given twice", ErrMalformedSignature, tsName)
			}
			ts = v
		case sigName:
			sigs = append(sigs, v)
		}
	}
	return ts, sigs, nil
}

// unixHeader reads a header value holding Unix seconds, as signed: it must
// be digits only and inside signedTime's range (ErrMalformedSignature).
func unixHeader(name, raw string) (time.Time, error) {
	n, ok := parseDigits(raw)
	if !ok {
		return time.Time{}, fmt.Errorf("%w: %s is not a Unix time", ErrMalformedSignature, name)
	}
	t, err := signedTime(n, time.Second)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s: %w", ErrMalformedSignature, name, err)
	}
	return t, nil
}

// timestampedSignature reads a signature header and the header with its
// signed Unix time, both required and each given once. tsRaw is the time
// as sent: what the signature covers.
func timestampedSignature(h http.Header, sigName, tsName string) (sig, tsRaw string, at time.Time, err error) {
	if sig, err = singleHeader(h, sigName); err != nil {
		return "", "", at, err
	}
	if tsRaw, err = singleHeader(h, tsName); err != nil {
		return "", "", at, err
	}
	if sig == "" || tsRaw == "" {
		return "", "", at, fmt.Errorf("%w: need %s and %s headers", ErrMissingSignature, sigName, tsName)
	}
	at, err = unixHeader(tsName, tsRaw)
	return sig, tsRaw, at, err
}

// hexSigs decodes the lowercase hex SHA-256 MACs among sigs, skipping the
// rest (as Stripe's and Mux's libraries skip what does not decode).
func hexSigs(sigs []string) [][]byte {
	var out [][]byte
	for _, s := range sigs {
		if b, ok := decodeHex(s, 32); ok {
			out = append(out, b)
		}
	}
	return out
}
