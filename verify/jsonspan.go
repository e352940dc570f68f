package verify

// The one-pass strict JSON scanner of the LiveKit verifier: it validates a
// document as objectFields does and finds the spans of chosen top-level
// members without allocating.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"unicode/utf8"
)

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
	if len(name) >= 8 {
		return binary.LittleEndian.Uint64(name) ^ uint64(len(name))<<56
	}
	var w uint64
	for i, c := range name {
		w |= uint64(c) << (8 * i)
	}
	return w ^ uint64(len(name))<<56
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
