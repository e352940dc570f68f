package verify

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Helpers shared by the verifiers for reading untrusted header and query
// values.

// singleHeader returns the value of header name. Several header lines with
// different values are refused, since nothing says which one was meant.
func singleHeader(h http.Header, name string) (string, error) {
	vals := h.Values(name)
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
