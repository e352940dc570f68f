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

// MaxJSONDepth is the deepest nesting of objects and arrays accepted in a
// body: the top-level object is depth 1. Provider events nest a handful of
// levels; a deeper body is refused as ErrMalformedBody rather than walked.
const MaxJSONDepth = 64

var (
	errNotObject    = errors.New("not a JSON object")
	errDuplicateKey = errors.New("duplicate member name")
	errTrailingData = errors.New("data after the JSON value")
	errInvalidUTF8  = errors.New("invalid UTF-8")
	errTooDeep      = fmt.Errorf("JSON nested deeper than %d levels", MaxJSONDepth)
)

// objectFields parses b as exactly one JSON object and returns its members by
// their exact (case-sensitive) names. It rejects any other JSON value,
// invalid UTF-8, duplicate member names in any object at any depth (parsers
// disagree on which one wins), nesting deeper than MaxJSONDepth and trailing
// data, so that what a verifier reads is what the app will read.
//
// b is validated in one pass by scanObject (no allocation); the members
// are then cut out by a scanner that can rely on that validity.
func objectFields(b []byte) (map[string]json.RawMessage, error) {
	if err := scanObject(b, nil, nil); err != nil {
		return nil, err
	}
	return cutMembers(b)
}

// optionalMembers is for a body that may be anything: when it is JSON, it
// must be as unambiguous as any provider's (objectFields' rules, for any
// JSON value), and when it is an object its named top-level members are
// returned (as objectMembers). A body that is not JSON, or a JSON value
// other than an object, gives no members and no error.
func optionalMembers(b []byte, names ...string) (map[string]json.RawMessage, error) {
	if !json.Valid(b) {
		return nil, nil
	}
	m, err := objectMembers(b, names...)
	if errors.Is(err, errNotObject) {
		return nil, nil // valid and strict, but not an object
	}
	return m, err
}

// objectMembers validates b as objectFields does and returns only the
// top-level members named (names distinct; compared after decoding
// escapes, as objectFields does), keyed by the strings given: nothing is
// copied, and b is walked once.
func objectMembers(b []byte, names ...string) (map[string]json.RawMessage, error) {
	var buf [8]jsonSpan
	spans := buf[:0]
	if len(names) > len(buf) {
		spans = make([]jsonSpan, 0, len(names))
	}
	spans = spans[:len(names)]
	if err := scanObject(b, names, spans); err != nil {
		return nil, err
	}
	m := make(map[string]json.RawMessage, len(names))
	for k, sp := range spans {
		if sp.present() {
			m[names[k]] = json.RawMessage(sp.in(b))
		}
	}
	return m, nil
}

// validJSON reports why b is not exactly one valid JSON value in UTF-8,
// without duplicate member names at any depth and nested at most
// MaxJSONDepth levels; nil when it is.
func validJSON(b []byte) error {
	if !utf8.Valid(b) {
		// encoding/json would turn every invalid byte into U+FFFD, so
		// distinct ids could share one dedupe key; the app's parser may
		// differ again. LiveKit's own receiver refuses such bodies too.
		return errInvalidUTF8
	}
	if !json.Valid(b) {
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		return errTrailingData
	}
	return checkJSON(b)
}

// cutMembers returns the members of the JSON object b, which must be a
// complete value that validJSON accepted (on its own or as part of a
// larger document): it does not validate b again.
func cutMembers(b []byte) (map[string]json.RawMessage, error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
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

// checkJSON walks b, which json.Valid accepted, once and without recursion,
// refusing a member name repeated in one object (compared after decoding
// escapes, as encoding/json does) and nesting deeper than MaxJSONDepth.
//
// The names of the open objects are kept on one stack; an object with many
// members switches to a map, so that the check stays linear in len(b).
func checkJSON(b []byte) error {
	type frame struct {
		object bool
		start  int                 // its first name in names
		set    map[string]struct{} // its names, once it has many
	}
	const linearMax = 16 // members compared pairwise before a map is built
	var (
		frames  [MaxJSONDepth]frame
		depth   int
		nameBuf [32][]byte
		names   = nameBuf[:0]
	)
	for i := 0; i < len(b); {
		switch b[i] {
		case '{', '[':
			if depth == MaxJSONDepth {
				return errTooDeep
			}
			frames[depth] = frame{object: b[i] == '{', start: len(names)}
			depth++
			i++
		case '}', ']':
			depth--
			names = names[:frames[depth].start]
			frames[depth].set = nil
			i++
		case '"':
			end := skipString(b, i)
			j := skipSpace(b, end)
			if depth == 0 || !frames[depth-1].object || j >= len(b) || b[j] != ':' {
				i = end // a string value
				continue
			}
			name := b[i+1 : end-1]
			if bytes.IndexByte(name, '\\') >= 0 {
				s, err := jsonString(b[i:end])
				if err != nil {
					return err
				}
				name = []byte(s)
			}
			f := &frames[depth-1]
			switch {
			case f.set != nil:
				if _, dup := f.set[string(name)]; dup {
					return fmt.Errorf("%w %s", errDuplicateKey, quoteID(string(name)))
				}
				f.set[string(name)] = struct{}{}
			default:
				for _, n := range names[f.start:] {
					if bytes.Equal(n, name) {
						return fmt.Errorf("%w %s", errDuplicateKey, quoteID(string(name)))
					}
				}
				names = append(names, name)
				if len(names)-f.start > linearMax {
					f.set = make(map[string]struct{}, 2*linearMax)
					for _, n := range names[f.start:] {
						f.set[string(n)] = struct{}{}
					}
					names = names[:f.start]
				}
			}
			i = j + 1
		default:
			i++
		}
	}
	return nil
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
		// The digits of a JSON integer, as protojson writes them: no "+",
		// no spaces, no exponent (strconv alone would take "+5").
		if s, err = jsonString(raw); err != nil || !intLiteral(s) {
			return 0, false, fmt.Errorf("field %q is not an integer", name)
		}
	}
	n, err = strconv.ParseInt(s, 10, 64) // refuses what overflows an int64
	if err != nil {
		return 0, false, fmt.Errorf("field %q is not an integer", name)
	}
	return n, true, nil
}

// intLiteral reports whether s is an optional '-' followed by ASCII digits.
func intLiteral(s string) bool {
	if len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// fieldTime reads an integer timestamp member in the given unit (time.Second
// or time.Millisecond). The zero time is returned when it is absent; a time
// outside the range of signedTime is an error.
func fieldTime(m map[string]json.RawMessage, name string, unit time.Duration) (t time.Time, ok bool, err error) {
	n, ok, err := fieldInt(m, name)
	if err != nil || !ok {
		return time.Time{}, ok, err
	}
	if t, err = signedTime(n, unit); err != nil {
		return time.Time{}, false, fmt.Errorf("field %q: %w", name, err)
	}
	return t, true, nil
}
