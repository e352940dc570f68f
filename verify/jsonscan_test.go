package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// referenceObjectFields is the straightforward json.Decoder version of
// objectFields, kept to check the fast scanner against.
func referenceObjectFields(b []byte) (map[string]json.RawMessage, error) {
	if err := referenceCheck(b); err != nil {
		return nil, err
	}
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

// referenceCheck is the json.Decoder version of checkJSON: it walks every
// token of b with a set of names per open object.
func referenceCheck(b []byte) error {
	type frame struct {
		object, wantName bool
		names            map[string]bool
	}
	var stack []*frame
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if name, ok := tok.(string); ok && top != nil && top.object && top.wantName {
			if top.names[name] {
				return errDuplicateKey
			}
			top.names[name], top.wantName = true, false
			continue
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) == MaxJSONDepth {
				return errTooDeep
			}
			stack = append(stack, &frame{object: tok == json.Delim('{'), wantName: true, names: map[string]bool{}})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && stack[len(stack)-1].object {
				stack[len(stack)-1].wantName = true
			}
		default:
			if top != nil && top.object {
				top.wantName = true
			}
		}
	}
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
		{"nested duplicate", `{"room":{"sid":"a","sid":"b"}}`, nil, errDuplicateKey},
		{"duplicate in an object in an array", `{"batch":[{"id":"a"},{"id":"b","id":"c"}]}`, nil, errDuplicateKey},
		{"escaped nested duplicate", `{"a":[[{"id":1,"\u0069\u0064":2}]]}`, nil, errDuplicateKey},
		{"lone surrogates decode alike", `{"a":{"\ud800":1,"\udbff":2}}`, nil, errDuplicateKey},
		{"same name in sibling objects", `{"a":{"id":1},"b":{"id":2},"c":[{"id":3},{"id":4}]}`,
			map[string]string{"a": `{"id":1}`, "b": `{"id":2}`, "c": `[{"id":3},{"id":4}]`}, nil},
		{"same name at two depths", `{"id":{"id":{"id":1}}}`, map[string]string{"id": `{"id":{"id":1}}`}, nil},
		{"name equal to a string value", `{"a":"b","b":"a"}`, map[string]string{"a": `"b"`, "b": `"a"`}, nil},
		{"deepest accepted", nest(MaxJSONDepth-1, `{}`), map[string]string{"a": nest(MaxJSONDepth-2, `{}`)}, nil},
		{"one level too deep", nest(MaxJSONDepth, `{}`), nil, errTooDeep},
		{"arrays too deep", `{"a":` + strings.Repeat("[", MaxJSONDepth) + strings.Repeat("]", MaxJSONDepth) + `}`, nil, errTooDeep},
		{"far too deep for encoding/json", strings.Repeat(`{"a":`, 20000) + `1` + strings.Repeat("}", 20000), nil, nil},
		{"duplicate among many members", manyMembers(1000, true), nil, errDuplicateKey},
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
		{"many members", manyMembers(1000, false), true},
		{"many members, last one repeats the first", manyMembers(1000, true), false},
		{"many nested members", `{"x":` + manyMembers(100, false) + `}`, true},
		{"many nested members, one repeated", `{"x":[` + manyMembers(100, true) + `]}`, false},
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

// nest wraps inner in n objects {"a":...}.
func nest(n int, inner string) string {
	return strings.Repeat(`{"a":`, n) + inner + strings.Repeat("}", n)
}

// manyMembers returns an object of n members m0, m1, ...; with dup, one
// more member repeats m0.
func manyMembers(n int, dup bool) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"m%d":%d`, i, i)
	}
	if dup {
		b.WriteString(`,"m0":0`)
	}
	b.WriteByte('}')
	return b.String()
}

// FuzzObjectFields checks the scanner against the json.Decoder reference:
// the same inputs are accepted, with the same members.
func FuzzObjectFields(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":{"b":[1,"]}"]},"c":"\u0041"}`, `{"a":1,"a":2}`, ` [] `, `{"a":1}x`, `{"a":"\\"}`,
		`{"a":{"b":1,"b":2}}`, `{"a":[{"b":1},{"b":1,"\u0062":2}]}`, nest(MaxJSONDepth, `{}`), manyMembers(40, true)} {
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

// escapeAll writes s as a JSON string with every character as a \u escape.
func escapeAll(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, u := range utf16.Encode([]rune(s)) {
		fmt.Fprintf(&b, `\u%04x`, u)
	}
	b.WriteByte('"')
	return b.String()
}

// FuzzDuplicateNamesAtDepth builds an object holding one name twice (or two
// distinct names) under levels wrappers, each an object member or an array
// element as shape's bits say, with siblings around it: a duplicate is
// refused at every depth, distinct names are accepted, and nesting beyond
// MaxJSONDepth is refused whatever it holds. The scanner and the json.Decoder
// reference agree.
func FuzzDuplicateNamesAtDepth(f *testing.F) {
	f.Add(uint8(0), uint64(0), "id", true, false)
	f.Add(uint8(3), uint64(5), "sid", true, true)
	f.Add(uint8(62), uint64(0xAAAA), "x", true, false)
	f.Add(uint8(63), uint64(1), "x", false, false)
	f.Add(uint8(200), uint64(0), "", true, true)
	f.Fuzz(func(t *testing.T, levels uint8, shape uint64, name string, dup, escape bool) {
		name = strings.ToValidUTF8(name, "?")
		other := name
		if !dup {
			other += "2"
		}
		if name == "pre" || name == "mid" || other == "pre" || other == "mid" {
			return // would repeat a sibling's name
		}
		first, _ := json.Marshal(name)
		second, _ := json.Marshal(other)
		if escape {
			second = []byte(escapeAll(other))
		}
		// The innermost object is the deepest value: siblings are scalars
		// and strings that look like structure.
		doc := `{"pre":"{[\"",` + string(first) + `:1,"mid":"}]",` + string(second) + `:2}`
		depth := int(levels) + 1
		outerArray := false
		for i := 0; i < int(levels); i++ {
			outerArray = shape>>(i%64)&1 == 1
			if outerArray {
				doc = `[0,` + doc + `,{}]`
			} else {
				doc = `{"s":{},"w` + strconv.Itoa(i) + `":` + doc + `,"t":[]}`
			}
		}
		if outerArray {
			doc = `{"top":` + doc + `}` // the outermost value must be an object
			depth++
		}
		_, err := objectFields([]byte(doc))
		switch {
		case depth > MaxJSONDepth:
			if !errors.Is(err, errTooDeep) {
				t.Fatalf("depth %d: err = %v, want errTooDeep", depth, err)
			}
		case dup:
			if !errors.Is(err, errDuplicateKey) {
				t.Fatalf("duplicate at depth %d: err = %v, want errDuplicateKey", depth, err)
			}
		case err != nil:
			t.Fatalf("distinct names at depth %d refused: %v", depth, err)
		}
		if rerr := referenceCheck([]byte(doc)); (rerr == nil) != (err == nil) {
			t.Fatalf("objectFields error %v, reference error %v", err, rerr)
		}
	})
}

// TestEveryProviderRefusesNestedDuplicates pins the README's promise that a
// body with duplicate member names is refused: it used to hold only for
// the top-level object. Each body is correctly signed.
func TestEveryProviderRefusesNestedDuplicates(t *testing.T) {
	bodies := []struct {
		name string
		body string
	}{
		{"nested object", `{"id":"EV_1","room":{"sid":"RM_a","sid":"RM_b"}}`},
		{"object in an array", `{"id":"EV_1","list":[{"a":1},{"a":1,"a":2}]}`},
		{"escaped", `{"id":"EV_1","room":{"sid":"RM_a","\u0073id":"RM_b"}}`},
		{"too deep", `{"id":"EV_1","x":` + nest(MaxJSONDepth, `1`) + `}`},
	}
	lsBody := func(inner string) string {
		// An application webhook naming lsApp, with inner's members.
		return `{"timestamp":1700000000123,"type":"channel.activated","channel":{"id":"room-1","applicationId":"` + lsApp + `"},"extra":` + inner + `}`
	}
	type tc struct {
		verify func(body string) ([]Event, error)
		wrap   func(string) string
	}
	providers := map[string]tc{
		ProviderLiveKit: {verify: func(body string) ([]Event, error) {
			return newTestLiveKit(t, liveKitT0).Verify(&Request{Header: header("Authorization", mustSignLiveKit(t, "devkey", liveKitSecret, []byte(body), liveKitT0)), Body: []byte(body)})
		}},
		ProviderTencent: {verify: func(body string) ([]Event, error) {
			q := url.Values{"SdkAppid": {tencentAppID}, "RequestTime": {strconv.Itoa(tencentTime)}, "Sign": {tencentSign}}
			return newTestTencent(t, tencentT0).Verify(&Request{Query: q, Body: []byte(body)})
		}},
		ProviderTencentTRTC: {verify: func(body string) ([]Event, error) {
			return newTestTRTC(t, nil, -1, trtcT0).Verify(&Request{Header: header("Sign", SignTRTC([]byte(trtcKey), []byte(body))), Body: []byte(body)})
		}},
		ProviderLiveSwitch: {wrap: lsBody, verify: func(body string) ([]Event, error) {
			return newTestLiveSwitch(t, nil, 0, lsT0).Verify(&Request{Header: header(HeaderLiveSwitchSignature, lsSign(body)), Body: []byte(body)})
		}},
		ProviderLiveSwitch + " batch": {wrap: func(inner string) string { return `{"batch":[` + lsChannelActivated + `,` + lsBody(inner) + `]}` },
			verify: func(body string) ([]Event, error) {
				return newTestLiveSwitch(t, nil, 0, lsT0).Verify(&Request{Header: header(HeaderLiveSwitchSignature, lsSign(body)), Body: []byte(body)})
			}},
		ProviderStandardWebhooks: {verify: func(body string) ([]Event, error) {
			sig := SignStandard(stdKey(t, stdSecret), stdID, stdT0, []byte(body))
			return newTestStandard(t, nil, stdT0).Verify(&Request{Header: header("webhook-id", stdID, "webhook-timestamp", stdTS, "webhook-signature", sig), Body: []byte(body)})
		}},
	}
	for pname, p := range providers {
		for _, b := range bodies {
			t.Run(pname+"/"+b.name, func(t *testing.T) {
				body := b.body
				if p.wrap != nil {
					body = p.wrap(body)
				}
				evs, err := p.verify(body)
				checkErr(t, err, ErrMalformedBody)
				if evs != nil {
					t.Fatalf("events returned with error: %v", evs)
				}
			})
		}
	}
}

func TestOptionalMembers(t *testing.T) {
	cases := []struct {
		in      string
		typ     string
		members bool
		err     error
	}{
		{"not json at all", "", false, nil},
		{"\xff\xfe binary", "", false, nil},
		{`[1,2]`, "", false, nil},
		{`"a string"`, "", false, nil},
		{`{"type":"ping","id":"1"}`, "ping", true, nil},
		{`{"\u0074ype":"escaped"}`, "escaped", true, nil},
		{`{"id":"1"}`, "", true, nil},
		{`{"type":"a","type":"b"}`, "", false, errDuplicateKey},
		{`[{"a":1,"a":2}]`, "", false, errDuplicateKey},
		{nest(MaxJSONDepth+1, `{}`), "", false, errTooDeep},
	}
	for _, tc := range cases {
		m, err := optionalMembers([]byte(tc.in), "type")
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%.40q: err %v, want %v", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || (m != nil) != tc.members {
			t.Errorf("%.40q: members %v, err %v; want members %v", tc.in, m, err, tc.members)
			continue
		}
		if typ, _ := fieldString(m, "type"); typ != tc.typ {
			t.Errorf("%.40q: type %q, want %q", tc.in, typ, tc.typ)
		}
	}
}

// FuzzOptionalMembers checks optionalMembers: a body that is not JSON
// gives nothing; JSON is refused exactly when the two-pass check refuses
// it (itself checked against the json.Decoder reference by
// FuzzObjectFields); an object gives the member cutMembers finds.
func FuzzOptionalMembers(f *testing.F) {
	for _, s := range []string{"", "text", `[1]`, `{"type":"a"}`, `{"type":1}`, `{"a":1,"a":2}`, `[{"b":1,"b":2}]`, "\xff", `{"t\u0079pe":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := optionalMembers(b, "type")
		if !json.Valid(b) {
			if m != nil || err != nil {
				t.Fatalf("not JSON, yet members %v, err %v", m, err)
			}
			return
		}
		if !utf8.Valid(b) { // json.Valid lets it pass inside strings; hookguard does not
			if err == nil {
				t.Fatal("invalid UTF-8 accepted")
			}
			return
		}
		// The two-pass check (json.Valid, then checkJSON) is the reference
		// for strictness; cutMembers for the member.
		if rerr := validJSON(b); (err == nil) != (rerr == nil) {
			t.Fatalf("err %v, two-pass check %v", err, rerr)
		}
		if err != nil {
			return
		}
		want, werr := cutMembers(b)
		if werr != nil { // valid and strict, but not an object
			if m != nil {
				t.Fatalf("members %v for a JSON value that is not an object", m)
			}
			return
		}
		if !bytes.Equal(m["type"], want["type"]) {
			t.Fatalf("type %q, cutMembers %q", m["type"], want["type"])
		}
	})
}
