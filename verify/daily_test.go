package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Daily publishes no vector: dailyVector below is computed here with
// crypto/hmac from the steps Daily's community code takes (decode the
// base64 secret, HMAC-SHA256 over "ts.body", standard base64), and the
// round trip is fuzzed.
const (
	dailySecret = "c2VjcmV0LWZvci1kYWlseS13ZWJob29rcw==" // base64("secret-for-daily-webhooks")
	dailyBody   = `{"version":"1.0.0","type":"meeting.started","id":"ev-daily-1","payload":{"room":"demo"},"event_ts":1708972279.961}`
	dailyTS     = 1708972280
)

var dailyT0 = time.Unix(dailyTS, 0).UTC()

func dailyVector(t testing.TB) string {
	m := hmac.New(sha256.New, []byte("secret-for-daily-webhooks"))
	m.Write([]byte(strconv.Itoa(dailyTS) + "." + dailyBody))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func newTestDaily(t testing.TB, now time.Time) *Daily {
	t.Helper()
	key, err := ParseDailySecret(dailySecret)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewDaily(Keyring{"daily": {key}}, 0, fixedClock(now))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSignDailyVector(t *testing.T) {
	key, err := ParseDailySecret(dailySecret)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := SignDaily(key, dailyT0, []byte(dailyBody)), dailyVector(t); got != want {
		t.Fatalf("SignDaily = %s, want %s", got, want)
	}
	if _, err := ParseDailySecret("not base64!"); err == nil || strings.Contains(err.Error(), "not base64!") {
		t.Fatalf("ParseDailySecret: %v", err)
	}
}

func TestDailyAccepts(t *testing.T) {
	key, _ := ParseDailySecret(dailySecret)
	test := []byte(`{"test":"test"}`)
	tests := []struct {
		name string
		body string
		now  time.Time
		want Event
	}{
		{"vector", dailyBody, dailyT0, Event{ID: "ev-daily-1", Key: idKey("daily", "ev-daily-1"), Type: "meeting.started"}},
		{"five minutes late", dailyBody, dailyT0.Add(5 * time.Minute), Event{ID: "ev-daily-1", Key: idKey("daily", "ev-daily-1"), Type: "meeting.started"}},
		{"the test POST at creation", string(test), dailyT0, Event{Key: BodyKey("daily", test)}},
		{"a body that is not JSON", "ping", dailyT0, Event{Key: BodyKey("daily", []byte("ping"))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := header(HeaderDailySignature, SignDaily(key, dailyT0, []byte(tt.body)), HeaderDailyTimestamp, strconv.Itoa(dailyTS))
			evs, err := newTestDaily(t, tt.now).Verify(&Request{Header: h, Body: []byte(tt.body)})
			checkErr(t, err, nil)
			tt.want.Provider, tt.want.Time, tt.want.KeyID, tt.want.Body = ProviderDaily, dailyT0, "daily", []byte(tt.body)
			checkOneEvent(t, evs, tt.want)
		})
	}
}

func TestDailyRejects(t *testing.T) {
	sig := dailyVector(t)
	ts := strconv.Itoa(dailyTS)
	tests := []struct {
		name string
		hdr  []string
		body string
		now  time.Time
		want error
	}{
		{"no headers", nil, dailyBody, dailyT0, ErrMissingSignature},
		{"no timestamp", []string{HeaderDailySignature, sig}, dailyBody, dailyT0, ErrMissingSignature},
		{"no signature", []string{HeaderDailyTimestamp, ts}, dailyBody, dailyT0, ErrMissingSignature},
		{"timestamp not a number", []string{HeaderDailySignature, sig, HeaderDailyTimestamp, "soon"}, dailyBody, dailyT0, ErrMalformedSignature},
		{"timestamp in milliseconds", []string{HeaderDailySignature, sig, HeaderDailyTimestamp, ts + "000"}, dailyBody, dailyT0, ErrMalformedSignature},
		{"signature not base64", []string{HeaderDailySignature, "***", HeaderDailyTimestamp, ts}, dailyBody, dailyT0, ErrMalformedSignature},
		{"signature unpadded", []string{HeaderDailySignature, strings.TrimRight(sig, "="), HeaderDailyTimestamp, ts}, dailyBody, dailyT0, ErrMalformedSignature},
		{"wrong secret", []string{HeaderDailySignature, SignDaily([]byte("other"), dailyT0, []byte(dailyBody)), HeaderDailyTimestamp, ts}, dailyBody, dailyT0, ErrSignatureMismatch},
		{"secret used undecoded", []string{HeaderDailySignature, SignDaily([]byte(dailySecret), dailyT0, []byte(dailyBody)), HeaderDailyTimestamp, ts}, dailyBody, dailyT0, ErrSignatureMismatch},
		{"tampered body", []string{HeaderDailySignature, sig, HeaderDailyTimestamp, ts}, dailyBody + " ", dailyT0, ErrSignatureMismatch},
		{"other timestamp", []string{HeaderDailySignature, sig, HeaderDailyTimestamp, strconv.Itoa(dailyTS + 1)}, dailyBody, dailyT0, ErrSignatureMismatch},
		{"stale", []string{HeaderDailySignature, sig, HeaderDailyTimestamp, ts}, dailyBody, dailyT0.Add(5*time.Minute + time.Second), ErrStale},
		{"from the future", []string{HeaderDailySignature, sig, HeaderDailyTimestamp, ts}, dailyBody, dailyT0.Add(-5*time.Minute - time.Second), ErrStale},
		{"duplicate member", []string{HeaderDailySignature, signDailyT0(`{"id":"a","id":"b"}`), HeaderDailyTimestamp, ts}, `{"id":"a","id":"b"}`, dailyT0, ErrMalformedBody},
		{"id not a string", []string{HeaderDailySignature, signDailyT0(`{"id":5}`), HeaderDailyTimestamp, ts}, `{"id":5}`, dailyT0, ErrMalformedBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := newTestDaily(t, tt.now).Verify(&Request{Header: header(tt.hdr...), Body: []byte(tt.body)})
			checkRejected(t, evs, err, tt.want)
		})
	}
}

func signDailyT0(body string) string {
	key, _ := ParseDailySecret(dailySecret)
	return SignDaily(key, dailyT0, []byte(body))
}

func FuzzDaily(f *testing.F) {
	f.Add(dailyVector(f), strconv.Itoa(dailyTS), []byte(dailyBody), int64(0), uint16(1))
	f.Add("", "0", []byte(``), int64(-299), uint16(0))
	forged, err := NewDaily(Keyring{"daily": {[]byte("fuzz-key-never-in-corpus")}}, 0, fixedClock(dailyT0))
	if err != nil {
		f.Fatal(err)
	}
	v := newTestDaily(f, dailyT0)
	key, _ := ParseDailySecret(dailySecret)
	f.Fuzz(func(t *testing.T, sig, ts string, body []byte, delta int64, flip uint16) {
		checkForgeryRefused(t, forged, &Request{Header: header(HeaderDailySignature, sig, HeaderDailyTimestamp, ts), Body: body})
		at := dailyT0.Add(time.Duration(delta%300) * time.Second)
		h := header(HeaderDailySignature, SignDaily(key, at, body), HeaderDailyTimestamp, strconv.FormatInt(at.Unix(), 10))
		checkRoundTrip(t, v, &Request{Header: h, Body: body}, &Request{Header: h, Body: fuzzTamper(body, flip)}, ErrSignatureMismatch)
	})
}
