package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// Stripe publishes no vector: stripeVector is computed here with
// crypto/hmac from Stripe's documented steps (the whole whsec_ string as
// the key, t + "." + body, hex). The official library cross-checks in
// interop/stripe_test.go, and the round trip is fuzzed.
const (
	stripeSecret = "whsec_test_secret_0123456789abcdef"
	stripeTS     = 1700000000
	stripeBody   = `{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","created":1699999999,"type":"payment_intent.succeeded","data":{"object":{}}}`
)

var stripeT0 = time.Unix(stripeTS, 0).UTC()

func stripeVector(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("1700000000." + body))
	return hex.EncodeToString(m.Sum(nil))
}

func newTestStripe(t testing.TB, now time.Time) *Stripe {
	t.Helper()
	v, err := NewStripe(Keyring{"endpoint": {[]byte(stripeSecret)}}, 0, fixedClock(now))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSignStripeVector(t *testing.T) {
	if got, want := SignStripe([]byte(stripeSecret), stripeT0, []byte(stripeBody)), "t=1700000000,v1="+stripeVector(stripeSecret, stripeBody); got != want {
		t.Fatalf("SignStripe = %s, want %s", got, want)
	}
}

func TestStripeAccepts(t *testing.T) {
	sig := stripeVector(stripeSecret, stripeBody)
	old := stripeVector("whsec_old", stripeBody)
	want := Event{Provider: ProviderStripe, ID: "evt_1NG8Du2eZvKYlo2CUI79vXWy", Key: idKey("endpoint", "evt_1NG8Du2eZvKYlo2CUI79vXWy"),
		Type: "payment_intent.succeeded", Time: time.Unix(1699999999, 0).UTC(), KeyID: "endpoint", Body: []byte(stripeBody)}
	for _, hdr := range []string{
		"t=1700000000,v1=" + sig,
		"t=1700000000,v1=" + old + ",v1=" + sig,
		"t=1700000000,v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39,v1=" + sig,
	} {
		t.Run(hdr[:30], func(t *testing.T) {
			evs, err := newTestStripe(t, stripeT0.Add(300*time.Second)).Verify(&Request{Header: header(HeaderStripeSignature, hdr), Body: []byte(stripeBody)})
			checkErr(t, err, nil)
			checkOneEvent(t, evs, want)
		})
	}
}

func TestStripeRejects(t *testing.T) {
	good := "t=1700000000,v1=" + stripeVector(stripeSecret, stripeBody)
	decoded, _ := ParseStandardSecret("whsec_" + "dGVzdA==")
	tests := []struct {
		name, hdr, body string
		now             time.Time
		want            error
	}{
		{"no header", "", stripeBody, stripeT0, ErrMissingSignature},
		{"no t", "v1=" + stripeVector(stripeSecret, stripeBody), stripeBody, stripeT0, ErrMalformedSignature},
		{"only v0", "t=1700000000,v0=" + stripeVector(stripeSecret, stripeBody), stripeBody, stripeT0, ErrMalformedSignature},
		{"t with spaces inside", "t=17000 00000,v1=" + stripeVector(stripeSecret, stripeBody), stripeBody, stripeT0, ErrMalformedSignature},
		{"wrong secret", "t=1700000000,v1=" + stripeVector("whsec_other", stripeBody), stripeBody, stripeT0, ErrSignatureMismatch},
		{"secret base64-decoded (Standard Webhooks' way)", SignStripe(decoded, stripeT0, []byte(stripeBody)), stripeBody, stripeT0, ErrSignatureMismatch},
		{"tampered body", good, strings.Replace(stripeBody, "succeeded", "failed", 1), stripeT0, ErrSignatureMismatch},
		{"other t", "t=1700000001,v1=" + stripeVector(stripeSecret, stripeBody), stripeBody, stripeT0, ErrSignatureMismatch},
		{"stale", good, stripeBody, stripeT0.Add(301 * time.Second), ErrStale},
		{"from the future", good, stripeBody, stripeT0.Add(-301 * time.Second), ErrStale},
		{"body not JSON", "t=1700000000,v1=" + stripeVector(stripeSecret, "x"), "x", stripeT0, ErrMalformedBody},
		{"duplicate id", "t=1700000000,v1=" + stripeVector(stripeSecret, `{"id":"a","id":"b"}`), `{"id":"a","id":"b"}`, stripeT0, ErrMalformedBody},
		{"created out of range", "t=1700000000,v1=" + stripeVector(stripeSecret, `{"created":99999999999}`), `{"created":99999999999}`, stripeT0, ErrMalformedBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := newTestStripe(t, tt.now).Verify(&Request{Header: header(HeaderStripeSignature, tt.hdr), Body: []byte(tt.body)})
			checkRejected(t, evs, err, tt.want)
		})
	}
}

func FuzzStripe(f *testing.F) {
	f.Add("t=1700000000,v1="+stripeVector(stripeSecret, stripeBody), []byte(stripeBody), int64(0), uint16(3))
	f.Add("t=1,v1=,v0=", []byte(``), int64(-250), uint16(0))
	forged, err := NewStripe(Keyring{"endpoint": {[]byte("whsec_fuzz-key-never-in-corpus")}}, 0, fixedClock(stripeT0))
	if err != nil {
		f.Fatal(err)
	}
	v := newTestStripe(f, stripeT0)
	f.Fuzz(func(t *testing.T, sig string, body []byte, delta int64, flip uint16) {
		checkForgeryRefused(t, forged, &Request{Header: header(HeaderStripeSignature, sig), Body: body})
		h := header(HeaderStripeSignature, SignStripe([]byte(stripeSecret), stripeT0.Add(time.Duration(delta%300)*time.Second), body))
		checkRoundTrip(t, v, &Request{Header: h, Body: body}, &Request{Header: h, Body: fuzzTamper(body, flip)}, ErrSignatureMismatch)
	})
}
