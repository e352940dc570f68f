package verify

import (
	"errors"
	"testing"
	"time"
)

// sampleURL is where the table test's webhooks are posted (Twilio signs
// it).
const sampleURL = "https://hooks.example.com/webhook"

// sampleSecrets returns a secret New accepts for p, and another of the
// same kind, as a forger would have.
func sampleSecrets(p Provider) (secret, forged string) {
	switch p.Name {
	case ProviderStandardWebhooks:
		return stdSecret, "whsec_Zm9yZ2VkZm9yZ2VkZm9yZ2VkZm9yZ2Vk"
	case ProviderDaily:
		return "ZGFpbHktdGFibGUtdGVzdC1zZWNyZXQtMDEyMzQ1Njc4OQ==", "Zm9yZ2VkZm9yZ2VkZm9yZ2VkZm9yZ2Vk"
	}
	return "provider-table-test-secret-0123456789", "forged-forged-forged-forged"
}

// sampleOptions returns options New accepts for p, and the secret to sign
// with.
func sampleOptions(p Provider) (Options, string) {
	secret, _ := sampleSecrets(p)
	o := Options{Keys: map[string][]string{"1400000000": {secret}}}
	if p.Name == ProviderHMAC {
		o.HMAC = &SampleHMACConfig
	}
	return o, secret
}

// requestOf is the request a verifier sees for out posted to sampleURL.
func requestOf(out Outgoing) *Request {
	u := sampleURL
	if len(out.Query) > 0 {
		u += "?" + out.Query.Encode()
	}
	return &Request{Header: out.Header, Query: out.Query, Body: out.Body, URL: u}
}

// Every line of the provider table states every required fact, and its
// sender's request passes its own verifier: a provider registered without
// one fails here.
func TestProviderTableIsComplete(t *testing.T) {
	at := time.Unix(1795344706, 0)
	seen := map[string]bool{}
	for _, p := range providers {
		t.Run(p.Name, func(t *testing.T) {
			if p.Name == "" || seen[p.Name] {
				t.Fatalf("empty or repeated name %q", p.Name)
			}
			seen[p.Name] = true
			if p.KeyID == "" || p.New == nil || p.Send == nil {
				t.Fatalf("line lacks KeyID, New or Send: %+v", p)
			}
			opts, secret := sampleOptions(p)
			opts.Now = func() time.Time { return at }
			v, err := New(p.Name, opts)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := v.(SignatureHeaderer); !ok {
				t.Error("verifier states no SignatureHeaders")
			}
			ft, ok := v.(ForwardTimeouter)
			if !ok || ft.ForwardTimeout() <= 0 {
				t.Error("verifier states no positive ForwardTimeout")
			}
			if _, ok := v.(ReplayWindower); !ok {
				t.Error("verifier states no ReplayWindow")
			}

			out, err := p.Send(Message{KeyID: "1400000000", Secret: secret, ID: "ev-table-1", At: at, URL: sampleURL})
			if err != nil {
				t.Fatal(err)
			}
			evs, err := v.Verify(requestOf(out))
			if err != nil {
				t.Fatalf("the provider's own sender does not verify: %v", err)
			}
			if len(evs) != 1 || evs[0].Provider != p.Name || evs[0].KeyID != "1400000000" || evs[0].Key == "" || evs[0].Challenge != nil {
				t.Fatalf("events %+v", evs)
			}
			// A signature header named by the verifier is one the sender sets.
			if sh, ok := v.(SignatureHeaderer); ok {
				for _, h := range sh.SignatureHeaders() {
					if out.Header.Get(h) == "" && h != "Svix-Signature" {
						t.Errorf("SignatureHeaders names %q, which the sender does not set", h)
					}
				}
			}
			// And a forged copy does not verify.
			_, forgedSecret := sampleSecrets(p)
			forged, err := p.Send(Message{KeyID: "1400000000", Secret: forgedSecret, ID: "ev-table-1", At: at, URL: sampleURL})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(requestOf(forged)); err == nil {
				t.Error("a request signed with another secret verifies")
			}
		})
	}
	if len(Providers()) != len(providers) {
		t.Fatal("Providers() and the table disagree")
	}
	if _, err := Lookup("nope"); !errors.Is(err, ErrUnknownProvider) {
		t.Fatalf("Lookup(nope) = %v", err)
	}
}

func TestReplayWindows(t *testing.T) {
	keys := map[string][]string{"1400000000": {"cHJvdmlkZXItdGFibGUtdGVzdC1zZWNyZXQ="}}
	cases := []struct {
		provider string
		opts     Options
		want     time.Duration
	}{
		{ProviderLiveKit, Options{}, DefaultLiveKitMaxLifetime + time.Minute},
		{ProviderLiveKit, Options{MaxTokenLifetime: 5 * time.Minute, Tolerance: 30 * time.Second}, 5*time.Minute + 30*time.Second},
		{ProviderTencent, Options{}, 2 * time.Minute},
		{ProviderTencentTRTC, Options{}, 10 * time.Minute},
		{ProviderTencentTRTC, Options{ToleranceOff: true}, 0},
		{ProviderLiveSwitch, Options{}, 0},
		{ProviderLiveSwitch, Options{Tolerance: time.Minute}, 2 * time.Minute},
		{ProviderAgora, Options{}, 0},
		{ProviderTwilio, Options{}, 0},
		{ProviderGitHub, Options{}, 0},
		{ProviderDaily, Options{}, 10 * time.Minute},
		{ProviderZoom, Options{Tolerance: time.Minute}, 2 * time.Minute},
		{ProviderVonage, Options{}, 10 * time.Minute},
		{ProviderMux, Options{}, 10 * time.Minute},
		{ProviderCloudflareStream, Options{}, 10 * time.Minute},
		{ProviderStripe, Options{}, 10 * time.Minute},
		{ProviderSlack, Options{}, 10 * time.Minute},
		{ProviderHMAC, Options{HMAC: &HMACConfig{Header: "X"}}, 0},
		{ProviderHMAC, Options{HMAC: &HMACConfig{Header: "X", TimestampHeader: "T", Signed: "{timestamp}.{body}"}}, 10 * time.Minute},
		{ProviderHMAC, Options{HMAC: &HMACConfig{Header: "X", TimestampHeader: "T", Signed: "{timestamp}.{body}"}, ToleranceOff: true}, 0},
	}
	for _, tc := range cases {
		tc.opts.Keys = keys
		v, err := New(tc.provider, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := v.(ReplayWindower).ReplayWindow(); got != tc.want {
			t.Errorf("%s %+v: ReplayWindow = %v, want %v", tc.provider, tc.opts, got, tc.want)
		}
	}
}
