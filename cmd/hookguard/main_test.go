package main

import (
	"bytes"
	"context"
	"errors"
	"github.com/hookguard/hookguard/listen"
	"github.com/hookguard/hookguard/verify"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseConfigMinimalFileFromDesign(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "tencent_token")
	if err := os.WriteFile(tokenFile, []byte("tok-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := `listen: 127.0.0.1:8080
routes:
  - path: /livekit
    provider: livekit
    upstream: http://127.0.0.1:9000/hooks
    secrets:            # key id -> secret; several for rotation
      devkey: ${LIVEKIT_API_SECRET}
  - path: /tencent
    provider: tencent
    upstream: http://127.0.0.1:9000/tencent
    secrets:
      "1400000000": file:` + tokenFile + `   # SdkAppId -> Token
`
	cfg, err := parseConfig([]byte(yaml), mapEnv(map[string]string{"LIVEKIT_API_SECRET": "s3cret-value"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:8080" || len(cfg.Routes) != 2 {
		t.Fatalf("cfg = %+v", cfg)
	}
	if got := cfg.Routes[0].Secrets["devkey"]; len(got) != 1 || got[0] != "s3cret-value" {
		t.Fatalf("devkey = %q", got)
	}
	e := env{getenv: mapEnv(nil), readFile: os.ReadFile, now: time.Now}
	routes, err := buildRoutes(cfg, e)
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 2 || routes[1].Provider != "tencent" {
		t.Fatalf("routes = %+v", routes)
	}
}

func TestConfigErrorsNameTheFieldAndNoSecret(t *testing.T) {
	e := env{getenv: mapEnv(nil), readFile: os.ReadFile, now: time.Now}
	cases := []struct {
		name, yaml string
		env        map[string]string
		want       string
	}{
		{"unknown key", "listen: :8080\nroutes: []\nlisten_addr: x\n", nil, "listen_addr"},
		{"unknown route key", "routes:\n  - path: /a\n    provder: livekit\n", nil, "provder"},
		{"missing variable", "routes:\n  - path: /a\n    provider: livekit\n    upstream: http://x\n    secrets:\n      k: ${NOPE}\n", nil, `"NOPE"`},
		{"missing secret file", "routes:\n  - path: /a\n    provider: livekit\n    upstream: http://x\n    secrets: {k: file:/does/not/exist}\n", nil, "secrets.k[0]"},
		{"no secrets", "routes:\n  - path: /a\n    provider: livekit\n    upstream: http://x\n", nil, "secrets"},
		{"bad provider", "routes:\n  - path: /a\n    provider: gitlab\n    upstream: http://x\n    secrets: {k: v}\n", nil, "gitlab"},
		{"bad upstream", "routes:\n  - path: /a\n    provider: livekit\n    upstream: ftp://x\n    secrets: {k: v}\n", nil, "upstream"},
		{"bad duration", "routes:\n  - path: /a\n    provider: livekit\n    upstream: http://x\n    secrets: {k: v}\n    timeout: soon\n", nil, "duration"},
		{"bad size", "routes:\n  - path: /a\n    provider: livekit\n    upstream: http://x\n    secrets: {k: v}\n    max_body: 1 banana\n", nil, "size"},
		{"bad cidr", "routes:\n  - path: /a\n    provider: livekit\n    upstream: http://x\n    secrets: {k: v}\n    allow_cidrs: [nope]\n", nil, "allow_cidrs"},
		{"bad forward secret", "routes:\n  - path: /a\n    provider: livekit\n    upstream: http://x\n    secrets: {k: v}\n    forward: {signing_secret: \"whsec_!!notbase64\"}\n", nil, "forward.signing_secret"},
		{"empty file", "", nil, "empty"},
		{"negative tolerance", "routes:\n  - path: /a\n    provider: livekit\n    upstream: http://x\n    secrets: {k: v}\n    tolerance: -1s\n", nil, "line 6: tolerance"},
		{"tolerance off where it cannot be", "routes:\n  - path: /a\n    provider: tencent\n    upstream: http://x\n    secrets: {k: v}\n    tolerance: off\n", nil, "cannot be turned off"},
		{"max_token_lifetime on another provider", "routes:\n  - path: /a\n    provider: tencent-trtc\n    upstream: http://x\n    secrets: {k: v}\n    max_token_lifetime: 1h\n", nil, "MaxTokenLifetime"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig([]byte(tc.yaml), mapEnv(tc.env))
			if err == nil {
				_, err = buildRoutes(cfg, e)
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, errConfig) {
				t.Errorf("error %v does not wrap errConfig", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "notbase64") {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}
}

func TestSingleRouteFromEnvironment(t *testing.T) {
	var stderr bytes.Buffer
	fs, f := newServeFlagSet("test", &stderr)
	if err := fs.Parse([]string{"--upstream", "http://127.0.0.1:9000/x"}); err != nil {
		t.Fatal(err)
	}
	getenv := mapEnv(map[string]string{
		"HOOKGUARD_PROVIDER": "livekit",
		"HOOKGUARD_UPSTREAM": "http://ignored:1/",
		"HOOKGUARD_SECRET":   "devkey=env:LK_SECRET,otherkey=file:/run/x",
		"LK_SECRET":          "from-env",
		"HOOKGUARD_MAX_BODY": "64KiB",
	})
	if err := applyEnv(fs, getenv); err != nil {
		t.Fatal(err)
	}
	cfg, err := f.toConfig(getenv)
	if err != nil {
		t.Fatal(err)
	}
	rc := cfg.Routes[0]
	if rc.Provider != "livekit" || rc.Upstream != "http://127.0.0.1:9000/x" || rc.MaxBody != 64<<10 {
		t.Fatalf("route = %+v (the command-line flag must win over the variable)", rc)
	}
	if rc.Secrets["devkey"][0] != "from-env" || rc.Secrets["otherkey"][0] != "file:/run/x" {
		t.Fatalf("secrets = %v", rc.Secrets)
	}
}

func TestConfigAndRouteFlagsConflict(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yaml")
	os.WriteFile(p, []byte("routes: []\n"), 0o600)
	err := run(context.Background(), []string{"--config", p, "--provider", "livekit"}, mapEnv(nil), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "--provider") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]int64{"1048576": 1 << 20, "1MiB": 1 << 20, "512KiB": 512 << 10, "2MB": 2e6, "10 B": 10} {
		got, err := parseByteSize(in)
		if err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1TiB", "x"} {
		if _, err := parseByteSize(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

// TestDemoOnce runs the README's first command end to end on free ports:
// the table on stdout, hookguard's log in its file, not mixed in.
func TestDemoOnce(t *testing.T) {
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logFile := filepath.Join(t.TempDir(), "demo.log")
	err := run(ctx, []string{"demo", "--once", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--log", logFile}, mapEnv(nil), &stdout, &stderr)
	if err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	if strings.Contains(out, " NO\n") || !strings.Contains(out, "forwarding signature checked by the app: ok") ||
		!strings.Contains(out, "the app refuses it (422): a dead letter") {
		t.Fatalf("demo output:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^Console: http://127\.0\.0\.1:[1-9][0-9]*/$`).MatchString(out) || !strings.Contains(out, "hookguard's log: "+logFile) {
		t.Fatalf("no console URL or log path:\n%s", out)
	}
	if strings.Contains(out, `"msg":`) || stderr.Len() != 0 {
		t.Fatalf("log lines mixed in:\nstdout:\n%s\nstderr:\n%s", out, stderr.String())
	}
	log, err := os.ReadFile(logFile)
	if err != nil || !strings.Contains(string(log), `"msg":"webhook"`) {
		t.Fatalf("log file: %v\n%s", err, log)
	}
	for _, secret := range []string{demoLiveKitSecret, demoTencentToken} {
		if strings.Contains(string(log), secret) {
			t.Fatal("a secret appears in the log")
		}
	}
}

// Regression: the file was re-encoded before the strict decode, so blank
// lines and flow mappings moved the reported line (an unknown key on line
// 14 was reported on line 11).
func TestConfigErrorsNameTheLineAsWritten(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       string
	}{
		{"unknown route key after blank lines and flow mappings", `listen: 127.0.0.1:8080

admin: {listen: 127.0.0.1:9090}

routes:
  - path: /livekit
    provider: livekit
    upstream: http://127.0.0.1:9000/hooks
    secrets: {devkey: x}


    forward: {format: original}
    timout: 5s
`, `line 13: unknown key "timout"`},
		{"unknown key inside a flow mapping", "listen: :8080\n\n\ndedupe: {store: memory, sise: 10}\n", `line 4: unknown key "sise"`},
		{"bad duration keeps its line", "routes:\n\n\n  - path: /a\n    timeout: soon\n", "line 5:"},
		{"unknown key in a merged anchor", "base: &b {provider: livekit, nope: 1}\n", `line 1: unknown key "base"`},
		{"second document", "listen: :8080\n---\nlisten: :9090\n", "line 2: a second YAML document"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tc.yaml), mapEnv(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if !errors.Is(err, errConfig) {
				t.Errorf("%v does not wrap errConfig", err)
			}
		})
	}
	_, err := parseConfig([]byte("routes:\n  - pth: /a\n"), mapEnv(nil))
	if !errors.Is(err, errUnknownKey) {
		t.Errorf("%v does not wrap errUnknownKey", err)
	}
}

func TestToleranceOffAndTokenLifetime(t *testing.T) {
	e := env{getenv: mapEnv(nil), readFile: os.ReadFile, now: time.Now}
	cfg, err := parseConfig([]byte(`routes:
  - path: /trtc
    provider: tencent-trtc
    upstream: http://127.0.0.1:9/x
    secrets: {"1400000000": key}
    tolerance: off
  - path: /lk
    provider: livekit
    upstream: http://127.0.0.1:9/x
    secrets: {devkey: secret}
    tolerance: 30s
    max_token_lifetime: 5m
`), mapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	routes, err := buildRoutes(cfg, e)
	if err != nil {
		t.Fatal(err)
	}
	trtc := routes[0].Verifier.(*verify.TRTC)
	if !trtc.Off {
		t.Error("tolerance: off did not turn the TRTC check off")
	}
	lk := routes[1].Verifier.(*verify.LiveKit)
	if lk.Leeway != 30*time.Second || lk.MaxLifetime != 5*time.Minute {
		t.Errorf("livekit leeway %v, max lifetime %v", lk.Leeway, lk.MaxLifetime)
	}
}

// listen names TLSConfig's Go fields; the config's errors name its keys,
// and the cause stays in the chain.
func TestTLSErrorsNameTheConfigKeys(t *testing.T) {
	e := env{getenv: mapEnv(nil), readFile: os.ReadFile, now: time.Now}
	base := "routes:\n  - path: /a\n    provider: livekit\n    upstream: http://x\n    secrets: {k: v}\n"
	cases := []struct{ tls, want string }{
		{"tls: {cert_file: c.pem}\n", "tls.key_file: required with tls.cert_file"},
		{"tls: {domains: [a.example], cert_file: c.pem, key_file: k.pem}\n", "tls.domains: set either tls.domains (ACME) or tls.cert_file"},
		{"tls: {domains: [a.example, '*.example']}\n", "tls.domains[1]:"},
		{"tls: {domains: [a.example], http_listen: ':8443'}\nlisten: ':8443'\n", "tls.http_listen: port 8443 is also the HTTPS listener's (listen)"},
	}
	for _, tc := range cases {
		cfg, err := parseConfig([]byte(base+tc.tls), mapEnv(nil))
		if err != nil {
			t.Fatal(err)
		}
		_, err = newRuntime(cfg, e, discardLogger(), true)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.tls, err, tc.want)
		}
		if !errors.Is(err, listen.ErrInvalidTLSConfig) || !errors.Is(err, errConfig) {
			t.Errorf("%q: %v loses its sentinels", tc.tls, err)
		}
	}
	cfg, _ := parseConfig([]byte(base+"tls: {domains: [a.example], ca_root: /does/not/exist.pem}\n"), mapEnv(nil))
	if _, err := newRuntime(cfg, e, discardLogger(), true); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "tls.ca_root") {
		t.Errorf("missing ca_root: %v, want tls.ca_root and fs.ErrNotExist", err)
	}
}
