package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/internal/freeport"
	"github.com/hookguard/hookguard/internal/syncbuf"
	"github.com/hookguard/hookguard/internal/testredis"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitUp(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered: %v", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startServe runs `hookguard serve --config` in-process and returns the
// webhook and admin base URLs, the log, and a stop function that returns
// run's error.
func startServe(t *testing.T, config string, getenv func(string) string) (string, string, *syncbuf.Buffer, func() error) {
	t.Helper()
	return startServeWith(t, config, getenv, freeAddr(t))
}

func startServeWith(t *testing.T, config string, getenv func(string) string, listen string) (string, string, *syncbuf.Buffer, func() error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hookguard.yaml")
	if err := os.WriteFile(p, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return startServeConfigFile(t, p, getenv, listen)
}

// startServeAt serves the config file at p.
func startServeConfigFile(t *testing.T, p string, getenv func(string) string, listen string) (string, string, *syncbuf.Buffer, func() error) {
	t.Helper()
	admin := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--config", p, "--listen", listen, "--admin-listen", admin}, getenv, io.Discard, logs)
	}()
	stop := func() error { cancel(); return <-done }
	t.Cleanup(func() { cancel() })
	waitUp(t, "http://"+admin+"/healthz")
	return "http://" + listen, "http://" + admin, logs, stop
}

func TestServeMetricsHealthAndOneLogLinePerWebhook(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer app.Close()
	cfg := "routes:\n  - path: /lk\n    provider: livekit\n    upstream: " + app.URL + "\n    secrets:\n      key1: ${LK}\n"
	base, admin, logs, stop := startServe(t, cfg, mapEnv(map[string]string{"LK": "the-livekit-secret"}))

	if s, body := get(t, admin+"/readyz"); s != 200 {
		t.Fatalf("readyz: %d %s", s, body)
	}
	var out bytes.Buffer
	e := env{getenv: mapEnv(nil), readFile: os.ReadFile, now: time.Now}
	if err := send(context.Background(), []string{"--provider", "livekit", "--url", base + "/lk", "--key-id", "key1", "--secret", "the-livekit-secret", "--id", "EV_m1", "--count", "2"}, e, &out, io.Discard); err != nil {
		t.Fatalf("send: %v (%s)", err, out.String())
	}
	if err := send(context.Background(), []string{"--provider", "livekit", "--url", base + "/lk", "--key-id", "key1", "--secret", "the-livekit-secret", "--forge"}, e, &out, io.Discard); err == nil {
		t.Fatal("a forged webhook was accepted")
	}
	_, metrics := get(t, admin+"/metrics")
	for _, want := range []string{
		`hookguard_webhooks_total{outcome="forwarded",provider="livekit",reason="",route="/lk"} 1`,
		`hookguard_webhooks_total{outcome="duplicate",provider="livekit",reason="",route="/lk"} 1`,
		`hookguard_webhooks_total{outcome="rejected",provider="livekit",reason="signature_mismatch",route="/lk"} 1`,
		`hookguard_upstream_responses_total{class="2xx",route="/lk"} 1`,
		`hookguard_verify_duration_seconds_count{provider="livekit",route="/lk"} 3`,
		`hookguard_forwards_in_flight 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	log := logs.String()
	if n := strings.Count(log, `"msg":"webhook"`); n != 3 {
		t.Errorf("%d webhook log lines, want 3:\n%s", n, log)
	}
	for _, field := range []string{`"route":"/lk"`, `"provider":"livekit"`, `"event_id":"EV_m1"`, `"type":"room_started"`, `"outcome":"duplicate"`, `"reason":"signature_mismatch"`, `"upstream_status":200`, `"duration_ms":`} {
		if !strings.Contains(log, field) {
			t.Errorf("log lacks %s", field)
		}
	}
	if strings.Contains(log, "the-livekit-secret") {
		t.Error("the secret appears in the log")
	}
}

func TestReadyzFollowsRedis(t *testing.T) {
	srv := testredis.Start(t)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer app.Close()
	cfg := "dedupe: {store: redis, redis_url: \"" + srv.URL() + "\"}\nroutes:\n  - path: /lk\n    provider: livekit\n    upstream: " + app.URL + "\n    secrets: {key1: s}\n"
	_, admin, _, stop := startServe(t, cfg, mapEnv(nil))
	if s, body := get(t, admin+"/readyz"); s != 200 {
		t.Fatalf("readyz with Redis up: %d %s", s, body)
	}
	srv.Stop()
	if s, body := get(t, admin+"/readyz"); s != 503 || !strings.Contains(body, "dedupe_store") {
		t.Fatalf("readyz with Redis down: %d %s", s, body)
	}
	if s, _ := get(t, admin+"/healthz"); s != 200 {
		t.Fatalf("healthz with Redis down: %d (the process is alive)", s)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if s, _ := get(t, admin+"/readyz"); s == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("readyz did not recover with Redis")
		}
		time.Sleep(100 * time.Millisecond)
	}
	var out bytes.Buffer
	if err := healthcheck(context.Background(), []string{admin + "/readyz"}, &out); err != nil {
		t.Fatalf("healthcheck: %v", err)
	}
	stop()
}

func TestCheckPrintsRoutesWithoutSecrets(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(p, []byte("routes:\n  - path: /lk\n    provider: livekit\n    upstream: http://user:pw@127.0.0.1:9000/x\n    secrets: {key1: [very-secret-1, very-secret-2]}\n    forward: {signing_secret: \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\", format: cloudevents}\n"), 0o600)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"check", "--config", p}, mapEnv(nil), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"/lk", "livekit", "key1(2)", "cloudevents+signed", "9s", "config ok"} {
		if !strings.Contains(s, want) {
			t.Errorf("check output lacks %q:\n%s", want, s)
		}
	}
	for _, secret := range []string{"very-secret", "MfKQ9r8", ":pw@"} {
		if strings.Contains(s, secret) {
			t.Errorf("check output shows %q:\n%s", secret, s)
		}
	}
	if err := run(context.Background(), []string{"check", "--config", p + ".missing"}, mapEnv(nil), &out, io.Discard); err == nil {
		t.Error("check of a missing file succeeded")
	}
}
