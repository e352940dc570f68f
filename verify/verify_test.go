package verify

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// Shared test helpers. Every test uses a fixed clock.

func fixedClock(t time.Time) func() time.Time {
	return func() time.Time { return t }
}

// header builds an http.Header from name, value pairs.
func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// checkErr fails t unless err matches want (nil meaning success).
func checkErr(t *testing.T, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("error = %v, want %v", err, want)
	}
}

// checkOneEvent fails t unless evs holds exactly want.
func checkOneEvent(t *testing.T, evs []Event, want Event) {
	t.Helper()
	if len(evs) != 1 {
		t.Fatalf("got %d events, want 1", len(evs))
	}
	checkEvent(t, evs[0], want)
}

func checkEvent(t *testing.T, got, want Event) {
	t.Helper()
	if got.Provider != want.Provider || got.ID != want.ID || got.Key != want.Key ||
		got.Type != want.Type || !got.Time.Equal(want.Time) || got.KeyID != want.KeyID ||
		!bytes.Equal(got.Body, want.Body) {
		t.Fatalf("event mismatch\n got %s\nwant %s", fmtEvent(got), fmtEvent(want))
	}
}

func fmtEvent(e Event) string {
	return fmt.Sprintf("{Provider:%q ID:%q Key:%q Type:%q Time:%s KeyID:%q Body:%q}",
		e.Provider, e.ID, e.Key, e.Type, e.Time.UTC().Format(time.RFC3339Nano), e.KeyID, e.Body)
}

// payload returns a JSON object of about n bytes for benchmarks.
func payload(n int, prefix string) []byte {
	var b bytes.Buffer
	b.WriteString("{" + prefix + `"padding":"`)
	for b.Len() < n-2 {
		b.WriteByte('x')
	}
	b.WriteString(`"}`)
	return b.Bytes()
}

func TestKeyringValidate(t *testing.T) {
	tests := []struct {
		name string
		keys Keyring
		ok   bool
	}{
		{"ok", Keyring{"a": {[]byte("s")}}, true},
		{"rotation", Keyring{"a": {[]byte("old"), []byte("new")}}, true},
		{"nil", nil, false},
		{"empty", Keyring{}, false},
		{"empty key id", Keyring{"": {[]byte("s")}}, false},
		{"no secrets", Keyring{"a": nil}, false},
		{"empty secret", Keyring{"a": {[]byte("s"), {}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.keys.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// checkRejected fails t unless the verifier refused with want and
// returned no events.
func checkRejected(t *testing.T, evs []Event, err, want error) {
	t.Helper()
	checkErr(t, err, want)
	if evs != nil {
		t.Fatalf("events returned with error: %v", evs)
	}
}

// fuzzTamper returns body with one byte changed (or one added), as the
// fuzz targets' round trips send it.
func fuzzTamper(body []byte, at uint16) []byte {
	tampered := append([]byte(nil), body...)
	if len(tampered) == 0 {
		return []byte{'x'}
	}
	tampered[int(at)%len(tampered)] ^= 0x80
	return tampered
}

// checkRoundTrip is the round trip of a fuzz target: r, signed by the
// provider's Sign, verifies unless its body is not in the provider's
// format; the tampered copy does not verify, with wantTamper.
func checkRoundTrip(t *testing.T, v Verifier, r, tampered *Request, wantTamper error) {
	t.Helper()
	if _, err := v.Verify(r); err != nil && !errors.Is(err, ErrMalformedBody) {
		t.Fatalf("signed request rejected: %v", err)
	}
	if _, err := v.Verify(tampered); !errors.Is(err, wantTamper) {
		t.Fatalf("tampered body: err = %v, want %v", err, wantTamper)
	}
}

// checkForgeryRefused is the forgery half of a fuzz target: the verifier's
// secret is in no corpus entry, so nothing may verify.
func checkForgeryRefused(t *testing.T, v Verifier, r *Request) {
	t.Helper()
	if evs, err := v.Verify(r); err == nil {
		t.Fatalf("forged request accepted: %+v -> %v", r, evs)
	}
}

func timeMs(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
