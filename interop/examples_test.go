package interop_test

// The examples under ../examples, run for real: every config passes
// `hookguard check`, and each example backend (Go, Node, Python) runs
// behind the real hookguard binary serving each example config, receives
// webhooks signed by `hookguard send`, logs each event once, and refuses a
// request whose forwarding signature is wrong.
//
// Node (node, npm) and Python (python3) must be installed: without them the
// backend's test skips, or fails under CI=true.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookguard/hookguard/proxy"
	"github.com/hookguard/hookguard/verify"
)

const (
	exTencentToken = "example-tencent-token"
	exTencentAck   = `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`
	// exStart bounds a process's start-up (until it logs "listening").
	exStart = 20 * time.Second
	// exBuild bounds a build or install step.
	exBuild = 3 * time.Minute
)

// exampleConfig is one file of examples/configs and how to send to it.
type exampleConfig struct {
	file     string
	provider string
	path     string
	route    string   // X-Hookguard-Route: the route's name, else its path
	keyID    string   // --key-id of hookguard send
	secret   string   // --secret of hookguard send; ${NAME} is taken from exEnv
	vars     []string // the environment variables the file names
	// send returns the extra arguments of `hookguard send` and the events
	// the backend must log, given a unique id and a directory for files.
	send func(t *testing.T, id, dir string) (args []string, want []exEvent)
	// answer, when set, must be in what hookguard answered the sender.
	answer string
	// untimed: the provider states no event time (twilio, github, hmac
	// without a timestamp header), so the backend logs none.
	untimed bool
}

type exEvent struct{ id, typ string }

// exampleConfigs lists every file of examples/configs.
func exampleConfigs() []exampleConfig {
	bodyFile := func(t *testing.T, dir, name string, body []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, body, 0o600); err != nil {
			t.Fatal(err)
		}
		return "@" + p
	}
	return []exampleConfig{
		{file: "livekit.yaml", provider: verify.ProviderLiveKit, path: "/livekit", route: "/livekit", keyID: "devkey",
			secret: "env:LIVEKIT_API_SECRET", vars: []string{"LIVEKIT_API_SECRET", "FORWARD_SECRET"},
			send: func(t *testing.T, id, dir string) ([]string, []exEvent) {
				return []string{"--id", id, "--type", "participant_joined"}, []exEvent{{id, "participant_joined"}}
			}},
		{file: "tencent.yaml", provider: verify.ProviderTencent, path: "/tencent", route: "/tencent", keyID: "1400000000",
			secret: "file:${TENCENT_TOKEN_FILE}", vars: []string{"TENCENT_TOKEN_FILE", "FORWARD_SECRET"}, answer: exTencentAck,
			send: func(t *testing.T, id, dir string) ([]string, []exEvent) {
				// Tencent bodies carry no event id: hookguard's is the body hash.
				body := fmt.Appendf(nil, `{"CallbackCommand":"Live.CallbackAfterCreateRoom","EventTime":%d,"RoomId":"%s","Operator_Account":"alice"}`, time.Now().UnixMilli(), id)
				return []string{"--type", "Live.CallbackAfterCreateRoom", "--body", bodyFile(t, dir, id+".json", body)},
					[]exEvent{{verify.BodyKey("1400000000", body), "Live.CallbackAfterCreateRoom"}}
			}},
		{file: "tencent-trtc.yaml", provider: verify.ProviderTencentTRTC, path: "/trtc", route: "/trtc", keyID: "1400000000",
			secret: "env:TRTC_CALLBACK_KEY", vars: []string{"TRTC_CALLBACK_KEY", "FORWARD_SECRET"},
			send: func(t *testing.T, id, dir string) ([]string, []exEvent) {
				now := time.Now()
				body := fmt.Appendf(nil, "{\n\t\"EventGroupId\":\t1,\n\t\"EventType\":\t103,\n\t\"CallbackTs\":\t%d,\n\t\"EventInfo\":\t{\"RoomId\":\t8489, \"EventTs\":\t%d, \"UserId\":\t\"%s\"}\n}", now.UnixMilli(), now.Unix(), id)
				return []string{"--body", bodyFile(t, dir, id+".json", body)}, []exEvent{{verify.BodyKey("1400000000", body), "103"}}
			}},
		{file: "liveswitch.yaml", provider: verify.ProviderLiveSwitch, path: "/liveswitch", route: "/liveswitch", keyID: "my-app-id",
			secret: "env:LIVESWITCH_SHARED_SECRET", vars: []string{"LIVESWITCH_SHARED_SECRET", "FORWARD_SECRET"},
			answer: `"forwarded":3`,
			send: func(t *testing.T, id, dir string) ([]string, []exEvent) {
				// A batch of three, split by hookguard into three requests.
				var want []exEvent
				for i := range 3 {
					want = append(want, exEvent{fmt.Sprintf("%s-%d", id, i), "channel.client.joined"})
				}
				return []string{"--id", id, "--batch", "3"}, want
			}},
		{file: "standard-webhooks.yaml", provider: verify.ProviderStandardWebhooks, path: "/hooks", route: "partner-hooks", keyID: "partner",
			secret: "env:PARTNER_WEBHOOK_SECRET", vars: []string{"PARTNER_WEBHOOK_SECRET", "FORWARD_SECRET_FILE"},
			send: func(t *testing.T, id, dir string) ([]string, []exEvent) {
				return []string{"--id", id}, []exEvent{{id, "invoice.paid"}}
			}},
		moreExample("agora", "ncs", "AGORA_NCS_SECRET", "103"),
		moreExample("daily", "daily", "DAILY_WEBHOOK_SECRET", "meeting.started"),
		untimed(moreExample("twilio", "AC00000000000000000000000000000000", "TWILIO_AUTH_TOKEN", "completed")),
		{file: "zoom.yaml", provider: verify.ProviderZoom, path: "/zoom", route: "/zoom", keyID: "zoom-app",
			secret: "env:ZOOM_SECRET_TOKEN", vars: []string{"ZOOM_SECRET_TOKEN", "FORWARD_SECRET"},
			send: func(t *testing.T, id, dir string) ([]string, []exEvent) {
				// Zoom bodies carry no event id: hookguard's is the body hash.
				body := fmt.Appendf(nil, `{"event":"meeting.started","event_ts":%d,"payload":{"object":{"uuid":"%s"}}}`, time.Now().UnixMilli(), id)
				return []string{"--body", bodyFile(t, dir, id+".json", body)}, []exEvent{{verify.BodyKey("zoom-app", body), "meeting.started"}}
			}},
		moreExample("vonage", "abcd1234", "VONAGE_SIGNATURE_SECRET", "delivered"),
		moreExample("mux", "mux", "MUX_WEBHOOK_SECRET", "video.asset.ready"),
		{file: "cloudflare-stream.yaml", provider: verify.ProviderCloudflareStream, path: "/cloudflare-stream", route: "/cloudflare-stream", keyID: "stream",
			secret: "env:CF_STREAM_WEBHOOK_SECRET", vars: []string{"CF_STREAM_WEBHOOK_SECRET", "FORWARD_SECRET"},
			send: func(t *testing.T, id, dir string) ([]string, []exEvent) {
				// No event id: the key is derived from the video's uid and state.
				return []string{"--id", id}, []exEvent{{verify.BodyKey("stream", []byte(id+"\x00ready")), "ready"}}
			}},
		untimed(moreExample("github", "repo", "GITHUB_WEBHOOK_SECRET", "ping")),
		moreExample("stripe", "endpoint", "STRIPE_WEBHOOK_SECRET", "payment_intent.succeeded"),
		moreExample("slack", "app", "SLACK_SIGNING_SECRET", "app_mention"),
		untimed(moreExample("hmac", "acme", "ACME_WEBHOOK_SECRET", "order.created")),
	}
}

func untimed(c exampleConfig) exampleConfig {
	c.untimed = true
	return c
}

// moreExample is the entry of a provider of PROVIDERS.md's "More
// senders" whose sample event carries --id as its event id.
func moreExample(provider, keyID, secretVar, typ string) exampleConfig {
	return exampleConfig{file: provider + ".yaml", provider: provider, path: "/" + provider, route: "/" + provider, keyID: keyID,
		secret: "env:" + secretVar, vars: []string{secretVar, "FORWARD_SECRET"},
		send: func(t *testing.T, id, dir string) ([]string, []exEvent) {
			return []string{"--id", id}, []exEvent{{id, typ}}
		}}
}

// exEnv writes the secret files and returns the environment every example
// config needs, as NAME=value.
func exEnv(t *testing.T, dir string) map[string]string {
	t.Helper()
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return map[string]string{
		"LIVEKIT_API_SECRET":       "example-livekit-secret-0123456789abcdef",
		"TENCENT_TOKEN_FILE":       write("tencent_token", exTencentToken),
		"TRTC_CALLBACK_KEY":        "123654",
		"LIVESWITCH_SHARED_SECRET": "example-liveswitch-secret",
		"PARTNER_WEBHOOK_SECRET":   swInboundSecret,
		"FORWARD_SECRET":           swForwardSecret,
		"FORWARD_SECRET_FILE":      write("forward_secret", swForwardSecret),
		"AGORA_NCS_SECRET":         "example-agora-ncs-secret",
		"DAILY_WEBHOOK_SECRET":     "ZXhhbXBsZS1kYWlseS1zZWNyZXQ=",
		"TWILIO_AUTH_TOKEN":        "example-twilio-auth-token",
		"ZOOM_SECRET_TOKEN":        "example-zoom-secret-token",
		"VONAGE_SIGNATURE_SECRET":  "example-vonage-signature-secret-0123456789",
		"MUX_WEBHOOK_SECRET":       "example-mux-signing-secret",
		"CF_STREAM_WEBHOOK_SECRET": "example-cloudflare-stream-secret",
		"GITHUB_WEBHOOK_SECRET":    "example-github-webhook-secret",
		"STRIPE_WEBHOOK_SECRET":    "whsec_example_stripe_endpoint_secret",
		"SLACK_SIGNING_SECRET":     "example-slack-signing-secret",
		"ACME_WEBHOOK_SECRET":      "example-acme-webhook-secret",
	}
}

// environ is the test's environment without hookguard's own variables,
// plus vars.
func environ(vars map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOOKGUARD_") {
			out = append(out, kv)
		}
	}
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	return out
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// needTools skips the test when a tool is missing, or fails it under CI.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is needed (CI=true): %v", tool, err)
			}
			t.Skipf("%s is not installed: %v", tool, err)
		}
	}
}

// runCmd runs a command to completion within exBuild.
func runCmd(t *testing.T, dir string, env []string, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), exBuild)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// buildHookguard builds the real binary from the main module.
func buildHookguard(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hookguard")
	runCmd(t, repoRoot(t), nil, "go", "build", "-o", bin, "./cmd/hookguard")
	return bin
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is a long-running process of the test: a backend or hookguard.
type proc struct {
	name   string
	out    *syncBuffer // stdout and stderr
	exited chan struct{}
	err    error // set when exited is closed
}

// startProc starts a process and stops it (SIGTERM, then kill) when the
// test ends; its output is logged if the test failed.
func startProc(t *testing.T, name, dir string, env []string, argv ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &syncBuffer{}, exited: make(chan struct{})}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-p.exited
			t.Errorf("%s did not stop within 5 s of SIGTERM", name)
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, p.out)
		}
	})
	return p
}

// lines returns the JSON lines the process logged.
func (p *proc) lines() []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(p.out.String()))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// waitLines waits until the process logged lines for which match is true
// and returns them once there are n of them.
func (p *proc) waitLines(t *testing.T, d time.Duration, n int, match func(map[string]any) bool) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var got []map[string]any
		for _, l := range p.lines() {
			if match(l) {
				got = append(got, l)
			}
		}
		if len(got) >= n {
			return got
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited (%v) before logging what was expected; output:\n%s", p.name, p.err, p.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s logged %d of %d expected lines within %v", p.name, len(got), n, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// listenAddr waits for the "listening" line and returns its address.
func (p *proc) listenAddr(t *testing.T) string {
	t.Helper()
	l := p.waitLines(t, exStart, 1, func(m map[string]any) bool { return m["msg"] == "listening" })
	addr, _ := l[0]["addr"].(string)
	if addr == "" {
		t.Fatalf("%s logged no address: %v", p.name, l[0])
	}
	return addr
}

func str(v any) string { s, _ := v.(string); return s }

// exampleBackend is one example app and how to start it.
type exampleBackend struct {
	name  string
	dir   string   // under examples/
	tools []string // needed on PATH
	// prepare builds or installs the backend and returns its command line.
	prepare func(t *testing.T, dir string) []string
	// extra runs backend-specific checks.
	extra func(t *testing.T, dir string)
}

func exampleBackends() []exampleBackend {
	return []exampleBackend{
		{name: "go", dir: "go-backend", tools: []string{"go"},
			prepare: func(t *testing.T, dir string) []string {
				bin := filepath.Join(t.TempDir(), "go-backend")
				runCmd(t, dir, nil, "go", "build", "-o", bin, ".")
				return []string{bin}
			}},
		{name: "node", dir: "node-backend", tools: []string{"node", "npm"},
			prepare: func(t *testing.T, dir string) []string {
				if _, err := os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks")); err != nil {
					runCmd(t, dir, nil, "npm", "ci", "--no-audit", "--no-fund")
				}
				return []string{"node", "server.js"}
			}},
		{name: "python", dir: "python-backend", tools: []string{"python3"},
			prepare: func(t *testing.T, dir string) []string { return []string{"python3", "server.py"} },
			extra: func(t *testing.T, dir string) {
				// The hand-written verification against the known-answer
				// vector of the Standard Webhooks spec, at its own time.
				script := `
import email.message, server
h = email.message.Message()
h["webhook-id"] = "msg_p5jXN8AQM9LWM0D4loKWxJek"
h["webhook-timestamp"] = "1614265330"
h["webhook-signature"] = "v1,bm90LXRoZS1zaWduYXR1cmU= v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
key = server.parse_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
server.verify(key, h, b'{"test": 2432232314}', now=1614265330)
for body, now in ((b'{"test": 2432232315}', 1614265330), (b'{"test": 2432232314}', 1614265330 + 301)):
    try:
        server.verify(key, h, body, now=now)
    except server.VerificationError:
        continue
    raise SystemExit("accepted a changed body or a stale timestamp")
print("vector ok")
`
				out := runCmd(t, dir, environ(map[string]string{"PYTHONDONTWRITEBYTECODE": "1"}), "python3", "-c", script)
				if !strings.Contains(string(out), "vector ok") {
					t.Errorf("python known-answer check: %s", out)
				}
			}},
	}
}

func TestExamples(t *testing.T) {
	root := repoRoot(t)
	hookguard := buildHookguard(t)
	secrets := t.TempDir()
	env := exEnv(t, secrets)

	t.Run("every config passes hookguard check", func(t *testing.T) {
		files, err := filepath.Glob(filepath.Join(root, "examples", "configs", "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var tested []string
		for _, c := range exampleConfigs() {
			tested = append(tested, c.file)
		}
		for _, f := range files {
			if !slices.Contains(tested, filepath.Base(f)) {
				t.Errorf("examples/configs/%s is not exercised by this test: add it to exampleConfigs", filepath.Base(f))
			}
		}
		for _, c := range exampleConfigs() {
			t.Run(c.file, func(t *testing.T) {
				t.Parallel()
				path := filepath.Join(root, "examples", "configs", c.file)
				out := runCmd(t, root, environ(env), hookguard, "check", "--config", path)
				if !strings.Contains(string(out), "config ok") || !strings.Contains(string(out), c.path) {
					t.Errorf("hookguard check printed:\n%s", out)
				}
				if strings.Contains(string(out), "whsec_") || strings.Contains(string(out), env["LIVEKIT_API_SECRET"]) {
					t.Errorf("hookguard check printed a secret:\n%s", out)
				}
				// Each variable the file names is needed: without it, the
				// check fails and names it.
				for _, v := range c.vars {
					partial := map[string]string{}
					for k, val := range env {
						if k != v {
							partial[k] = val
						}
					}
					ctx, cancel := context.WithTimeout(context.Background(), exStart)
					cmd := exec.CommandContext(ctx, hookguard, "check", "--config", path)
					cmd.Env = environ(partial)
					out, err := cmd.CombinedOutput()
					cancel()
					if err == nil || !strings.Contains(string(out), v) {
						t.Errorf("without %s: err %v, output %q; want a failure naming %s", v, err, out, v)
					}
				}
			})
		}
	})

	t.Run("backends behind hookguard", func(t *testing.T) {
		for _, b := range exampleBackends() {
			t.Run(b.name, func(t *testing.T) {
				t.Parallel()
				needTools(t, b.tools...)
				testBackend(t, root, hookguard, env, b)
			})
		}
	})
}

func testBackend(t *testing.T, root, hookguard string, env map[string]string, b exampleBackend) {
	dir := filepath.Join(root, "examples", b.dir)
	argv := b.prepare(t, dir)
	if b.extra != nil {
		b.extra(t, dir)
	}
	backend := startProc(t, b.name+"-backend", dir,
		environ(map[string]string{"LISTEN": "127.0.0.1:0", "FORWARD_SECRET": swForwardSecret, "PYTHONDONTWRITEBYTECODE": "1"}), argv...)
	backendAddr := backend.listenAddr(t)
	work := t.TempDir()

	for i, c := range exampleConfigs() {
		t.Run(c.file, func(t *testing.T) {
			// The example config as it is, pointed at this backend.
			raw, err := os.ReadFile(filepath.Join(root, "examples", "configs", c.file))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(raw, []byte("127.0.0.1:9000")) {
				t.Fatalf("%s does not send to the backend's default address 127.0.0.1:9000", c.file)
			}
			cfgPath := filepath.Join(work, c.file)
			if err := os.WriteFile(cfgPath, bytes.ReplaceAll(raw, []byte("127.0.0.1:9000"), []byte(backendAddr)), 0o600); err != nil {
				t.Fatal(err)
			}
			hg := startProc(t, "hookguard "+c.file, root, environ(env),
				hookguard, "serve", "--config", cfgPath, "--listen", "127.0.0.1:0", "--admin-listen", "off")
			hgURL := "http://" + hg.listenAddr(t) + c.path

			id := fmt.Sprintf("ex%s%d_%d", b.name, i, time.Now().UnixNano())
			extra, want := c.send(t, id, work)
			secret := os.Expand(c.secret, func(k string) string { return env[k] })
			// Sent twice, as a provider's retry: the backend gets it once.
			args := append([]string{"send", "--provider", c.provider, "--url", hgURL, "--key-id", c.keyID, "--secret", secret, "--count", "2"}, extra...)
			out := string(runCmd(t, root, environ(env), hookguard, args...))
			if n := strings.Count(out, "200 "); n != 2 {
				t.Errorf("hookguard send: want two 200 answers, got:\n%s", out)
			}
			if c.answer != "" && !strings.Contains(out, c.answer) {
				t.Errorf("hookguard send: the answer does not contain %s:\n%s", c.answer, out)
			}
			for _, w := range want {
				lines := backend.waitLines(t, 5*time.Second, 1, func(m map[string]any) bool {
					return m["msg"] == "event" && m["event_id"] == w.id
				})
				l := lines[0]
				got := [5]string{str(l["provider"]), str(l["route"]), str(l["type"]), str(l["key_id"]), str(l["event_time"])}
				if got[0] != c.provider || got[1] != c.route || got[2] != w.typ || got[3] != c.keyID || (got[4] == "") != c.untimed {
					t.Errorf("backend logged provider, route, type, key_id, event_time = %q, want [%s %s %s %s <a time>]", got, c.provider, c.route, w.typ, c.keyID)
				}
			}
			// The second copy was a duplicate: logged once only. Give a
			// stray second forward time to show up before counting.
			time.Sleep(50 * time.Millisecond)
			for _, w := range want {
				n := 0
				for _, l := range backend.lines() {
					if l["msg"] == "event" && l["event_id"] == w.id {
						n++
					}
				}
				if n != 1 {
					t.Errorf("backend logged event %s %d times, want 1", w.id, n)
				}
			}
			if c.provider == verify.ProviderStandardWebhooks {
				lines := backend.waitLines(t, time.Second, 1, func(m map[string]any) bool { return m["event_id"] == want[0].id })
				if ct := str(lines[0]["content_type"]); ct != "application/cloudevents+json" {
					t.Errorf("format cloudevents: backend got Content-Type %q", ct)
				}
			}
		})
	}

	t.Run("bad forwarding signatures sent straight to the backend get 401", func(t *testing.T) {
		url := "http://" + backendAddr + "/hooks"
		body := []byte(`{"event":"room_started","id":"EV_direct"}`)
		now := time.Now()
		rejected := 0
		for _, tc := range []struct {
			name   string
			header http.Header
			body   []byte
			want   int
		}{
			{"correctly signed (control)", exHeaders(swSign(t, swForwardSecret, "EV_direct", now, body)), body, http.StatusOK},
			{"no signature", http.Header{"Content-Type": {"application/json"}, proxy.HeaderProvider: {"livekit"}, proxy.HeaderEventID: {"EV_direct"}}, body, http.StatusUnauthorized},
			{"signed with another secret", exHeaders(swSign(t, swOtherSecret, "EV_direct", now, body)), body, http.StatusUnauthorized},
			{"body changed after signing", exHeaders(swSign(t, swForwardSecret, "EV_direct", now, body)), []byte(`{"event":"room_finished","id":"EV_direct"}`), http.StatusUnauthorized},
			{"signed 10 minutes ago", exHeaders(swSign(t, swForwardSecret, "EV_direct", now.Add(-10*time.Minute), body)), body, http.StatusUnauthorized},
			{"the provider's own signature instead", http.Header{"Content-Type": {"application/webhook+json"}, "Authorization": {"eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"}}, body, http.StatusUnauthorized},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, answer := swPost(t, url, tc.header, tc.body)
				if status != tc.want {
					t.Errorf("backend answered %d %s, want %d", status, answer, tc.want)
				}
				if status == http.StatusUnauthorized {
					rejected++
				}
				if tc.want == http.StatusOK && !json.Valid([]byte(answer)) {
					t.Errorf("backend answered %q, want JSON", answer)
				}
			})
		}
		backend.waitLines(t, 5*time.Second, rejected, func(m map[string]any) bool { return m["msg"] == "rejected" })
	})

	t.Run("a Tencent event gets Tencent's acknowledgement", func(t *testing.T) {
		body := []byte(`{"CallbackCommand":"Live.CallbackBeforeSendGift"}`)
		h := exHeaders(swSign(t, swForwardSecret, "sha256:direct", time.Now(), body))
		h.Set(proxy.HeaderProvider, verify.ProviderTencent)
		status, answer := swPost(t, "http://"+backendAddr+"/tencent", h, body)
		if status != http.StatusOK || strings.TrimSpace(answer) != exTencentAck {
			t.Errorf("backend answered %d %q, want 200 %s", status, answer, exTencentAck)
		}
	})
}

// exHeaders adds hookguard's normalized headers to signed headers.
func exHeaders(h http.Header) http.Header {
	h.Set(proxy.HeaderProvider, verify.ProviderLiveKit)
	h.Set(proxy.HeaderEventID, h.Get("webhook-id"))
	h.Set(proxy.HeaderEventType, "room_started")
	return h
}
