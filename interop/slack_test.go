package interop_test

// slack-go's SecretsVerifier (github.com/slack-go/slack) as a peer: each
// side accepts the other's X-Slack-Signature.

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/hookguard/hookguard/verify"
)

func TestSlackSDKAndHookguardAgree(t *testing.T) {
	const secret = "8f742231b10e8888abcd99yyyzzz85a5"
	v, err := verify.New(verify.ProviderSlack, verify.Options{Keys: map[string][]string{"app": {secret}}})
	if err != nil {
		t.Fatal(err)
	}
	// hookguard's Send: slack-go's verifier accepts it.
	p, _ := verify.Lookup(verify.ProviderSlack)
	out, err := p.Send(verify.Message{KeyID: "app", Secret: secret, ID: "Ev01", At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	sv, err := slack.NewSecretsVerifier(out.Header, secret)
	if err != nil {
		t.Fatal(err)
	}
	sv.Write(out.Body)
	if err := sv.Ensure(); err != nil {
		t.Fatalf("slack-go refused hookguard's signature: %v", err)
	}
	// slack-go computes the signature (its verifier's expected value is
	// what Slack sends): hookguard accepts the request it would accept.
	body := []byte(`{"type":"event_callback","event_id":"Ev02","event":{"type":"app_mention"}}`)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	h := http.Header{}
	h.Set(verify.HeaderSlackTimestamp, ts)
	h.Set(verify.HeaderSlackSignature, "v0=0000000000000000000000000000000000000000000000000000000000000000")
	sv, err = slack.NewSecretsVerifier(h, secret)
	if err != nil {
		t.Fatal(err)
	}
	sv.Write(body)
	if err := sv.Ensure(); err == nil {
		t.Fatal("slack-go accepted a zero signature")
	}
	tsInt, _ := strconv.ParseInt(ts, 10, 64)
	h.Set(verify.HeaderSlackSignature, verify.SignSlack([]byte(secret), time.Unix(tsInt, 0), body))
	sv, _ = slack.NewSecretsVerifier(h, secret)
	sv.Write(body)
	if err := sv.Ensure(); err != nil {
		t.Fatalf("slack-go refused: %v", err)
	}
	if _, err := v.Verify(&verify.Request{Header: h, Body: body}); err != nil {
		t.Fatalf("hookguard refused what slack-go accepts: %v", err)
	}
}
