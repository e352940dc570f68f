package verify

import (
	"errors"
	"testing"
	"time"
)

// sampleKeys returns a keyring New accepts for p, and the secret to sign
// with.
func sampleKeys(p Provider) (map[string][]string, string) {
	secret := "provider-table-test-secret-0123456789"
	if p.ParseSecret != nil {
		secret = stdSecret
	}
	return map[string][]string{"1400000000": {secret}}, secret
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
			keys, secret := sampleKeys(p)
			v, err := New(p.Name, Options{Keys: keys, Now: func() time.Time { return at }})
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

			out, err := p.Send(Message{KeyID: "1400000000", Secret: secret, ID: "ev-table-1", At: at})
			if err != nil {
				t.Fatal(err)
			}
			evs, err := v.Verify(&Request{Header: out.Header, Query: out.Query, Body: out.Body})
			if err != nil {
				t.Fatalf("the provider's own sender does not verify: %v", err)
			}
			if len(evs) != 1 || evs[0].Provider != p.Name || evs[0].KeyID != "1400000000" {
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
			forged, _ := p.Send(Message{KeyID: "1400000000", Secret: "forged-forged-forged-forged", ID: "ev-table-1", At: at})
			if p.ParseSecret != nil {
				forged, _ = p.Send(Message{KeyID: "1400000000", Secret: "whsec_Zm9yZ2VkZm9yZ2VkZm9yZ2VkZm9yZ2Vk", ID: "ev-table-1", At: at})
			}
			if _, err := v.Verify(&Request{Header: forged.Header, Query: forged.Query, Body: forged.Body}); err == nil {
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
	keys := map[string][]string{"1400000000": {"provider-table-test-secret-0123456789"}}
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
