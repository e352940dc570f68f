package proxy

import (
	"bytes"
	"io"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/hookguard/hookguard/verify"
)

// moreProviders are the senders of PROVIDERS.md's "More senders", each
// with a route config as an operator would write it: a secret as the
// provider shows it, and the provider's own options.
var moreProviders = []struct {
	name, secret, forged string
	opts                 verify.Options
}{
	{verify.ProviderAgora, "agora-ncs-secret", "agora-forged-secret", verify.Options{}},
	{verify.ProviderDaily, "ZGFpbHktd2ViaG9vay1zZWNyZXQtZm9yLXByb3h5", "Zm9yZ2VkLWRhaWx5LXNlY3JldA==", verify.Options{}},
	{verify.ProviderTwilio, "twilio-auth-token", "forged-auth-token", verify.Options{}},
	{verify.ProviderZoom, "zoom-secret-token", "forged-secret-token", verify.Options{}},
	{verify.ProviderVonage, "vonage-signature-secret-0123456789", "forged-signature-secret-012345678", verify.Options{}},
	{verify.ProviderMux, "mux-signing-secret", "forged-signing-secret", verify.Options{}},
	{verify.ProviderCloudflareStream, "cloudflare-stream-secret", "forged-stream-secret", verify.Options{}},
	{verify.ProviderGitHub, "github-webhook-secret", "forged-webhook-secret", verify.Options{}},
	{verify.ProviderStripe, "whsec_stripe_endpoint_secret", "whsec_forged_endpoint_secret", verify.Options{}},
	{verify.ProviderSlack, "slack-signing-secret", "forged-signing-secret", verify.Options{}},
	{verify.ProviderHMAC, "acme-secret", "forged-acme-secret", verify.Options{HMAC: &verify.HMACConfig{Header: "X-Acme-Signature", Prefix: "sha256=",
		Signed: "{timestamp}.{body}", TimestampHeader: "X-Acme-Timestamp"}}},
}

const moreKeyID = "acct"

// newProvidersFixture adds a route /p/<provider> for each of moreProviders.
func newProvidersFixture(t *testing.T, mod func(*Config)) *fixture {
	t.Helper()
	return newFixture(t, func(c *Config) {
		base := c.Routes[0].Upstream.Scheme + "://" + c.Routes[0].Upstream.Host
		for _, p := range moreProviders {
			o := p.opts
			o.Keys = map[string][]string{moreKeyID: {p.secret}}
			v, err := verify.New(p.name, o)
			if err != nil {
				t.Fatal(err)
			}
			c.Routes = append(c.Routes, Route{Path: "/p/" + p.name, Provider: p.name, Upstream: mustURL(t, base+"/app/"+p.name), Verifier: v})
		}
		if mod != nil {
			mod(c)
		}
	})
}

// providerRequest is the POST the provider's sender makes to url, as the
// provider table's Send signs it.
func providerRequest(t *testing.T, name, url, secret, id string, opts verify.Options, body []byte, at time.Time) *http.Request {
	t.Helper()
	p, err := verify.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Send(verify.Message{KeyID: moreKeyID, Secret: secret, ID: id, At: at, URL: url, HMAC: opts.HMAC, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Query) > 0 {
		url += "?" + out.Query.Encode()
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(out.Body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = out.Header
	return req
}

func TestMoreProvidersForwardOnceAndDedupe(t *testing.T) {
	f := newProvidersFixture(t, nil)
	now := time.Now()
	for _, p := range moreProviders {
		t.Run(p.name, func(t *testing.T) {
			before := f.app.count()
			url := f.front.URL + "/p/" + p.name
			req := providerRequest(t, p.name, url, p.secret, "ev-"+p.name+"-1", p.opts, nil, now)
			body := bodyOf(t, req)
			status, _, answer := do(t, clone(t, req, body))
			if status != http.StatusOK || f.app.count() != before+1 {
				t.Fatalf("got %d %q, app received %d; want 200 and one forward", status, answer, f.app.count()-before)
			}
			got := f.app.last()
			if !bytes.Equal(got.body, body) || got.header.Get(HeaderProvider) != p.name || got.header.Get(HeaderKeyID) != moreKeyID {
				t.Fatalf("app got %s %s %q", got.header.Get(HeaderProvider), got.header.Get(HeaderKeyID), got.body)
			}
			// The sender's retry of the same request is answered, not
			// forwarded again.
			status, _, _ = do(t, clone(t, req, body))
			if status != http.StatusOK || f.app.count() != before+1 {
				t.Fatalf("retry: %d, app received %d; want 200 and no second forward", status, f.app.count()-before)
			}
		})
	}
}

func TestMoreProvidersRejectWith401AndNeverForward(t *testing.T) {
	f := newProvidersFixture(t, nil)
	now := time.Now()
	for _, p := range moreProviders {
		t.Run(p.name, func(t *testing.T) {
			url := f.front.URL + "/p/" + p.name
			signed := func(id string) (*http.Request, []byte) {
				r := providerRequest(t, p.name, url, p.secret, id, p.opts, nil, now)
				return r, bodyOf(t, r)
			}
			forged := providerRequest(t, p.name, url, p.forged, "ev-forged", p.opts, nil, now)
			cases := map[string]func() *http.Request{
				"forged secret": func() *http.Request { return clone(t, forged, bodyOf(t, forged)) },
				"tampered body": func() *http.Request {
					r, b := signed("ev-tampered")
					return clone(t, r, bytes.Replace(b, []byte("ev-tampered"), []byte("ev-tampereD"), 1))
				},
				"no signature": func() *http.Request {
					r, b := signed("ev-unsigned")
					for k := range r.Header {
						if k != "Content-Type" {
							r.Header.Del(k)
						}
					}
					return clone(t, r, b)
				},
			}
			if p.opts.HMAC != nil || !isUntimed(p.name) {
				cases["stale"] = func() *http.Request {
					r := providerRequest(t, p.name, url, p.secret, "ev-stale", p.opts, nil, now.Add(-time.Hour))
					return clone(t, r, bodyOf(t, r))
				}
			}
			for name, mk := range cases {
				before := f.app.count()
				status, _, answer := do(t, mk())
				if status != http.StatusUnauthorized {
					t.Errorf("%s: got %d %q, want 401", name, status, answer)
				}
				if f.app.count() != before {
					t.Errorf("%s: reached the app", name)
				}
			}
		})
	}
}

func isUntimed(name string) bool {
	return name == verify.ProviderAgora || name == verify.ProviderTwilio || name == verify.ProviderGitHub
}

// Twilio signs the public URL it called; behind an ingress hookguard sees
// another. Both ways to get it right are forwarded, the wrong one is not.
func TestTwilioPublicURLAndTrustedProxy(t *testing.T) {
	const token = "twilio-auth-token"
	public := "https://hooks.example.com/twilio"
	f := newFixture(t, func(c *Config) {
		base := c.Routes[0].Upstream.Scheme + "://" + c.Routes[0].Upstream.Host
		withURL, err := verify.New(verify.ProviderTwilio, verify.Options{Keys: map[string][]string{moreKeyID: {token}}, PublicURL: public})
		if err != nil {
			t.Fatal(err)
		}
		c.Routes = append(c.Routes,
			Route{Path: "/twilio", Provider: verify.ProviderTwilio, Upstream: mustURL(t, base+"/app/twilio"), Verifier: withURL},
			Route{Path: "/twilio-fwd", Provider: verify.ProviderTwilio, Upstream: mustURL(t, base+"/app/twilio"),
				Verifier: mustVerifier(t, verify.ProviderTwilio, map[string][]string{moreKeyID: {token}})})
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	now := time.Now()
	jsonBody := []byte(`{"type":"com.twilio.messaging.message.delivered","data":{"messageSid":"SM1"}}`)
	cases := []struct {
		name     string
		req      func() *http.Request
		forwards bool
	}{
		{"public_url, form, with the query", func() *http.Request {
			r := providerRequest(t, verify.ProviderTwilio, public+"?tenant=a", token, "CA1", verify.Options{}, nil, now)
			r.URL = mustURL(t, f.front.URL+"/twilio?tenant=a")
			r.Host = r.URL.Host
			return r
		}, true},
		{"public_url, JSON with bodySHA256", func() *http.Request {
			r := providerRequest(t, verify.ProviderTwilio, public, token, "CA2", verify.Options{}, jsonBody, now)
			r.URL = mustURL(t, f.front.URL+"/twilio?"+r.URL.RawQuery)
			r.Host = r.URL.Host
			return r
		}, true},
		{"public_url, signed for another host", func() *http.Request {
			r := providerRequest(t, verify.ProviderTwilio, "https://evil.example.com/twilio", token, "CA3", verify.Options{}, nil, now)
			r.URL = mustURL(t, f.front.URL+"/twilio")
			r.Host = r.URL.Host
			return r
		}, false},
		{"trusted proxy's X-Forwarded-Proto and Host", func() *http.Request {
			r := providerRequest(t, verify.ProviderTwilio, "https://hooks.example.com/twilio-fwd", token, "CA4", verify.Options{}, nil, now)
			r.URL = mustURL(t, f.front.URL+"/twilio-fwd")
			r.Host = r.URL.Host
			r.Header.Set("X-Forwarded-Proto", "https")
			r.Header.Set("X-Forwarded-Host", "hooks.example.com")
			return r
		}, true},
		{"without the forwarded headers", func() *http.Request {
			r := providerRequest(t, verify.ProviderTwilio, "https://hooks.example.com/twilio-fwd", token, "CA5", verify.Options{}, nil, now)
			r.URL = mustURL(t, f.front.URL+"/twilio-fwd")
			r.Host = r.URL.Host
			return r
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.app.count()
			r := tc.req()
			status, _, answer := do(t, clone(t, r, bodyOf(t, r)))
			if tc.forwards && (status != http.StatusOK || f.app.count() != before+1) {
				t.Fatalf("got %d %q, app received %d; want one forward", status, answer, f.app.count()-before)
			}
			if !tc.forwards && (status != http.StatusUnauthorized || f.app.count() != before) {
				t.Fatalf("got %d %q, app received %d; want 401 and no forward", status, answer, f.app.count()-before)
			}
		})
	}
}

// An untrusted peer's X-Forwarded-Host does not change the URL Twilio's
// signature is checked against.
func TestTwilioIgnoresForwardedHeadersOfUntrustedPeers(t *testing.T) {
	const token = "twilio-auth-token"
	f := newFixture(t, func(c *Config) {
		base := c.Routes[0].Upstream.Scheme + "://" + c.Routes[0].Upstream.Host
		c.Routes = append(c.Routes, Route{Path: "/twilio", Provider: verify.ProviderTwilio, Upstream: mustURL(t, base+"/app/twilio"),
			Verifier: mustVerifier(t, verify.ProviderTwilio, map[string][]string{moreKeyID: {token}})})
	})
	r := providerRequest(t, verify.ProviderTwilio, "https://hooks.example.com/twilio", token, "CA1", verify.Options{}, nil, time.Now())
	r.URL = mustURL(t, f.front.URL+"/twilio")
	r.Host = r.URL.Host
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("X-Forwarded-Host", "hooks.example.com")
	if status, _, _ := do(t, clone(t, r, bodyOf(t, r))); status != http.StatusUnauthorized || f.app.count() != 0 {
		t.Fatalf("got %d, app received %d; want 401", status, f.app.count())
	}
}

func bodyOf(t *testing.T, r *http.Request) []byte {
	t.Helper()
	if r.GetBody == nil {
		t.Fatal("request without GetBody")
	}
	rc, err := r.GetBody()
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
