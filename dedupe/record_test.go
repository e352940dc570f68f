package dedupe

import (
	"bytes"
	"strings"
	"testing"
)

func TestRecordEncoding(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
		enc  string
	}{
		{"zero", Record{}, ""},
		{"empty body is no body", Record{Body: []byte{}}, ""},
		{"status", Record{Status: 200}, "200\n\n"},
		{"full", Record{Status: 200, ContentType: "application/json", Body: []byte("{}\n")}, "200\napplication/json\n{}\n"},
		{"body with newlines", Record{Status: 409, Body: []byte("a\nb\n")}, "409\n\na\nb\n"},
		{"no status", Record{ContentType: "text/plain"}, "0\ntext/plain\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := encodeRecord(tt.rec); got != tt.enc {
				t.Fatalf("encodeRecord = %q, want %q", got, tt.enc)
			}
			got, ok := decodeRecord(tt.enc)
			if !ok {
				t.Fatalf("decodeRecord(%q) failed", tt.enc)
			}
			assertRecord(t, got, tt.rec)
		})
	}
}

func TestDecodeRecordMalformed(t *testing.T) {
	for _, s := range []string{"200", "200\ntext/plain", "abc\n\n", "\n\n"} {
		if _, ok := decodeRecord(s); ok {
			t.Errorf("decodeRecord(%q) succeeded", s)
		}
	}
}

// Any Record comes back as kept.
func FuzzRecord(f *testing.F) {
	f.Add(200, "application/json", []byte(`{"ok":true}`))
	f.Add(0, "", []byte(nil))
	f.Add(-1, "a\nb", []byte("\n\n"))
	f.Fuzz(func(t *testing.T, status int, ct string, body []byte) {
		rec := Record{Status: status, ContentType: ct, Body: body}
		enc := encodeRecord(rec)
		got, ok := decodeRecord(enc)
		if !ok {
			t.Fatalf("decodeRecord(encodeRecord(%+v)) failed", rec)
		}
		want := rec
		if len(ct) > MaxKeptContentType || strings.ContainsAny(ct, "\r\n") {
			want.ContentType = ""
		}
		if len(body) > MaxKeptBody {
			want.Body = nil
		}
		if got.Status != want.Status || got.ContentType != want.ContentType || !bytes.Equal(got.Body, want.Body) {
			t.Fatalf("round trip of %+v = %+v", rec, got)
		}
	})
}

// Values read back from Redis are parsed: any value must be handled, and a
// value that parses must encode back to a value that parses the same.
func FuzzDecodeRecord(f *testing.F) {
	f.Add("200\napplication/json\n{}")
	f.Add("")
	f.Add("-0\n\n")
	f.Fuzz(func(t *testing.T, s string) {
		rec, ok := decodeRecord(s)
		if !ok {
			return
		}
		again, ok := decodeRecord(encodeRecord(rec))
		if !ok {
			t.Fatalf("decodeRecord(encodeRecord(%+v)) failed", rec)
		}
		if len(rec.Body) > MaxKeptBody {
			rec.Body = nil
		}
		if len(rec.ContentType) > MaxKeptContentType || strings.ContainsAny(rec.ContentType, "\r\n") {
			rec.ContentType = ""
		}
		if again.Status != rec.Status || again.ContentType != rec.ContentType || !bytes.Equal(again.Body, rec.Body) {
			t.Fatalf("%q: %+v, then %+v", s, rec, again)
		}
	})
}
