package verify

import (
	"strings"
	"testing"
)

// The vector of PROVIDERS.md, from GitHub's docs.
const (
	ghSecret = "It's a Secret to Everybody"
	ghBody   = "Hello, World!"
	ghSig    = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
)

func newTestGitHub(t testing.TB, allowSHA1 bool) *GitHub {
	t.Helper()
	v, err := NewGitHub(Keyring{"repo": {[]byte(ghSecret)}}, allowSHA1)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSignGitHubVector(t *testing.T) {
	if got := SignGitHub([]byte(ghSecret), []byte(ghBody)); got != ghSig {
		t.Fatalf("SignGitHub = %s, want %s", got, ghSig)
	}
}

func TestGitHubAccepts(t *testing.T) {
	push := `{"ref":"refs/heads/main","after":"abc"}`
	tests := []struct {
		name      string
		allowSHA1 bool
		hdr       []string
		body      string
		id, typ   string
	}{
		{"vector", false, []string{HeaderGitHubSignature256, ghSig}, ghBody, "", ""},
		{"push with delivery and event", false, []string{HeaderGitHubSignature256, SignGitHub([]byte(ghSecret), []byte(push)),
			HeaderGitHubEvent, "push", HeaderGitHubDelivery, "72d3162e-cc78-11e3-81ab-4c9367dc0958"}, push, "72d3162e-cc78-11e3-81ab-4c9367dc0958", "push"},
		{"SHA-256 preferred over a wrong SHA-1", false, []string{HeaderGitHubSignature256, ghSig, HeaderGitHubSignature, "sha1=" + strings.Repeat("0", 40)}, ghBody, "", ""},
		{"SHA-1 alone with allow_sha1", true, []string{HeaderGitHubSignature, SignGitHubSHA1([]byte(ghSecret), []byte(ghBody))}, ghBody, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := newTestGitHub(t, tt.allowSHA1).Verify(&Request{Header: header(tt.hdr...), Body: []byte(tt.body)})
			checkErr(t, err, nil)
			checkOneEvent(t, evs, Event{Provider: ProviderGitHub, ID: tt.id, Key: BodyKey("repo", []byte(tt.body)), Type: tt.typ, KeyID: "repo", Body: []byte(tt.body)})
		})
	}
}

func TestGitHubRejects(t *testing.T) {
	sha1Sig := SignGitHubSHA1([]byte(ghSecret), []byte(ghBody))
	tests := []struct {
		name      string
		allowSHA1 bool
		hdr       []string
		body      string
		want      error
	}{
		{"no signature", false, nil, ghBody, ErrMissingSignature},
		{"SHA-1 alone without allow_sha1", false, []string{HeaderGitHubSignature, sha1Sig}, ghBody, ErrUnsupportedAlgorithm},
		{"wrong SHA-256, right SHA-1: no downgrade", true, []string{HeaderGitHubSignature256, SignGitHub([]byte("x"), []byte(ghBody)), HeaderGitHubSignature, sha1Sig}, ghBody, ErrSignatureMismatch},
		{"no sha256= prefix", false, []string{HeaderGitHubSignature256, strings.TrimPrefix(ghSig, "sha256=")}, ghBody, ErrMalformedSignature},
		{"sha1= in the SHA-256 header", false, []string{HeaderGitHubSignature256, sha1Sig}, ghBody, ErrMalformedSignature},
		{"upper-case hex", false, []string{HeaderGitHubSignature256, "sha256=" + strings.ToUpper(ghSig[7:])}, ghBody, ErrMalformedSignature},
		{"conflicting signatures", false, []string{HeaderGitHubSignature256, ghSig, HeaderGitHubSignature256, SignGitHub([]byte("x"), []byte(ghBody))}, ghBody, ErrMalformedSignature},
		{"conflicting deliveries", false, []string{HeaderGitHubSignature256, ghSig, HeaderGitHubDelivery, "a", HeaderGitHubDelivery, "b"}, ghBody, ErrMalformedSignature},
		{"wrong secret", false, []string{HeaderGitHubSignature256, SignGitHub([]byte("It's a secret to everybody"), []byte(ghBody))}, ghBody, ErrSignatureMismatch},
		{"tampered body", false, []string{HeaderGitHubSignature256, ghSig}, "Hello, World?", ErrSignatureMismatch},
		{"SHA-1 of a tampered body", true, []string{HeaderGitHubSignature, sha1Sig}, "Hello, World?", ErrSignatureMismatch},
		{"JSON with a duplicate member", false, []string{HeaderGitHubSignature256, SignGitHub([]byte(ghSecret), []byte(`{"a":1,"a":2}`))}, `{"a":1,"a":2}`, ErrMalformedBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := newTestGitHub(t, tt.allowSHA1).Verify(&Request{Header: header(tt.hdr...), Body: []byte(tt.body)})
			checkRejected(t, evs, err, tt.want)
		})
	}
}

func TestGitHubDedupeIgnoresTheUnsignedDelivery(t *testing.T) {
	v := newTestGitHub(t, false)
	var keys []string
	for _, d := range []string{"delivery-1", "delivery-2"} {
		evs, err := v.Verify(&Request{Header: header(HeaderGitHubSignature256, ghSig, HeaderGitHubDelivery, d), Body: []byte(ghBody)})
		checkErr(t, err, nil)
		keys = append(keys, evs[0].Key)
	}
	if keys[0] != keys[1] {
		t.Fatal("a replay with another X-GitHub-Delivery gets another dedupe key")
	}
}

func FuzzGitHub(f *testing.F) {
	f.Add(ghSig, SignGitHubSHA1([]byte(ghSecret), []byte(ghBody)), []byte(ghBody), uint16(0))
	f.Add("sha256=", "sha1=", []byte(`{}`), uint16(1))
	forged, err := NewGitHub(Keyring{"repo": {[]byte("fuzz-key-never-in-corpus")}}, true)
	if err != nil {
		f.Fatal(err)
	}
	v := newTestGitHub(f, false)
	f.Fuzz(func(t *testing.T, s256, s1 string, body []byte, flip uint16) {
		checkForgeryRefused(t, forged, &Request{Header: header(HeaderGitHubSignature256, s256, HeaderGitHubSignature, s1), Body: body})
		h := header(HeaderGitHubSignature256, SignGitHub([]byte(ghSecret), body))
		checkRoundTrip(t, v, &Request{Header: h, Body: body}, &Request{Header: h, Body: fuzzTamper(body, flip)}, ErrSignatureMismatch)
	})
}
