package verify

import (
	"strings"
	"testing"
)

// The vector of PROVIDERS.md.
const (
	agoraSecret = "secret"
	agoraBody   = `{"eventType":10,"noticeId":"4eb720f0-8da7-11e9-a43e-53f411c2761f","notifyMs":1560408533119,"payload":{"a":"1","b":2},"productId":1}`
	agoraV2     = "de96da5acf03b0021ac3b4fa2225e7ae6f3533a30d50bb02c08ea4fa748bda24"
	agoraV1     = "5a3bb6a6d9fad2ea9ae3fb707a14c9d7f3136df1"
	agoraID     = "4eb720f0-8da7-11e9-a43e-53f411c2761f"
)

func newTestAgora(t testing.TB, allowSHA1 bool) *Agora {
	t.Helper()
	v, err := NewAgora(Keyring{"ncs": {[]byte(agoraSecret)}}, allowSHA1)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSignAgoraVector(t *testing.T) {
	if got := SignAgora([]byte(agoraSecret), []byte(agoraBody)); got != agoraV2 {
		t.Errorf("SignAgora = %s, want %s", got, agoraV2)
	}
	if got := SignAgoraSHA1([]byte(agoraSecret), []byte(agoraBody)); got != agoraV1 {
		t.Errorf("SignAgoraSHA1 = %s, want %s", got, agoraV1)
	}
}

func TestAgoraAccepts(t *testing.T) {
	want := Event{Provider: ProviderAgora, ID: agoraID, Key: idKey("ncs", agoraID), Type: "10",
		Time: timeMs(1560408533119), KeyID: "ncs", Body: []byte(agoraBody)}
	tests := []struct {
		name      string
		allowSHA1 bool
		hdr       []string
	}{
		{"vector V2", false, []string{"Agora-Signature-V2", agoraV2}},
		{"V2 preferred over a wrong V1", false, []string{"Agora-Signature-V2", agoraV2, "Agora-Signature", strings.Repeat("0", 40)}},
		{"V1 alone with allow_sha1", true, []string{"Agora-Signature", agoraV1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := newTestAgora(t, tt.allowSHA1).Verify(&Request{Header: header(tt.hdr...), Body: []byte(agoraBody)})
			checkErr(t, err, nil)
			checkOneEvent(t, evs, want)
		})
	}
}

func TestAgoraRejects(t *testing.T) {
	signed := func(body string) string { return SignAgora([]byte(agoraSecret), []byte(body)) }
	tests := []struct {
		name      string
		allowSHA1 bool
		hdr       []string
		body      string
		want      error
	}{
		{"no signature", false, nil, agoraBody, ErrMissingSignature},
		{"V1 alone without allow_sha1", false, []string{"Agora-Signature", agoraV1}, agoraBody, ErrUnsupportedAlgorithm},
		{"V2 wrong, V1 right: no downgrade", true, []string{"Agora-Signature-V2", signed("{}"), "Agora-Signature", agoraV1}, agoraBody, ErrSignatureMismatch},
		{"V2 upper case", false, []string{"Agora-Signature-V2", strings.ToUpper(agoraV2)}, agoraBody, ErrMalformedSignature},
		{"V2 too short", false, []string{"Agora-Signature-V2", agoraV2[:62]}, agoraBody, ErrMalformedSignature},
		{"V1 not hex", true, []string{"Agora-Signature", "zz" + agoraV1[2:]}, agoraBody, ErrMalformedSignature},
		{"conflicting V2 headers", false, []string{"Agora-Signature-V2", agoraV2, "Agora-Signature-V2", signed("{}")}, agoraBody, ErrMalformedSignature},
		{"wrong secret", false, []string{"Agora-Signature-V2", SignAgora([]byte("other"), []byte(agoraBody))}, agoraBody, ErrSignatureMismatch},
		{"tampered body", false, []string{"Agora-Signature-V2", agoraV2}, strings.Replace(agoraBody, `"b":2`, `"b":3`, 1), ErrSignatureMismatch},
		{"V1 of a tampered body", true, []string{"Agora-Signature", agoraV1}, agoraBody + " ", ErrSignatureMismatch},
		{"body not JSON", false, []string{"Agora-Signature-V2", signed("hello")}, "hello", ErrMalformedBody},
		{"duplicate noticeId", false, []string{"Agora-Signature-V2", signed(`{"noticeId":"a","noticeId":"b"}`)}, `{"noticeId":"a","noticeId":"b"}`, ErrMalformedBody},
		{"notifyMs out of range", false, []string{"Agora-Signature-V2", signed(`{"noticeId":"a","notifyMs":1}`)}, `{"noticeId":"a","notifyMs":1}`, ErrMalformedBody},
		{"eventType not a number", false, []string{"Agora-Signature-V2", signed(`{"eventType":"x"}`)}, `{"eventType":"x"}`, ErrMalformedBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := newTestAgora(t, tt.allowSHA1).Verify(&Request{Header: header(tt.hdr...), Body: []byte(tt.body)})
			checkRejected(t, evs, err, tt.want)
		})
	}
}

func TestAgoraDedupesOnNoticeID(t *testing.T) {
	// notifyMs changes on every retry; the key must not.
	retry := strings.Replace(agoraBody, "1560408533119", "1560408543119", 1)
	v := newTestAgora(t, false)
	a, err := v.Verify(&Request{Header: header("Agora-Signature-V2", agoraV2), Body: []byte(agoraBody)})
	checkErr(t, err, nil)
	b, err := v.Verify(&Request{Header: header("Agora-Signature-V2", SignAgora([]byte(agoraSecret), []byte(retry))), Body: []byte(retry)})
	checkErr(t, err, nil)
	if a[0].Key != b[0].Key {
		t.Fatalf("a retry has another key: %s, %s", a[0].Key, b[0].Key)
	}
}

func FuzzAgora(f *testing.F) {
	f.Add(agoraV2, agoraV1, []byte(agoraBody), uint16(3))
	f.Add("", agoraV1, []byte(`{}`), uint16(0))
	f.Add(strings.Repeat("a", 64), "", []byte(``), uint16(1))
	forged, err := NewAgora(Keyring{"ncs": {[]byte("fuzz-key-never-in-corpus")}}, true)
	if err != nil {
		f.Fatal(err)
	}
	v := newTestAgora(f, true)
	f.Fuzz(func(t *testing.T, v2, v1 string, body []byte, flip uint16) {
		checkForgeryRefused(t, forged, &Request{Header: header("Agora-Signature-V2", v2, "Agora-Signature", v1), Body: body})
		h := header("Agora-Signature-V2", SignAgora([]byte(agoraSecret), body))
		checkRoundTrip(t, v, &Request{Header: h, Body: body}, &Request{Header: h, Body: fuzzTamper(body, flip)}, ErrSignatureMismatch)
	})
}
