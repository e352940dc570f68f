package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/verify"
)

// The provider-specific keys reach the verifier.
func TestProviderSpecificKeys(t *testing.T) {
	e := env{getenv: mapEnv(nil), readFile: os.ReadFile, now: time.Now}
	cfg, err := parseConfig([]byte(`routes:
  - path: /twilio
    provider: twilio
    upstream: http://127.0.0.1:9/x
    secrets: {AC123: token}
    public_url: https://hooks.example.com/twilio
  - path: /github
    provider: github
    upstream: http://127.0.0.1:9/x
    secrets: {repo: secret}
    allow_sha1: true
  - path: /acme
    provider: hmac
    upstream: http://127.0.0.1:9/x
    secrets: {acme: "base64:c2VjcmV0"}
    tolerance: 2m
    hmac:
      header: X-Acme-Signature
      algorithm: sha512
      encoding: base64
      prefix: "v1="
      signed: "{timestamp}.{body}"
      timestamp_header: X-Acme-Timestamp
      timestamp_unit: ms
      id_field: id
`), mapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	routes, err := buildRoutes(cfg, e)
	if err != nil {
		t.Fatal(err)
	}
	if tw := routes[0].Verifier.(*verify.Twilio); tw.PublicURL != "https://hooks.example.com/twilio" {
		t.Errorf("twilio public URL %q", tw.PublicURL)
	}
	if gh := routes[1].Verifier.(*verify.GitHub); !gh.AllowSHA1 {
		t.Error("allow_sha1 did not reach the github verifier")
	}
	h := routes[2].Verifier.(*verify.HMAC)
	want := verify.HMACConfig{Header: "X-Acme-Signature", Algorithm: "sha512", Encoding: "base64", Prefix: "v1=", Signed: "{timestamp}.{body}",
		TimestampHeader: "X-Acme-Timestamp", TimestampUnit: "ms", IDField: "id"}
	if h.Config != want || h.Tolerance != 2*time.Minute {
		t.Errorf("hmac config %+v, tolerance %v", h.Config, h.Tolerance)
	}
	if string(h.Keys["acme"][0]) != "secret" {
		t.Error("a base64: secret was not decoded")
	}
}

func TestProviderSpecificKeyErrorsNameTheFieldAndLine(t *testing.T) {
	e := env{getenv: mapEnv(nil), readFile: os.ReadFile, now: time.Now}
	route := func(provider, extra string) string {
		return "routes:\n  - path: /a\n    provider: " + provider + "\n    upstream: http://x\n    secrets: {k: s3cr3t-value}\n" + extra
	}
	cases := []struct {
		name, yaml, want string
	}{
		{"public_url on github", route("github", "    public_url: https://h/x\n"), "line 6: public_url: provider github: verify: github: PublicURL applies to twilio only"},
		{"allow_sha1 on stripe", route("stripe", "    allow_sha1: true\n"), "line 6: allow_sha1: provider stripe: verify: stripe: AllowSHA1 applies to agora, github, hmac only"},
		{"hmac on slack", route("slack", "    hmac: {header: X-Sig}\n"), "line 6: hmac: provider slack: verify: slack: HMAC applies to hmac only"},
		{"allow_sha1 not a bool", route("github", "    allow_sha1: sometimes\n"), `line 6: "sometimes" is not true or false`},
		{"public_url with a query", route("twilio", "    public_url: https://h/x?a=1\n"), "line 6: public_url: provider twilio"},
		{"hmac without settings", route("hmac", ""), "provider hmac: verify: hmac: the hmac settings are required"},
		{"hmac unknown key", route("hmac", "    hmac:\n      header: X-Sig\n      algo: sha1\n"), `line 8: unknown key "algo"`},
		{"hmac bad algorithm", route("hmac", "    hmac:\n      header: X-Sig\n      algorithm: md5\n"), "line 8: hmac.algorithm:"},
		{"hmac sha1 without allow_sha1", route("hmac", "    hmac:\n      header: X-Sig\n      algorithm: sha1\n"), "line 8: hmac.algorithm:"},
		{"hmac unsigned timestamp", route("hmac", "    hmac:\n      header: X-Sig\n      timestamp_header: X-Ts\n"), "line 8: hmac.timestamp_header:"},
		{"hmac no header", route("hmac", "    hmac:\n      encoding: hex\n"), "line 7: hmac:"},
		{"tolerance on github", route("github", "    tolerance: 5m\n"), "github signs no time"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig([]byte(tc.yaml), mapEnv(nil))
			if err == nil {
				_, err = buildRoutes(cfg, e)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if !errors.Is(err, errConfig) {
				t.Errorf("%v does not wrap errConfig", err)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}
}

// `hookguard send --provider P` signs as every provider of the table
// does: its request verifies, and with --forge it does not.
func TestSendSignsForEveryProvider(t *testing.T) {
	for _, name := range verify.Providers() {
		t.Run(name, func(t *testing.T) {
			secret := "send-test-secret-0123456789abcdef"
			switch name {
			case verify.ProviderStandardWebhooks:
				secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
			case verify.ProviderDaily:
				secret = "c2VuZC10ZXN0LXNlY3JldA=="
			}
			opts := verify.Options{Keys: map[string][]string{"1400000000": {secret}}}
			if name == verify.ProviderHMAC {
				opts.HMAC = &verify.SampleHMACConfig
			}
			v, err := verify.New(name, opts)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				_, err := v.Verify(&verify.Request{Header: r.Header, Query: r.URL.Query(), Body: body, URL: "http://" + r.Host + r.RequestURI})
				if err != nil {
					http.Error(w, err.Error(), http.StatusUnauthorized)
				}
			}))
			defer srv.Close()
			e := env{getenv: mapEnv(nil), readFile: os.ReadFile, now: time.Now}
			args := []string{"--provider", name, "--url", srv.URL + "/hook", "--key-id", "1400000000", "--secret", secret}
			var out bytes.Buffer
			if err := send(context.Background(), args, e, &out, io.Discard); err != nil {
				t.Fatalf("send: %v (%s)", err, out.String())
			}
			if err := send(context.Background(), append(args, "--forge"), e, &out, io.Discard); err == nil {
				t.Fatal("a forged request was accepted")
			}
		})
	}
}
