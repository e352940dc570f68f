package proxy

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Query errors: each is a way the sender's query could mean one thing to the
// verifier and another to the app. All are answered 400.
var (
	// ErrQuerySemicolon: a ";" in the query. Go's parser drops such pairs,
	// while some frameworks split on ";", so the app could read a pair the
	// verifier never saw.
	ErrQuerySemicolon = errors.New("query contains ';'")
	// ErrQueryEscape: a malformed %-escape, which parsers drop or keep
	// differently.
	ErrQueryEscape = errors.New("query has a malformed escape")
	// ErrQueryDuplicate: a parameter named twice, in any letter case or
	// escaping: first-wins and last-wins readers would disagree.
	ErrQueryDuplicate = errors.New("query names a parameter twice")
	// ErrQueryControl: a decoded name or value holds a control character or
	// invalid UTF-8 (NUL truncation, header injection in apps that log or
	// copy it).
	ErrQueryControl = errors.New("query has a control character or invalid UTF-8")
	// ErrQueryOverride: the sender names a parameter that the route's
	// upstream URL already sets, which would let it override the operator's
	// value.
	ErrQueryOverride = errors.New("query overrides a parameter of the upstream URL")
)

// maxQueryPairs bounds the pairs of a query, as a bound on the work spent
// on one request's query.
const maxQueryPairs = 256

// strictQuery parses raw as the verifier will read it, refusing every query
// whose meaning depends on the parser: a query that passes has exactly one
// reading, so forwarding its raw bytes hands the app what was verified.
// reserved lists lower-cased parameter names the sender may not set.
func strictQuery(raw string, reserved map[string]struct{}) (url.Values, error) {
	if raw == "" {
		return nil, nil // reads as empty
	}
	if strings.IndexByte(raw, ';') >= 0 {
		return nil, ErrQuerySemicolon
	}
	vals := make(url.Values)
	seen := make(map[string]struct{})
	pairs := 0
	for rest := raw; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		if pair == "" {
			continue
		}
		if pairs++; pairs > maxQueryPairs {
			return nil, fmt.Errorf("%w: more than %d parameters", ErrQueryDuplicate, maxQueryPairs)
		}
		rk, rv, _ := strings.Cut(pair, "=")
		k, err := url.QueryUnescape(rk)
		if err != nil {
			return nil, ErrQueryEscape
		}
		v, err := url.QueryUnescape(rv)
		if err != nil {
			return nil, ErrQueryEscape
		}
		if !cleanText(k) || !cleanText(v) {
			return nil, ErrQueryControl
		}
		lk := strings.ToLower(k)
		if _, dup := seen[lk]; dup {
			return nil, fmt.Errorf("%w: %q", ErrQueryDuplicate, truncate(k, 64))
		}
		if _, res := reserved[lk]; res {
			return nil, fmt.Errorf("%w: %q", ErrQueryOverride, truncate(k, 64))
		}
		seen[lk] = struct{}{}
		vals[k] = []string{v}
	}
	return vals, nil
}

// queryNames returns the lower-cased parameter names of a trusted raw query
// (the upstream URL's), for strictQuery's reserved set.
func queryNames(raw string) map[string]struct{} {
	if raw == "" {
		return nil
	}
	q, _ := url.ParseQuery(raw)
	out := make(map[string]struct{}, len(q))
	for k := range q {
		out[strings.ToLower(k)] = struct{}{}
	}
	return out
}

// cleanText reports whether s is valid UTF-8 without control characters.
func cleanText(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return utf8.ValidString(s)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
