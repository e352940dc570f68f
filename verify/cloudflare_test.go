package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// Cloudflare publishes no vector: cfVector is computed here with
// crypto/hmac from Cloudflare's documented steps (time + "." + body, hex),
// and the round trip is fuzzed.
const (
	cfSecret = "cloudflare-stream-webhook-secret"
	cfTS     = 1700000000
	cfBody   = `{"uid":"dd5d531a12de0c724bd1275a3b2bc9c6","readyToStream":true,"status":{"state":"ready"},"meta":{"name":"a.mp4"}}`
)

var cfT0 = time.Unix(cfTS, 0).UTC()

func cfVector(body string) string {
	m := hmac.New(sha256.New, []byte(cfSecret))
	m.Write([]byte("1700000000." + body))
	return "time=1700000000,sig1=" + hex.EncodeToString(m.Sum(nil))
}

func newTestCloudflare(t testing.TB, now time.Time) *CloudflareStream {
	t.Helper()
	v, err := NewCloudflareStream(Keyring{"cf": {[]byte(cfSecret)}}, 0, fixedClock(now))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSignCloudflareStreamVector(t *testing.T) {
	if got, want := SignCloudflareStream([]byte(cfSecret), cfT0, []byte(cfBody)), cfVector(cfBody); got != want {
		t.Fatalf("SignCloudflareStream = %s, want %s", got, want)
	}
}

func TestCloudflareStreamAccepts(t *testing.T) {
	noUID := `{"status":{"state":"error"}}`
	tests := []struct {
		name, body string
		want       Event
	}{
		{"uid and state", cfBody, Event{Key: BodyKey("cf", []byte("dd5d531a12de0c724bd1275a3b2bc9c6\x00ready")), Type: "ready"}},
		{"no uid: body hash", noUID, Event{Key: BodyKey("cf", []byte(noUID)), Type: "error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := header("webhook-signature", cfVector(tt.body))
			evs, err := newTestCloudflare(t, cfT0.Add(5*time.Minute)).Verify(&Request{Header: h, Body: []byte(tt.body)})
			checkErr(t, err, nil)
			tt.want.Provider, tt.want.Time, tt.want.KeyID, tt.want.Body = ProviderCloudflareStream, cfT0, "cf", []byte(tt.body)
			checkOneEvent(t, evs, tt.want)
		})
	}
}

func TestCloudflareStreamRejects(t *testing.T) {
	good := cfVector(cfBody)
	tests := []struct {
		name string
		hdr  []string
		body string
		now  time.Time
		want error
	}{
		{"no header", nil, cfBody, cfT0, ErrMissingSignature},
		{"no time", []string{HeaderCloudflareStreamSignature, strings.Replace(good, "time=1700000000,", "", 1)}, cfBody, cfT0, ErrMalformedSignature},
		{"no sig1", []string{HeaderCloudflareStreamSignature, "time=1700000000"}, cfBody, cfT0, ErrMalformedSignature},
		{"Standard Webhooks form", []string{HeaderCloudflareStreamSignature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}, cfBody, cfT0, ErrMalformedSignature},
		{"wrong secret", []string{HeaderCloudflareStreamSignature, SignCloudflareStream([]byte("other"), cfT0, []byte(cfBody))}, cfBody, cfT0, ErrSignatureMismatch},
		{"tampered body", []string{HeaderCloudflareStreamSignature, good}, strings.Replace(cfBody, "ready\"}", "error\"}", 1), cfT0, ErrSignatureMismatch},
		{"stale", []string{HeaderCloudflareStreamSignature, good}, cfBody, cfT0.Add(5*time.Minute + time.Second), ErrStale},
		{"body not JSON", []string{HeaderCloudflareStreamSignature, cfVector("x")}, "x", cfT0, ErrMalformedBody},
		{"status not an object", []string{HeaderCloudflareStreamSignature, cfVector(`{"status":"ready"}`)}, `{"status":"ready"}`, cfT0, ErrMalformedBody},
		{"duplicate state", []string{HeaderCloudflareStreamSignature, cfVector(`{"status":{"state":"a","state":"b"}}`)}, `{"status":{"state":"a","state":"b"}}`, cfT0, ErrMalformedBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := newTestCloudflare(t, tt.now).Verify(&Request{Header: header(tt.hdr...), Body: []byte(tt.body)})
			checkRejected(t, evs, err, tt.want)
		})
	}
}

func FuzzCloudflareStream(f *testing.F) {
	f.Add(cfVector(cfBody), []byte(cfBody), int64(0), uint16(5))
	f.Add("time=,sig1=", []byte(`{}`), int64(3), uint16(0))
	forged, err := NewCloudflareStream(Keyring{"cf": {[]byte("fuzz-key-never-in-corpus")}}, 0, fixedClock(cfT0))
	if err != nil {
		f.Fatal(err)
	}
	v := newTestCloudflare(f, cfT0)
	f.Fuzz(func(t *testing.T, sig string, body []byte, delta int64, flip uint16) {
		checkForgeryRefused(t, forged, &Request{Header: header(HeaderCloudflareStreamSignature, sig), Body: body})
		h := header(HeaderCloudflareStreamSignature, SignCloudflareStream([]byte(cfSecret), cfT0.Add(time.Duration(delta%300)*time.Second), body))
		checkRoundTrip(t, v, &Request{Header: h, Body: body}, &Request{Header: h, Body: fuzzTamper(body, flip)}, ErrSignatureMismatch)
	})
}
