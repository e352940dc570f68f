package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Helpers shared by the verifiers for reading untrusted JSON bodies.

var (
	errNotObject    = errors.New("not a JSON object")
	errDuplicateKey = errors.New("duplicate member name")
	errTrailingData = errors.New("data after the JSON value")
	errInvalidUTF8  = errors.New("invalid UTF-8")
)

// objectFields parses b as exactly one JSON object and returns its members by
// their exact (case-sensitive) names. It rejects any other JSON value,
// duplicate member names (parsers disagree on which one wins) and trailing
// data, so that what a verifier reads is what the app will read.
//
// b is validated by json.Valid first (no allocation); the members are then
// cut out by a scanner that can rely on that validity.
func objectFields(b []byte) (map[string]json.RawMessage, error) {
	if !utf8.Valid(b) {
		// encoding/json would turn every invalid byte into U+FFFD, so
		// distinct ids could share one dedupe key; the app's parser may
		// differ again. LiveKit's own receiver refuses such bodies too.
		return nil, errInvalidUTF8
	}
	if !json.Valid(b) {
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, err
		}
		return nil, errTrailingData
	}
	i := skipSpace(b, 0)
	if b[i] != '{' {
		return nil, errNotObject
	}
	m := make(map[string]json.RawMessage, 8)
	i = skipSpace(b, i+1)
	if b[i] == '}' {
		return m, nil
	}
	for {
		end := skipString(b, i)
		name, err := jsonString(b[i:end])
		if err != nil {
			return nil, err
		}
		i = skipSpace(b, end)
		i = skipSpace(b, i+1) // the ':'
		vend := skipValue(b, i)
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("%w %s", errDuplicateKey, quoteID(name))
		}
		m[name] = json.RawMessage(b[i:vend])
		i = skipSpace(b, vend)
		if b[i] == '}' {
			return m, nil
		}
		i = skipSpace(b, i+1) // the ','
	}
}

// The scanners below walk JSON that json.Valid accepted.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// jsonString decodes a raw JSON string; without escapes or invalid UTF-8
// (which encoding/json replaces with U+FFFD) it is a plain copy.
func jsonString(raw []byte) (string, error) {
	if len(raw) >= 2 && raw[0] == '"' && bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// isNull reports whether a raw JSON value is absent or null.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// fieldString returns member name of m as a string; "" when absent or null.
func fieldString(m map[string]json.RawMessage, name string) (string, error) {
	raw := m[name]
	if isNull(raw) {
		return "", nil
	}
	if raw[0] != '"' {
		return "", fmt.Errorf("field %q is not a string", name)
	}
	s, err := jsonString(raw)
	if err != nil {
		return "", fmt.Errorf("field %q is not a string", name)
	}
	return s, nil
}

// fieldInt returns member name of m as an integer written either as a JSON
// number or as a JSON string of decimal digits (protojson writes int64 as a
// string). ok is false when the member is absent or null.
func fieldInt(m map[string]json.RawMessage, name string) (n int64, ok bool, err error) {
	raw := m[name]
	if isNull(raw) {
		return 0, false, nil
	}
	s := string(raw)
	if raw[0] == '"' {
		if s, err = jsonString(raw); err != nil {
			return 0, false, fmt.Errorf("field %q is not an integer", name)
		}
	}
	n, err = strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("field %q is not an integer", name)
	}
	return n, true, nil
}

// fieldTime reads an integer timestamp member in the given unit (time.Second
// or time.Millisecond). The zero time is returned when it is absent.
func fieldTime(m map[string]json.RawMessage, name string, unit time.Duration) (t time.Time, ok bool, err error) {
	n, ok, err := fieldInt(m, name)
	if err != nil || !ok {
		return time.Time{}, ok, err
	}
	if unit == time.Millisecond {
		return time.UnixMilli(n).UTC(), true, nil
	}
	return time.Unix(n, 0).UTC(), true, nil
}
