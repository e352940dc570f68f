package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingApp answers with status and counts the events it took by id.
type countingApp struct {
	status atomic.Int32
	mu     sync.Mutex
	took   map[string]int
	srv    *httptest.Server
}

func newCountingApp(t *testing.T) *countingApp {
	a := &countingApp{took: map[string]int{}}
	a.status.Store(http.StatusOK)
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		st := int(a.status.Load())
		if st/100 == 2 {
			a.mu.Lock()
			a.took[r.Header.Get("X-Hookguard-Event-Id")]++
			a.mu.Unlock()
		}
		w.WriteHeader(st)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *countingApp) count(id string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.took[id]
}

// The newcomer's path: a queue route, the app down, events sent and
// acknowledged; hookguard restarted; the app back: every event arrives once.
func TestServeQueueRouteDeliversAcrossARestart(t *testing.T) {
	app := newCountingApp(t)
	app.status.Store(http.StatusServiceUnavailable)
	dir := t.TempDir()
	config := `
routes:
  - path: /livekit
    provider: livekit
    upstream: ` + app.srv.URL + `/hooks
    secrets: {devkey: livekit-secret-with-at-least-32-chars}
    delivery: queue
    retry: {initial_backoff: 20ms, max_backoff: 50ms}
queue:
  path: ` + filepath.Join(dir, "queue.db") + `
`
	base, admin, logs, stop := startServe(t, config, mapEnv(nil))
	ids := []string{"EV_q1", "EV_q2", "EV_q3"}
	for _, id := range ids {
		req, err := newSignedRequest(signed{Provider: "livekit", URL: base + "/livekit", KeyID: "devkey",
			Secret: "livekit-secret-with-at-least-32-chars", ID: id})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Hookguard-Queue-Id") == "" {
			t.Fatalf("%s: %d, queue id %q", id, resp.StatusCode, resp.Header.Get("X-Hookguard-Queue-Id"))
		}
	}
	time.Sleep(100 * time.Millisecond) // a few failed attempts
	if _, metrics := get(t, admin+"/metrics"); !strings.Contains(metrics, `hookguard_queue_retrying{route="/livekit"}`) {
		t.Errorf("no queue gauges in /metrics")
	}
	if err := stop(); err != nil {
		t.Fatalf("serve: %v\n%s", err, logs)
	}
	if !strings.Contains(logs.String(), `"msg":"queue delivery"`) {
		t.Errorf("no delivery attempt was logged:\n%s", logs)
	}

	app.status.Store(http.StatusOK)
	_, _, logs, stop = startServe(t, config, mapEnv(nil))
	deadline := time.Now().Add(10 * time.Second)
	for _, id := range ids {
		for app.count(id) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s never reached the app after the restart\n%s", id, logs)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	time.Sleep(100 * time.Millisecond)
	for _, id := range ids {
		if n := app.count(id); n != 1 {
			t.Errorf("%s reached the app %d times", id, n)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// What failed for good is listed with `hookguard queue dead` and sent again
// with `replay`, through the admin API and its token.
func TestQueueCLIListsAndReplaysDeadLetters(t *testing.T) {
	app := newCountingApp(t)
	app.status.Store(http.StatusUnprocessableEntity) // the app refuses: dead at once
	dir := t.TempDir()
	const tok = "an-admin-token-for-tests"
	config := `
admin: {token: "${ADMIN_TOKEN}"}
routes:
  - path: /livekit
    provider: livekit
    upstream: ` + app.srv.URL + `/hooks
    secrets: {devkey: livekit-secret-with-at-least-32-chars}
    delivery: queue
queue:
  path: ` + filepath.Join(dir, "queue.db") + `
`
	getenv := mapEnv(map[string]string{"ADMIN_TOKEN": tok})
	base, admin, logs, stop := startServe(t, config, getenv)
	defer stop()
	req, err := newSignedRequest(signed{Provider: "livekit", URL: base + "/livekit", KeyID: "devkey",
		Secret: "livekit-secret-with-at-least-32-chars", ID: "EV_refused"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	cli := func(args ...string) (string, error) {
		var out strings.Builder
		err := run(t.Context(), append([]string{"queue", "--admin", admin, "--token", "env:ADMIN_TOKEN"}, args...), getenv, &out, io.Discard)
		return out.String(), err
	}
	var out string
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out, "EV_refused") {
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter listed: %q\n%s", out, logs)
		}
		time.Sleep(20 * time.Millisecond)
		out, err = cli("dead")
		if err != nil {
			t.Fatal(err)
		}
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	if out, err := cli("dead", id); err != nil || !strings.Contains(out, "the app answered 422") {
		t.Fatalf("dead %s: %q %v", id, out, err)
	}
	if out, err := cli("status"); err != nil || !strings.Contains(out, "/livekit") {
		t.Fatalf("status: %q %v", out, err)
	}
	// Without the token the API refuses.
	var sink strings.Builder
	if err := run(t.Context(), []string{"queue", "--admin", admin, "status"}, mapEnv(nil), &sink, io.Discard); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("status without a token: %v", err)
	}

	app.status.Store(http.StatusOK) // the app is fixed
	if out, err := cli("replay", id); err != nil || !strings.Contains(out, "replayed "+id) {
		t.Fatalf("replay: %q %v", out, err)
	}
	for app.count("EV_refused") != 1 {
		if time.Now().After(deadline.Add(5 * time.Second)) {
			t.Fatalf("the replayed event never reached the app\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if out, err := cli("dead"); err != nil || !strings.Contains(out, "0 dead letters") {
		t.Fatalf("after replay: %q %v", out, err)
	}
	if _, err := cli("drop", id); err == nil || !strings.Contains(err.Error(), "no such dead letter") {
		t.Fatalf("drop of a delivered event: %v", err)
	}
}

func TestAdminTokenRequiredOffLoopback(t *testing.T) {
	e := env{getenv: mapEnv(map[string]string{"T": "short"}), now: time.Now}
	cases := []struct {
		admin string
		want  string // "" for no error
	}{
		{`admin: {listen: "127.0.0.1:9090"}`, ""},
		{`admin: {listen: "[::1]:9090"}`, ""},
		{`admin: {listen: "localhost:9090"}`, ""},
		{`admin: {listen: off}`, ""},
		{`admin: {listen: ":9090"}`, "admin.token: required when admin.listen (:9090)"},
		{`admin: {listen: "0.0.0.0:9090"}`, "admin.token: required"},
		{`admin: {listen: "10.1.2.3:9090"}`, "admin.token: required"},
		{`admin: {listen: ":9090", token: "${T}"}`, "admin.token: at least 16"},
		{`admin: {listen: ":9090", token: "${NOPE}"}`, `"NOPE"`},
		{`admin: {listen: ":9090", token: "0123456789abcdef"}`, ""},
		{`admin: {metrics: public}`, "admin.metrics"},
	}
	for _, tc := range cases {
		cfg, err := parseConfig([]byte(tc.admin+"\n"), e.getenv)
		if err == nil {
			_, err = checkAdmin(cfg, e)
		}
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: error %v, want %q", tc.admin, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "short") {
			t.Errorf("%s: the token appears in %v", tc.admin, err)
		}
	}
}

func TestCheckWarnsAboutTencentQueueRoutes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hookguard.yaml")
	config := `routes:
  - path: /tencent
    provider: tencent
    upstream: http://127.0.0.1:9/x
    secrets: {"1400000000": token}
    delivery: queue
  - path: /livekit
    provider: livekit
    upstream: http://127.0.0.1:9/x
    secrets: {devkey: secret}
    delivery: queue
`
	if err := os.WriteFile(p, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := run(t.Context(), []string{"check", "--config", p}, mapEnv(nil), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "warning: routes[0] (/tencent): delivery: queue: Tencent \"Before\" callbacks") ||
		strings.Contains(out.String(), "routes[1] (/livekit): delivery: queue") {
		t.Fatalf("check output:\n%s", out.String())
	}
}

// Two replicas on one host never share a Redis consumer name; one replica
// restarted keeps its own.
func TestDefaultConsumerIsPerInstance(t *testing.T) {
	e := env{getenv: mapEnv(map[string]string{"HOSTNAME": "node-1"})}
	a, b := defaultConsumer(e, ":8081"), defaultConsumer(e, ":8082")
	if a == b || a != defaultConsumer(e, ":8081") || !strings.HasPrefix(a, "node-1/") {
		t.Fatalf("consumers %q and %q", a, b)
	}
}
