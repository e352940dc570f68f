package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"
	"unicode/utf8"
)

// referenceObjectFields is the straightforward json.Decoder version of
// objectFields, kept to check the fast scanner against.
func referenceObjectFields(b []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errNotObject
	}
	m := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name := tok.(string)
		if _, dup := m[name]; dup {
			return nil, errDuplicateKey
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		m[name] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errTrailingData
	}
	return m, nil
}

func TestObjectFieldsCases(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want map[string]string
		err  error
	}{
		{"empty object", `{}`, map[string]string{}, nil},
		{"members", " {\"a\" : 1 ,\"b\":\"x\\\"}\",\"c\":{\"d\":[1,{\"e\":\"]\"}]},\"f\":null}\n",
			map[string]string{"a": "1", "b": `"x\"}"`, "c": `{"d":[1,{"e":"]"}]}`, "f": "null"}, nil},
		{"escaped name", `{"\u0069d":"EV_1"}`, map[string]string{"id": `"EV_1"`}, nil},
		{"duplicate", `{"id":"a","id":"b"}`, nil, errDuplicateKey},
		{"escaped duplicate", `{"id":"a","\u0069d":"b"}`, nil, errDuplicateKey},
		{"array", `[1]`, nil, errNotObject},
		{"string", `"x"`, nil, errNotObject},
		{"trailing data", `{} {}`, nil, nil},
		{"truncated", `{"a":`, nil, nil},
		{"invalid UTF-8", "{\"id\":\"EV_\xff\"}", nil, errInvalidUTF8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := objectFields([]byte(tc.in))
			if tc.want == nil {
				if err == nil {
					t.Fatalf("no error, got %v", got)
				}
				if tc.err != nil && !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gotS := map[string]string{}
			for k, v := range got {
				gotS[k] = string(v)
			}
			if !reflect.DeepEqual(gotS, tc.want) {
				t.Fatalf("got %v, want %v", gotS, tc.want)
			}
		})
	}
}

func TestObjectFields(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"object", `{"a":1,"b":"x"}`, true},
		{"whitespace", " \n{ \"a\" : [1,2] }\n", true},
		{"empty object", `{}`, true},
		{"array", `[1]`, false},
		{"null", `null`, false},
		{"string", `"x"`, false},
		{"empty", ``, false},
		{"duplicate", `{"a":1,"a":2}`, false},
		{"trailing", `{"a":1}{}`, false},
		{"truncated", `{"a":`, false},
		{"case differs is not duplicate", `{"a":1,"A":2}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := objectFields([]byte(tt.in))
			if (err == nil) != tt.ok {
				t.Fatalf("objectFields(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			}
		})
	}
}

// FuzzObjectFields checks the scanner against the json.Decoder reference:
// the same inputs are accepted, with the same members.
func FuzzObjectFields(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":{"b":[1,"]}"]},"c":"\u0041"}`, `{"a":1,"a":2}`, ` [] `, `{"a":1}x`, `{"a":"\\"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := objectFields(b)
		if !utf8.Valid(b) {
			if err == nil {
				t.Fatal("invalid UTF-8 accepted")
			}
			return
		}
		want, werr := referenceObjectFields(b)
		if (err == nil) != (werr == nil) {
			t.Fatalf("objectFields error %v, reference error %v", err, werr)
		}
		if err != nil {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("got %d members, reference %d", len(got), len(want))
		}
		for k, v := range want {
			if !bytes.Equal(got[k], v) {
				t.Fatalf("member %q: got %s, reference %s", k, got[k], v)
			}
		}
	})
}
