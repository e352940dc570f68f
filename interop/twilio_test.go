package interop_test

// twilio-go's RequestValidator (github.com/twilio/twilio-go/client) as a
// peer, for form and JSON (bodySHA256) posts: each signs what the other
// verifies.

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"sort"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"

	"github.com/hookguard/hookguard/verify"
)

const twilioToken = "twilio-interop-auth-token"

// twilioSDKSign signs as Twilio does, with twilio-go's validator as the
// oracle: the signature is computed the documented way and must pass
// RequestValidator before it is used, so the test relies on the SDK.
func twilioSDKSign(t *testing.T, rv *client.RequestValidator, u string, params map[string]string) string {
	t.Helper()
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := u
	for _, k := range keys {
		s += k + params[k]
	}
	m := hmac.New(sha1.New, []byte(twilioToken))
	m.Write([]byte(s))
	sig := base64.StdEncoding.EncodeToString(m.Sum(nil))
	if !rv.Validate(u, params, sig) {
		t.Fatal("twilio-go does not accept the documented signature")
	}
	return sig
}

func TestTwilioSDKAndHookguardAgree(t *testing.T) {
	rv := client.NewRequestValidator(twilioToken)
	v, err := verify.New(verify.ProviderTwilio, verify.Options{Keys: map[string][]string{"AC1": {twilioToken}}})
	if err != nil {
		t.Fatal(err)
	}
	const u = "https://hooks.example.com/twilio?tenant=a"

	// Form post, signed for twilio-go: hookguard accepts.
	params := map[string]string{"CallSid": "CA1", "CallStatus": "completed", "From": "+14158675309", "To": "+18005551212"}
	form := url.Values{}
	for k, val := range params {
		form.Set(k, val)
	}
	sig := twilioSDKSign(t, &rv, u, params)
	if _, err := v.Verify(&verify.Request{Header: headerOf(verify.HeaderTwilioSignature, sig), Body: []byte(form.Encode()), URL: u}); err != nil {
		t.Fatalf("hookguard refused a form signed as twilio-go validates: %v", err)
	}

	// hookguard's Send, form and JSON: twilio-go's ValidateBody accepts.
	p, _ := verify.Lookup(verify.ProviderTwilio)
	out, err := p.Send(verify.Message{KeyID: "AC1", Secret: twilioToken, ID: "idem-1", At: time.Now(), URL: u})
	if err != nil {
		t.Fatal(err)
	}
	if !rv.ValidateBody(u, out.Body, out.Header.Get(verify.HeaderTwilioSignature)) {
		t.Fatal("twilio-go refused hookguard's form signature")
	}
	jsonBody := []byte(`{"type":"com.twilio.messaging.message.delivered"}`)
	out, err = p.Send(verify.Message{KeyID: "AC1", Secret: twilioToken, ID: "idem-2", At: time.Now(), URL: u, Body: jsonBody})
	if err != nil {
		t.Fatal(err)
	}
	signedURL, _ := verify.TwilioJSONURL(u, jsonBody)
	if !rv.ValidateBody(signedURL, out.Body, out.Header.Get(verify.HeaderTwilioSignature)) {
		t.Fatal("twilio-go refused hookguard's JSON signature")
	}
	if _, err := v.Verify(&verify.Request{Header: out.Header, Body: out.Body, URL: signedURL}); err != nil {
		t.Fatalf("hookguard refused its own JSON post: %v", err)
	}
	// The vectors of twilio-go's own tests, through hookguard.
	vec := verify.SignTwilio([]byte("12345"), "https://mycompany.com/myapp.php?foo=1&bar=2", url.Values{"Digits": {"1234"},
		"CallSid": {"CA1234567890ABCDE"}, "To": {"+18005551212"}, "Caller": {"+14158675309"}, "From": {"+14158675309"}})
	vecRV := client.NewRequestValidator("12345")
	if !vecRV.Validate("https://mycompany.com/myapp.php?foo=1&bar=2", map[string]string{"Digits": "1234",
		"CallSid": "CA1234567890ABCDE", "To": "+18005551212", "Caller": "+14158675309", "From": "+14158675309"}, vec) {
		t.Fatal("twilio-go refused hookguard's signature of its own vector")
	}
}
