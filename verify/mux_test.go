package verify

import (
	"strings"
	"testing"
	"time"
)

// The vector of PROVIDERS.md, from mux-node-sdk's
// tests/api-resources/webhooks.test.ts.
const (
	muxSecret = "SuperSecret123"
	muxTS     = 1565125718
	muxBody   = `{"test":"body"}`
	muxSig    = "854ece4c22acef7c66b57d4e504153bc512595e8e9c772ece2a68150548c19a7"
	muxEvent  = `{"type":"video.asset.ready","id":"3a56ac3d-33da-4366-855b-f592d898409d","created_at":"2019-08-06T21:08:38.000000Z","data":{"id":"asset-1"}}`
)

var muxT0 = time.Unix(muxTS, 0).UTC()

func newTestMux(t testing.TB, now time.Time) *Mux {
	t.Helper()
	v, err := NewMux(Keyring{"mux": {[]byte(muxSecret)}}, 0, fixedClock(now))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSignMuxVector(t *testing.T) {
	if got, want := SignMux([]byte(muxSecret), muxT0, []byte(muxBody)), "t=1565125718,v1="+muxSig; got != want {
		t.Fatalf("SignMux = %s, want %s", got, want)
	}
}

func TestMuxAccepts(t *testing.T) {
	evSig := timedHex([]byte(muxSecret), muxT0, []byte(muxEvent))
	other := timedHex([]byte("old-secret"), muxT0, []byte(muxBody))
	tests := []struct {
		name, hdr, body string
		now             time.Time
		want            Event
	}{
		{"vector", "t=1565125718,v1=" + muxSig, muxBody, muxT0, Event{Key: BodyKey("mux", []byte(muxBody)), Time: muxT0}},
		{"rotation: second v1", "t=1565125718,v1=" + other + ",v1=" + muxSig, muxBody, muxT0.Add(5 * time.Minute), Event{Key: BodyKey("mux", []byte(muxBody)), Time: muxT0}},
		{"unknown schemes ignored", "t=1565125718,v0=abc,v1=" + muxSig, muxBody, muxT0, Event{Key: BodyKey("mux", []byte(muxBody)), Time: muxT0}},
		{"event: id, type, created_at", "t=1565125718,v1=" + evSig, muxEvent, muxT0, Event{ID: "3a56ac3d-33da-4366-855b-f592d898409d",
			Key: idKey("mux", "3a56ac3d-33da-4366-855b-f592d898409d"), Type: "video.asset.ready", Time: time.Date(2019, 8, 6, 21, 8, 38, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := newTestMux(t, tt.now).Verify(&Request{Header: header(HeaderMuxSignature, tt.hdr), Body: []byte(tt.body)})
			checkErr(t, err, nil)
			tt.want.Provider, tt.want.KeyID, tt.want.Body = ProviderMux, "mux", []byte(tt.body)
			checkOneEvent(t, evs, tt.want)
		})
	}
}

func TestMuxRejects(t *testing.T) {
	good := "t=1565125718,v1=" + muxSig
	tests := []struct {
		name string
		hdr  []string
		body string
		now  time.Time
		want error
	}{
		{"no header", nil, muxBody, muxT0, ErrMissingSignature},
		{"no t", []string{HeaderMuxSignature, "v1=" + muxSig}, muxBody, muxT0, ErrMalformedSignature},
		{"t twice", []string{HeaderMuxSignature, "t=1565125718,t=1565125719,v1=" + muxSig}, muxBody, muxT0, ErrMalformedSignature},
		{"no v1", []string{HeaderMuxSignature, "t=1565125718"}, muxBody, muxT0, ErrMalformedSignature},
		{"v1 upper case", []string{HeaderMuxSignature, "t=1565125718,v1=" + strings.ToUpper(muxSig)}, muxBody, muxT0, ErrMalformedSignature},
		{"entry without =", []string{HeaderMuxSignature, good + ",junk"}, muxBody, muxT0, ErrMalformedSignature},
		{"too many entries", []string{HeaderMuxSignature, "t=1565125718" + strings.Repeat(",v1="+muxSig, MaxSignatures)}, muxBody, muxT0, ErrMalformedSignature},
		{"t not a number", []string{HeaderMuxSignature, "t=-1,v1=" + muxSig}, muxBody, muxT0, ErrMalformedSignature},
		{"conflicting headers", []string{HeaderMuxSignature, good, HeaderMuxSignature, "t=1,v1=" + muxSig}, muxBody, muxT0, ErrMalformedSignature},
		{"wrong secret", []string{HeaderMuxSignature, SignMux([]byte("other"), muxT0, []byte(muxBody))}, muxBody, muxT0, ErrSignatureMismatch},
		{"tampered body", []string{HeaderMuxSignature, good}, `{"test":"bodY"}`, muxT0, ErrSignatureMismatch},
		{"other t", []string{HeaderMuxSignature, "t=1565125719,v1=" + muxSig}, muxBody, muxT0, ErrSignatureMismatch},
		{"six minutes old", []string{HeaderMuxSignature, good}, muxBody, muxT0.Add(6 * time.Minute), ErrStale},
		{"from the future", []string{HeaderMuxSignature, good}, muxBody, muxT0.Add(-5*time.Minute - time.Second), ErrStale},
		{"body not JSON", []string{HeaderMuxSignature, SignMux([]byte(muxSecret), muxT0, []byte("x"))}, "x", muxT0, ErrMalformedBody},
		{"duplicate id", []string{HeaderMuxSignature, SignMux([]byte(muxSecret), muxT0, []byte(`{"id":"a","id":"b"}`))}, `{"id":"a","id":"b"}`, muxT0, ErrMalformedBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := newTestMux(t, tt.now).Verify(&Request{Header: header(tt.hdr...), Body: []byte(tt.body)})
			checkRejected(t, evs, err, tt.want)
		})
	}
}

func FuzzMux(f *testing.F) {
	f.Add("t=1565125718,v1="+muxSig, []byte(muxBody), int64(0), uint16(2))
	f.Add("t=,v1=,v1=", []byte(``), int64(-7), uint16(0))
	forged, err := NewMux(Keyring{"mux": {[]byte("fuzz-key-never-in-corpus")}}, 0, fixedClock(muxT0))
	if err != nil {
		f.Fatal(err)
	}
	v := newTestMux(f, muxT0)
	f.Fuzz(func(t *testing.T, sig string, body []byte, delta int64, flip uint16) {
		checkForgeryRefused(t, forged, &Request{Header: header(HeaderMuxSignature, sig), Body: body})
		h := header(HeaderMuxSignature, SignMux([]byte(muxSecret), muxT0.Add(time.Duration(delta%300)*time.Second), body))
		checkRoundTrip(t, v, &Request{Header: h, Body: body}, &Request{Header: h, Body: fuzzTamper(body, flip)}, ErrSignatureMismatch)
	})
}
