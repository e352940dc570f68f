package dedupe

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Limits on what a store keeps of a Record. A store never refuses a Record
// for being large: it keeps Status and ContentType and drops what does not
// fit, so a duplicate is still recognised and answered with the status.
const (
	// MaxKeptBody is the largest Record.Body a store keeps; a larger body is
	// dropped.
	MaxKeptBody = 4 << 10
	// MaxKeptContentType is the longest Record.ContentType a store keeps; a
	// longer one (or one holding CR or LF, invalid in a header) is dropped.
	MaxKeptContentType = 256
)

// newToken returns a fresh claim owner token: 16 random bytes, hex encoded.
func newToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("dedupe: claim token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// encodeRecord packs rec into one string, "" for the zero Record, else
// "<status>\n<content-type>\n<body>", after applying MaxKeptBody and
// MaxKeptContentType. One string means one allocation per kept key in
// Memory, and a value readable with redis-cli in Redis.
func encodeRecord(rec Record) string {
	ct := rec.ContentType
	if len(ct) > MaxKeptContentType || strings.ContainsAny(ct, "\r\n") {
		ct = ""
	}
	body := rec.Body
	if len(body) > MaxKeptBody {
		body = nil
	}
	if rec.Status == 0 && ct == "" && len(body) == 0 {
		return ""
	}
	var b strings.Builder
	status := strconv.Itoa(rec.Status)
	b.Grow(len(status) + 1 + len(ct) + 1 + len(body))
	b.WriteString(status)
	b.WriteByte('\n')
	b.WriteString(ct)
	b.WriteByte('\n')
	b.Write(body)
	return b.String()
}

// decodeRecord reverses encodeRecord. It reports false for a value that
// encodeRecord cannot have produced.
func decodeRecord(s string) (Record, bool) {
	if s == "" {
		return Record{}, true
	}
	status, rest, ok := strings.Cut(s, "\n")
	if !ok {
		return Record{}, false
	}
	ct, body, ok := strings.Cut(rest, "\n")
	if !ok {
		return Record{}, false
	}
	code, err := strconv.Atoi(status)
	if err != nil {
		return Record{}, false
	}
	rec := Record{Status: code, ContentType: ct}
	if body != "" {
		rec.Body = []byte(body)
	}
	return rec, true
}
