package verify

import (
	"net/url"
	"strings"
	"testing"
)

// The vectors of PROVIDERS.md, from twilio-go's
// client/request_validator_test.go.
const (
	twilioToken    = "12345"
	twilioURL      = "https://mycompany.com/myapp.php?foo=1&bar=2"
	twilioFormSig  = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
	twilioJSONBody = `{"property": "value", "boolean": true}`
	twilioJSONHash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
	twilioJSONSig  = "a9nBmqA0ju/hNViExpshrM61xv4="
)

var twilioParamsVector = url.Values{"Digits": {"1234"}, "CallSid": {"CA1234567890ABCDE"}, "To": {"+18005551212"},
	"Caller": {"+14158675309"}, "From": {"+14158675309"}}

const twilioJSONURL = twilioURL + "&bodySHA256=" + twilioJSONHash

func newTestTwilio(t testing.TB, publicURL string) *Twilio {
	t.Helper()
	v, err := NewTwilio(Keyring{"AC-main": {[]byte(twilioToken)}}, publicURL)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSignTwilioVectors(t *testing.T) {
	if got := SignTwilio([]byte(twilioToken), twilioURL, twilioParamsVector); got != twilioFormSig {
		t.Errorf("form: SignTwilio = %s, want %s", got, twilioFormSig)
	}
	if got := SignTwilio([]byte(twilioToken), twilioJSONURL, nil); got != twilioJSONSig {
		t.Errorf("JSON: SignTwilio = %s, want %s", got, twilioJSONSig)
	}
}

func TestTwilioAccepts(t *testing.T) {
	form := twilioParamsVector.Encode()
	withPort := strings.Replace(twilioURL, "mycompany.com", "mycompany.com:443", 1)
	tests := []struct {
		name, public, url, sig, body string
		hdr                          []string
		wantID, wantType             string
		keyURL                       string // the URL the key covers
	}{
		{name: "form vector", url: twilioURL, sig: twilioFormSig, body: form, keyURL: twilioURL},
		{name: "form: params in another order", url: twilioURL, sig: twilioFormSig,
			body: "To=%2B18005551212&Digits=1234&From=%2B14158675309&CallSid=CA1234567890ABCDE&Caller=%2B14158675309", keyURL: twilioURL},
		{name: "JSON vector", url: twilioJSONURL, sig: twilioJSONSig, body: twilioJSONBody, keyURL: twilioJSONURL},
		{name: "signed without the port, received with :443", url: withPort, sig: twilioFormSig, body: form, keyURL: withPort},
		{name: "public_url with the received query", public: "https://mycompany.com/myapp.php", url: "http://10.0.0.5:8080/twilio?foo=1&bar=2",
			sig: twilioFormSig, body: form, keyURL: twilioURL},
		{name: "idempotency token is the ID", url: twilioURL, sig: twilioFormSig, body: form, keyURL: twilioURL,
			hdr: []string{HeaderTwilioIdempotency, "idem-1"}, wantID: "idem-1"},
		{name: "status callback type", url: "https://h.example/s", sig: SignTwilio([]byte(twilioToken), "https://h.example/s", url.Values{"CallStatus": {"completed"}}),
			body: "CallStatus=completed", keyURL: "https://h.example/s", wantType: "completed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := header(append([]string{HeaderTwilioSignature, tt.sig}, tt.hdr...)...)
			evs, err := newTestTwilio(t, tt.public).Verify(&Request{Header: h, Body: []byte(tt.body), URL: tt.url})
			checkErr(t, err, nil)
			checkOneEvent(t, evs, Event{Provider: ProviderTwilio, ID: tt.wantID, Key: BodyKey("AC-main", []byte(tt.keyURL+"\x00"+tt.body)),
				Type: tt.wantType, KeyID: "AC-main", Body: []byte(tt.body)})
		})
	}
}

func TestTwilioRejects(t *testing.T) {
	form := twilioParamsVector.Encode()
	tests := []struct {
		name, public, url, body string
		hdr                     []string
		want                    error
	}{
		{"no signature", "", twilioURL, form, nil, ErrMissingSignature},
		{"signature not base64", "", twilioURL, form, []string{HeaderTwilioSignature, "!!"}, ErrMalformedSignature},
		{"signature of SHA-256 length", "", twilioURL, form, []string{HeaderTwilioSignature, signHMAC([]byte(twilioToken), []byte(form))}, ErrMalformedSignature},
		{"conflicting signatures", "", twilioURL, form, []string{HeaderTwilioSignature, twilioFormSig, HeaderTwilioSignature, twilioJSONSig}, ErrMalformedSignature},
		{"no URL known", "", "", form, []string{HeaderTwilioSignature, twilioFormSig}, ErrSignatureMismatch},
		{"wrong token", "", twilioURL, form, []string{HeaderTwilioSignature, SignTwilio([]byte("54321"), twilioURL, twilioParamsVector)}, ErrSignatureMismatch},
		{"other host", "", "https://evil.example/myapp.php?foo=1&bar=2", form, []string{HeaderTwilioSignature, twilioFormSig}, ErrSignatureMismatch},
		{"other query", "", "https://mycompany.com/myapp.php?foo=1&bar=3", form, []string{HeaderTwilioSignature, twilioFormSig}, ErrSignatureMismatch},
		{"public_url differs", "https://mycompany.com/other.php", "http://10.0.0.5/x?foo=1&bar=2", form, []string{HeaderTwilioSignature, twilioFormSig}, ErrSignatureMismatch},
		{"tampered parameter", "", twilioURL, strings.Replace(form, "1234", "9999", 1), []string{HeaderTwilioSignature, twilioFormSig}, ErrSignatureMismatch},
		{"added parameter", "", twilioURL, form + "&Extra=1", []string{HeaderTwilioSignature, twilioFormSig}, ErrSignatureMismatch},
		{"parameter named twice", "", twilioURL, form + "&To=%2B1999", []string{HeaderTwilioSignature, twilioFormSig}, ErrSignatureMismatch},
		{"body not a form", "", twilioURL, "a=%zz", []string{HeaderTwilioSignature, twilioFormSig}, ErrSignatureMismatch},
		{"JSON body without bodySHA256", "", twilioURL, twilioJSONBody, []string{HeaderTwilioSignature, twilioJSONSig}, ErrSignatureMismatch},
		{"JSON body changed", "", twilioJSONURL, `{"property": "other", "boolean": true}`, []string{HeaderTwilioSignature, twilioJSONSig}, ErrBodyMismatch},
		{"bodySHA256 not a hash", "", twilioURL + "&bodySHA256=abc", twilioJSONBody, []string{HeaderTwilioSignature, SignTwilio([]byte(twilioToken), twilioURL+"&bodySHA256=abc", nil)}, ErrMalformedSignature},
		{"JSON with a duplicate member", "", "", `{"a":1,"a":2}`, nil, ErrMalformedBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Request{Header: header(tt.hdr...), Body: []byte(tt.body), URL: tt.url}
			if tt.want == ErrMalformedBody {
				u, _ := TwilioJSONURL("https://h.example/j", r.Body)
				r.URL, r.Header = u, header(HeaderTwilioSignature, SignTwilio([]byte(twilioToken), u, nil))
			}
			evs, err := newTestTwilio(t, tt.public).Verify(r)
			checkRejected(t, evs, err, tt.want)
		})
	}
}

func TestNewTwilioRefusesBadPublicURL(t *testing.T) {
	for _, u := range []string{"hooks.example.com/twilio", "ftp://h/x", "https://h/x?a=1", "https://h/x#f", "https://user@h/x"} {
		if _, err := NewTwilio(Keyring{"a": {[]byte("t")}}, u); err == nil {
			t.Errorf("NewTwilio(%q) accepted", u)
		}
	}
}

func TestTwilioDedupeIgnoresTheUnsignedToken(t *testing.T) {
	// A replay with a new I-Twilio-Idempotency-Token has the same key.
	v := newTestTwilio(t, "")
	form := twilioParamsVector.Encode()
	var keys []string
	for _, tok := range []string{"idem-1", "idem-2"} {
		evs, err := v.Verify(&Request{Header: header(HeaderTwilioSignature, twilioFormSig, HeaderTwilioIdempotency, tok), Body: []byte(form), URL: twilioURL})
		checkErr(t, err, nil)
		keys = append(keys, evs[0].Key)
	}
	if keys[0] != keys[1] {
		t.Fatal("a replay with another idempotency token gets another dedupe key")
	}
}

func FuzzTwilio(f *testing.F) {
	f.Add(twilioFormSig, twilioURL, []byte(twilioParamsVector.Encode()), uint16(2))
	f.Add(twilioJSONSig, twilioJSONURL, []byte(twilioJSONBody), uint16(0))
	f.Add("", "https://h:443/x", []byte(`a=1&b=2`), uint16(1))
	forged := &Twilio{Keys: Keyring{"AC": {[]byte("fuzz-key-never-in-corpus")}}}
	v := newTestTwilio(f, "")
	f.Fuzz(func(t *testing.T, sig, u string, body []byte, flip uint16) {
		checkForgeryRefused(t, forged, &Request{Header: header(HeaderTwilioSignature, sig), Body: body, URL: u})
		// Round trip, JSON mode: bodySHA256 added to the URL.
		if pu, err := url.Parse(u); err == nil && pu.Scheme == "https" && pu.Host != "" {
			ju, err := TwilioJSONURL(u, body)
			if err != nil {
				return
			}
			h := header(HeaderTwilioSignature, SignTwilio([]byte(twilioToken), ju, nil))
			checkRoundTrip(t, v, &Request{Header: h, Body: body, URL: ju}, &Request{Header: h, Body: fuzzTamper(body, flip), URL: ju}, ErrBodyMismatch)
		}
		// Round trip, form mode, when the body is a form without repeats.
		params, err := url.ParseQuery(string(body))
		if err != nil {
			return
		}
		for _, vv := range params {
			if len(vv) != 1 {
				return
			}
		}
		h := header(HeaderTwilioSignature, SignTwilio([]byte(twilioToken), "https://h.example/t", params))
		if _, err := v.Verify(&Request{Header: h, Body: body, URL: "https://h.example/t"}); err != nil {
			t.Fatalf("signed form rejected: %v", err)
		}
	})
}
