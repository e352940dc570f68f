package proxy

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hookguard/hookguard/dedupe"
	"github.com/hookguard/hookguard/verify"
)

// reports records what the handler observed.
type reports struct {
	mu   sync.Mutex
	list []Report
}

func (r *reports) Observe(rep Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, rep)
}

func (r *reports) last() Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.list[len(r.list)-1]
}

// Zoom's endpoint.url_validation and Slack's url_verification are
// verified, answered by hookguard itself with 200 and the provider's
// expected body, never forwarded and never claimed in the dedupe store
// (Zoom re-validates every 72 h with the same kind of request), and
// counted as their own outcome. A forged challenge is 401.
func TestChallengesAreAnsweredNotForwarded(t *testing.T) {
	obs := &reports{}
	f := newProvidersFixture(t, func(c *Config) { c.Observer = obs })
	now := time.Now()
	secretOf := map[string]string{}
	for _, p := range moreProviders {
		secretOf[p.name] = p.secret
	}
	cases := []struct {
		provider, typ, token string
		want                 string
	}{
		{verify.ProviderZoom, verify.ZoomURLValidation, "qgg8vlvZRS6UYooatFL8Aw",
			string(verify.ZoomChallengeAnswer([]byte(secretOf[verify.ProviderZoom]), "qgg8vlvZRS6UYooatFL8Aw"))},
		{verify.ProviderSlack, verify.SlackURLVerification, "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
			`{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}`},
	}
	for _, tc := range cases {
		t.Run(tc.provider, func(t *testing.T) {
			url := f.front.URL + "/p/" + tc.provider
			p, _ := verify.Lookup(tc.provider)
			out, err := p.Send(verify.Message{KeyID: moreKeyID, Secret: secretOf[tc.provider], Type: tc.typ, ID: tc.token, At: now})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 { // the same challenge again is answered again
				req, _ := http.NewRequest(http.MethodPost, url, nil)
				req.Header = out.Header.Clone()
				status, hdr, answer := do(t, clone(t, req, out.Body))
				if status != http.StatusOK || answer != tc.want || hdr.Get("Content-Type") != "application/json" {
					t.Fatalf("try %d: got %d %q (%s), want 200 %s", i, status, answer, hdr.Get("Content-Type"), tc.want)
				}
				if f.app.count() != 0 {
					t.Fatal("the challenge was forwarded")
				}
				if rep := obs.last(); rep.Outcome != OutcomeChallenge || rep.Status != http.StatusOK || rep.Type != tc.typ {
					t.Fatalf("report %+v", rep)
				}
			}
			// Nothing was claimed: the key is still free.
			v := mustVerifierFrom(t, f, "/p/"+tc.provider)
			evs, err := v.Verify(&verify.Request{Header: out.Header, Body: out.Body})
			if err != nil {
				t.Fatal(err)
			}
			res, err := f.store.Claim(context.Background(), "/p/"+tc.provider+":"+evs[0].Key)
			if err != nil || res.State != dedupe.Claimed {
				t.Fatalf("the challenge's key was claimed: %v %v", res.State, err)
			}

			forged, _ := p.Send(verify.Message{KeyID: moreKeyID, Secret: "forged-" + secretOf[tc.provider], Type: tc.typ, ID: tc.token, At: now})
			req, _ := http.NewRequest(http.MethodPost, url, nil)
			req.Header = forged.Header
			if status, _, answer := do(t, clone(t, req, forged.Body)); status != http.StatusUnauthorized || answer == tc.want {
				t.Fatalf("forged challenge: %d %q", status, answer)
			}
			if f.app.count() != 0 {
				t.Fatal("the forged challenge was forwarded")
			}
		})
	}
}

func mustVerifierFrom(t *testing.T, f *fixture, path string) verify.Verifier {
	t.Helper()
	for _, r := range f.h.Routes() {
		if r.Path == path {
			return r.Verifier
		}
	}
	t.Fatalf("no route %s", path)
	return nil
}
