package verify

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

// trtcBody and trtcSign are the vector of PROVIDERS.md (key 123654).
const (
	trtcKey   = "123654"
	trtcAppID = "1400188888"
	trtcBody  = "{\n\t\"EventGroupId\":\t2,\n\t\"EventType\":\t204,\n\t\"CallbackTs\":\t1664209748188,\n\t\"EventInfo\":\t{\n\t\t\"RoomId\":\t8489,\n\t\t\"EventTs\":\t1664209748,\n\t\t\"EventMsTs\":\t1664209748180,\n\t\t\"UserId\":\t\"user_85034614\",\n\t\t\"Reason\":\t0\n\t}\n}"
	trtcSign  = "kkoFeO3Oh2ZHnjtg8tEAQhtXK16/KI05W3BQff8IvGA="
)

var trtcT0 = time.UnixMilli(1664209748188).UTC()

// newTestTRTC returns a TRTC verifier; a negative tol here means the check
// is off (TRTC.Off).
func newTestTRTC(t testing.TB, keys Keyring, tol time.Duration, now time.Time) *TRTC {
	t.Helper()
	if keys == nil {
		keys = Keyring{trtcAppID: {[]byte(trtcKey)}}
	}
	off := tol < 0
	if off {
		tol = 0
	}
	v, err := NewTRTC(keys, tol, fixedClock(now))
	if err != nil {
		t.Fatal(err)
	}
	v.Off = off
	return v
}

func TestSignTRTCVector(t *testing.T) {
	if got := SignTRTC([]byte(trtcKey), []byte(trtcBody)); got != trtcSign {
		t.Fatalf("SignTRTC = %s, want %s", got, trtcSign)
	}
}

func TestTRTCAccepts(t *testing.T) {
	twoApps := Keyring{trtcAppID: {[]byte("old"), []byte(trtcKey)}, "1400000002": {[]byte("other")}}
	noTs := `{"EventGroupId":1,"EventType":101}`
	tests := []struct {
		name string
		keys Keyring
		tol  time.Duration
		hdr  []string
		body string
		now  time.Time
		want Event
	}{
		{"vector", nil, 0, []string{"Sign", trtcSign, "SdkAppId", trtcAppID}, trtcBody, trtcT0,
			Event{Type: "204", Time: trtcT0, KeyID: trtcAppID}},
		{"no SdkAppId header, one app configured", nil, 0, []string{"Sign", trtcSign}, trtcBody, trtcT0,
			Event{Type: "204", Time: trtcT0, KeyID: trtcAppID}},
		{"rotation: second key", twoApps, 0, []string{"Sign", trtcSign, "SdkAppId", trtcAppID}, trtcBody, trtcT0,
			Event{Type: "204", Time: trtcT0, KeyID: trtcAppID}},
		{"five minutes late", nil, 0, []string{"Sign", trtcSign, "SdkAppId", trtcAppID}, trtcBody, trtcT0.Add(5 * time.Minute),
			Event{Type: "204", Time: trtcT0, KeyID: trtcAppID}},
		{"freshness off: a day late", nil, -1, []string{"Sign", trtcSign, "SdkAppId", trtcAppID}, trtcBody, trtcT0.Add(24 * time.Hour),
			Event{Type: "204", Time: trtcT0, KeyID: trtcAppID}},
		{"freshness off: no CallbackTs", nil, -1, []string{"Sign", SignTRTC([]byte(trtcKey), []byte(noTs)), "SdkAppId", trtcAppID}, noTs, trtcT0,
			Event{Type: "101", KeyID: trtcAppID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := newTestTRTC(t, tt.keys, tt.tol, tt.now).Verify(&Request{
				Header: header(tt.hdr...),
				Body:   []byte(tt.body),
			})
			checkErr(t, err, nil)
			tt.want.Provider, tt.want.Key, tt.want.Body = ProviderTencentTRTC, BodyKey(tt.want.KeyID, []byte(tt.body)), []byte(tt.body)
			checkOneEvent(t, evs, tt.want)
		})
	}
}

func TestTRTCRejects(t *testing.T) {
	twoApps := Keyring{trtcAppID: {[]byte(trtcKey)}, "1400000002": {[]byte("other")}}
	signed := func(body string) string { return SignTRTC([]byte(trtcKey), []byte(body)) }
	tests := []struct {
		name string
		keys Keyring
		hdr  []string
		body string
		now  time.Time
		want error
	}{
		{"no Sign", nil, []string{"SdkAppId", trtcAppID}, trtcBody, trtcT0, ErrMissingSignature},
		{"conflicting Sign headers", nil, []string{"Sign", trtcSign, "Sign", signed("{}"), "SdkAppId", trtcAppID}, trtcBody, trtcT0, ErrMalformedSignature},
		{"unknown SdkAppId", nil, []string{"Sign", trtcSign, "SdkAppId", "1400000009"}, trtcBody, trtcT0, ErrUnknownKey},
		{"no SdkAppId, two apps configured", twoApps, []string{"Sign", trtcSign}, trtcBody, trtcT0, ErrUnknownKey},
		{"Sign not base64", nil, []string{"Sign", "not base64!", "SdkAppId", trtcAppID}, trtcBody, trtcT0, ErrMalformedSignature},
		{"Sign too short", nil, []string{"Sign", base64.StdEncoding.EncodeToString([]byte("short")), "SdkAppId", trtcAppID}, trtcBody, trtcT0, ErrMalformedSignature},
		{"Sign of another key", nil, []string{"Sign", SignTRTC([]byte("654321"), []byte(trtcBody)), "SdkAppId", trtcAppID}, trtcBody, trtcT0, ErrSignatureMismatch},
		{"Sign of another app", twoApps, []string{"Sign", trtcSign, "SdkAppId", "1400000002"}, trtcBody, trtcT0, ErrSignatureMismatch},
		{"tampered body", nil, []string{"Sign", trtcSign, "SdkAppId", trtcAppID}, strings.Replace(trtcBody, "8489", "8490", 1), trtcT0, ErrSignatureMismatch},
		{"stale", nil, []string{"Sign", trtcSign, "SdkAppId", trtcAppID}, trtcBody, trtcT0.Add(5*time.Minute + time.Millisecond), ErrStale},
		{"from the future", nil, []string{"Sign", trtcSign, "SdkAppId", trtcAppID}, trtcBody, trtcT0.Add(-5*time.Minute - time.Millisecond), ErrStale},
		{"no CallbackTs", nil, []string{"Sign", signed(`{"EventType":101}`), "SdkAppId", trtcAppID}, `{"EventType":101}`, trtcT0, ErrMalformedBody},
		{"body not JSON", nil, []string{"Sign", signed(`hello`), "SdkAppId", trtcAppID}, `hello`, trtcT0, ErrMalformedBody},
		{"EventType not a number", nil, []string{"Sign", signed(`{"EventType":"x","CallbackTs":1664209748188}`), "SdkAppId", trtcAppID}, `{"EventType":"x","CallbackTs":1664209748188}`, trtcT0, ErrMalformedBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := newTestTRTC(t, tt.keys, 0, tt.now).Verify(&Request{
				Header: header(tt.hdr...),
				Body:   []byte(tt.body),
			})
			checkErr(t, err, tt.want)
			if evs != nil {
				t.Fatalf("events returned with error: %v", evs)
			}
		})
	}
}

func FuzzTRTC(f *testing.F) {
	// The verifier's key is not the vector's key: no input may verify.
	f.Add(trtcSign, trtcAppID, []byte(trtcBody))
	f.Add(SignTRTC([]byte(trtcKey), []byte(`{}`)), "", []byte(`{}`))
	f.Add("", "x", []byte(``))
	v := newTestTRTC(f, Keyring{trtcAppID: {[]byte("fuzzkeyNeverInCorpus0123456789ab")}}, -1, trtcT0)
	f.Fuzz(func(t *testing.T, sign, appID string, body []byte) {
		evs, err := v.Verify(&Request{Header: header("Sign", sign, "SdkAppId", appID), Body: body})
		if err == nil {
			t.Fatalf("forged Sign accepted: %q %q %q -> %v", sign, appID, body, evs)
		}
	})
}

func FuzzTRTCRoundTrip(f *testing.F) {
	f.Add([]byte(trtcBody), uint16(7))
	f.Add([]byte(`{}`), uint16(0))
	v := newTestTRTC(f, nil, -1, trtcT0)
	f.Fuzz(func(t *testing.T, body []byte, flip uint16) {
		sign := SignTRTC([]byte(trtcKey), body)
		_, err := v.Verify(&Request{Header: header("Sign", sign), Body: body})
		if err != nil && !errors.Is(err, ErrMalformedBody) {
			t.Fatalf("signed body rejected: %v", err)
		}
		if len(body) == 0 {
			return
		}
		tampered := append([]byte(nil), body...)
		tampered[int(flip)%len(tampered)] ^= 0x20
		if _, err := v.Verify(&Request{Header: header("Sign", sign), Body: tampered}); !errors.Is(err, ErrSignatureMismatch) {
			t.Fatalf("tampered body: err = %v, want ErrSignatureMismatch", err)
		}
	})
}

func BenchmarkVerifyTRTC(b *testing.B) {
	body := payload(1024, `"EventGroupId":2,"EventType":204,"CallbackTs":1664209748188,"EventInfo":{"RoomId":8489,"UserId":"user_85034614"},`)
	v := newTestTRTC(b, nil, 0, trtcT0)
	r := &Request{Header: header("Sign", SignTRTC([]byte(trtcKey), body), "SdkAppId", trtcAppID), Body: body}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}
