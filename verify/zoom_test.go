package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Zoom publishes no vector: zoomVector is computed here with crypto/hmac
// from Zoom's documented steps ("v0:" + timestamp + ":" + body, hex), and
// the round trip is fuzzed.
const (
	zoomSecret = "zoom-secret-token"
	zoomTS     = 1700000000
	zoomBody   = `{"event":"meeting.started","event_ts":1700000000123,"payload":{"account_id":"a1","object":{"id":"85634961234"}}}`
	zoomChal   = `{"event":"endpoint.url_validation","event_ts":1700000000123,"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"}}`
)

var zoomT0 = time.Unix(zoomTS, 0).UTC()

func zoomVector(body string) string {
	m := hmac.New(sha256.New, []byte(zoomSecret))
	m.Write([]byte("v0:" + strconv.Itoa(zoomTS) + ":" + body))
	return "v0=" + hex.EncodeToString(m.Sum(nil))
}

func newTestZoom(t testing.TB, now time.Time) *Zoom {
	t.Helper()
	v, err := NewZoom(Keyring{"zoom-app": {[]byte("old-token"), []byte(zoomSecret)}}, 0, fixedClock(now))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func zoomHeader(sig string, ts int) []string {
	return []string{HeaderZoomSignature, sig, HeaderZoomTimestamp, strconv.Itoa(ts)}
}

func TestSignZoomVector(t *testing.T) {
	if got, want := SignZoom([]byte(zoomSecret), zoomT0, []byte(zoomBody)), zoomVector(zoomBody); got != want {
		t.Fatalf("SignZoom = %s, want %s", got, want)
	}
}

func TestZoomAccepts(t *testing.T) {
	evs, err := newTestZoom(t, zoomT0.Add(5*time.Minute)).Verify(&Request{Header: header(zoomHeader(zoomVector(zoomBody), zoomTS)...), Body: []byte(zoomBody)})
	checkErr(t, err, nil)
	checkOneEvent(t, evs, Event{Provider: ProviderZoom, Key: BodyKey("zoom-app", []byte(zoomBody)), Type: "meeting.started",
		Time: timeMs(1700000000123), KeyID: "zoom-app", Body: []byte(zoomBody)})
	if evs[0].Challenge != nil {
		t.Fatal("an event is answered as a challenge")
	}
}

func TestZoomChallenge(t *testing.T) {
	evs, err := newTestZoom(t, zoomT0).Verify(&Request{Header: header(zoomHeader(zoomVector(zoomChal), zoomTS)...), Body: []byte(zoomChal)})
	checkErr(t, err, nil)
	c := evs[0].Challenge
	if c == nil || c.ContentType != "application/json" {
		t.Fatalf("challenge = %+v", c)
	}
	m := hmac.New(sha256.New, []byte(zoomSecret))
	m.Write([]byte("qgg8vlvZRS6UYooatFL8Aw"))
	want := `{"encryptedToken":"` + hex.EncodeToString(m.Sum(nil)) + `","plainToken":"qgg8vlvZRS6UYooatFL8Aw"}`
	if string(c.Body) != want {
		t.Fatalf("answer %s, want %s", c.Body, want)
	}
}

func TestZoomRejects(t *testing.T) {
	sig := zoomVector(zoomBody)
	signed := func(body string) []string { return zoomHeader(zoomVector(body), zoomTS) }
	tests := []struct {
		name string
		hdr  []string
		body string
		now  time.Time
		want error
	}{
		{"no headers", nil, zoomBody, zoomT0, ErrMissingSignature},
		{"no timestamp", []string{HeaderZoomSignature, sig}, zoomBody, zoomT0, ErrMissingSignature},
		{"no signature", []string{HeaderZoomTimestamp, strconv.Itoa(zoomTS)}, zoomBody, zoomT0, ErrMissingSignature},
		{"no v0= prefix", zoomHeader(strings.TrimPrefix(sig, "v0="), zoomTS), zoomBody, zoomT0, ErrMalformedSignature},
		{"v1= prefix", zoomHeader("v1="+strings.TrimPrefix(sig, "v0="), zoomTS), zoomBody, zoomT0, ErrMalformedSignature},
		{"not hex", zoomHeader("v0=xyz", zoomTS), zoomBody, zoomT0, ErrMalformedSignature},
		{"timestamp out of range", zoomHeader(sig, 12), zoomBody, zoomT0, ErrMalformedSignature},
		{"wrong secret", zoomHeader(SignZoom([]byte("other"), zoomT0, []byte(zoomBody)), zoomTS), zoomBody, zoomT0, ErrSignatureMismatch},
		{"tampered body", zoomHeader(sig, zoomTS), strings.Replace(zoomBody, "a1", "a2", 1), zoomT0, ErrSignatureMismatch},
		{"other timestamp", zoomHeader(sig, zoomTS+1), zoomBody, zoomT0, ErrSignatureMismatch},
		{"stale", zoomHeader(sig, zoomTS), zoomBody, zoomT0.Add(5*time.Minute + time.Second), ErrStale},
		{"from the future", zoomHeader(sig, zoomTS), zoomBody, zoomT0.Add(-5*time.Minute - time.Second), ErrStale},
		{"forged challenge", zoomHeader(sig, zoomTS), zoomChal, zoomT0, ErrSignatureMismatch},
		{"body not JSON", signed("hi"), "hi", zoomT0, ErrMalformedBody},
		{"challenge without plainToken", signed(`{"event":"endpoint.url_validation","payload":{}}`), `{"event":"endpoint.url_validation","payload":{}}`, zoomT0, ErrMalformedBody},
		{"duplicate event", signed(`{"event":"a","event":"endpoint.url_validation"}`), `{"event":"a","event":"endpoint.url_validation"}`, zoomT0, ErrMalformedBody},
		{"duplicate plainToken", signed(`{"event":"endpoint.url_validation","payload":{"plainToken":"a","plainToken":"b"}}`), `{"event":"endpoint.url_validation","payload":{"plainToken":"a","plainToken":"b"}}`, zoomT0, ErrMalformedBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := newTestZoom(t, tt.now).Verify(&Request{Header: header(tt.hdr...), Body: []byte(tt.body)})
			checkRejected(t, evs, err, tt.want)
		})
	}
}

func FuzzZoom(f *testing.F) {
	f.Add(zoomVector(zoomBody), strconv.Itoa(zoomTS), []byte(zoomBody), int64(0), uint16(1))
	f.Add(zoomVector(zoomChal), strconv.Itoa(zoomTS), []byte(zoomChal), int64(5), uint16(9))
	f.Add("v0=", "", []byte(``), int64(-1), uint16(0))
	forged, err := NewZoom(Keyring{"z": {[]byte("fuzz-key-never-in-corpus")}}, 0, fixedClock(zoomT0))
	if err != nil {
		f.Fatal(err)
	}
	v := newTestZoom(f, zoomT0)
	f.Fuzz(func(t *testing.T, sig, ts string, body []byte, delta int64, flip uint16) {
		checkForgeryRefused(t, forged, &Request{Header: header(HeaderZoomSignature, sig, HeaderZoomTimestamp, ts), Body: body})
		at := zoomT0.Add(time.Duration(delta%300) * time.Second)
		h := header(HeaderZoomSignature, SignZoom([]byte(zoomSecret), at, body), HeaderZoomTimestamp, strconv.FormatInt(at.Unix(), 10))
		checkRoundTrip(t, v, &Request{Header: h, Body: body}, &Request{Header: h, Body: fuzzTamper(body, flip)}, ErrSignatureMismatch)
	})
}
