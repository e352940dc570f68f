package interop_test

// go-github's ValidateSignature (github.com/google/go-github/v72) as a
// peer: each side accepts the other's X-Hub-Signature-256.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/google/go-github/v72/github"

	"github.com/hookguard/hookguard/verify"
)

func TestGitHubSDKAndHookguardAgree(t *testing.T) {
	const secret = "It's a Secret to Everybody"
	v, err := verify.New(verify.ProviderGitHub, verify.Options{Keys: map[string][]string{"repo": {secret}}})
	if err != nil {
		t.Fatal(err)
	}
	// A signature go-github accepts, as GitHub computes it: hookguard
	// accepts it too.
	body := []byte(`{"zen":"Design for failure.","hook_id":1}`)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	sig := "sha256=" + hex.EncodeToString(m.Sum(nil))
	if err := github.ValidateSignature(sig, body, []byte(secret)); err != nil {
		t.Fatalf("go-github refused the documented signature: %v", err)
	}
	if _, err := v.Verify(&verify.Request{Header: headerOf(verify.HeaderGitHubSignature256, sig), Body: body}); err != nil {
		t.Fatalf("hookguard refused what go-github accepts: %v", err)
	}
	// hookguard's Send: go-github accepts it, and refuses another secret.
	p, _ := verify.Lookup(verify.ProviderGitHub)
	out, err := p.Send(verify.Message{KeyID: "repo", Secret: secret, ID: "d-1", At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := github.ValidateSignature(out.Header.Get(verify.HeaderGitHubSignature256), out.Body, []byte(secret)); err != nil {
		t.Fatalf("go-github refused hookguard's signature: %v", err)
	}
	if err := github.ValidateSignature(out.Header.Get(verify.HeaderGitHubSignature256), out.Body, []byte("other")); err == nil {
		t.Fatal("go-github accepted another secret")
	}
	if hook, err := github.ParseWebHook(out.Header.Get(verify.HeaderGitHubEvent), out.Body); err != nil || hook == nil {
		t.Fatalf("go-github cannot parse the sample ping: %v", err)
	}
}
