package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hookguard/hookguard/internal/syncbuf"
)

const (
	oldSecret = "livekit-old-secret-with-32-chars-or-more"
	newSecret = "livekit-new-secret-with-32-chars-or-more"
)

// postSigned sends a LiveKit event signed with secret and returns the
// status.
func postSigned(t *testing.T, base, path, secret, id string) int {
	t.Helper()
	req, err := newSignedRequest(signed{Provider: "livekit", URL: base + path, KeyID: "devkey", Secret: secret, ID: id})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// reloads reads hookguard_config_reloads_total{result} from /metrics.
func reloads(t *testing.T, admin, result string) int {
	t.Helper()
	_, m := get(t, admin+"/metrics")
	var n int
	for _, line := range strings.Split(m, "\n") {
		if strings.HasPrefix(line, `hookguard_config_reloads_total{result="`+result+`"}`) {
			fmt.Sscan(strings.Fields(line)[1], &n)
		}
	}
	return n
}

func waitReloads(t *testing.T, admin, result string, n int, logs fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for reloads(t, admin, result) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no %s reload counted\n%s", result, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writeAtomic replaces path as editors and most tools do: a new file
// renamed over the old one.
func writeAtomic(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func reloadConfig(upstream, secretRef string, extra string) string {
	return `watch: true
routes:
  - path: /livekit
    provider: livekit
    upstream: ` + upstream + `
    secrets: {devkey: "` + secretRef + `"}
` + extra
}

// A Kubernetes Secret update: the mounted directory's ..data symlink is
// swapped to a new directory. hookguard watches the directory, so it sees
// it, and the new secret works without a restart while the old stops.
func TestSecretRotationWithoutRestart(t *testing.T) {
	app := newCountingApp(t)
	dir := t.TempDir()
	secrets := filepath.Join(dir, "secrets")
	os.MkdirAll(filepath.Join(secrets, "..2026_v1"), 0o700)
	os.WriteFile(filepath.Join(secrets, "..2026_v1", "livekit"), []byte(oldSecret+"\n"), 0o600)
	os.Symlink("..2026_v1", filepath.Join(secrets, "..data"))
	os.Symlink("..data/livekit", filepath.Join(secrets, "livekit"))

	cfgPath := filepath.Join(dir, "hookguard.yaml")
	base, admin, logs, stop := startServeFile(t, cfgPath, reloadConfig(app.srv.URL, "file:"+filepath.Join(secrets, "livekit"), ""))
	defer stop()
	if st := postSigned(t, base, "/livekit", oldSecret, "EV_r1"); st != 200 {
		t.Fatalf("old secret before rotation: %d", st)
	}

	// The kubelet's swap: a new dir, a new ..data link renamed over the old.
	os.MkdirAll(filepath.Join(secrets, "..2026_v2"), 0o700)
	os.WriteFile(filepath.Join(secrets, "..2026_v2", "livekit"), []byte(newSecret+"\n"), 0o600)
	os.Symlink("..2026_v2", filepath.Join(secrets, "..data_tmp"))
	if err := os.Rename(filepath.Join(secrets, "..data_tmp"), filepath.Join(secrets, "..data")); err != nil {
		t.Fatal(err)
	}
	waitReloads(t, admin, reloadOK, 1, logs)
	if st := postSigned(t, base, "/livekit", newSecret, "EV_r2"); st != 200 {
		t.Fatalf("new secret after rotation: %d\n%s", st, logs)
	}
	if st := postSigned(t, base, "/livekit", oldSecret, "EV_r3"); st != 401 {
		t.Fatalf("old secret after rotation: %d", st)
	}
	// A duplicate of an event delivered before the reload is still one:
	// the route kept its dedupe records.
	before := app.count("EV_r1")
	if st := postSigned(t, base, "/livekit", newSecret, "EV_r1"); st != 200 || app.count("EV_r1") != before {
		t.Fatalf("EV_r1 again after the reload: %d, delivered %d times", st, app.count("EV_r1"))
	}
}

func TestReloadRefusesInvalidAndRestartOnlyChanges(t *testing.T) {
	app := newCountingApp(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hookguard.yaml")
	good := reloadConfig(app.srv.URL, oldSecret, "")
	base, admin, logs, stop := startServeFile(t, cfgPath, good)
	defer stop()

	// An invalid file: logged, counted, and the running config stays.
	writeAtomic(t, cfgPath, good+"    tolerance: soon\n")
	waitReloads(t, admin, reloadInvalid, 1, logs)
	if st := postSigned(t, base, "/livekit", oldSecret, "EV_i1"); st != 200 {
		t.Fatalf("after an invalid reload: %d", st)
	}
	if !logs.Await("config reload refused", 5*time.Second) || strings.Contains(logs.String(), oldSecret) {
		t.Fatalf("the refusal is not logged, or the log shows a secret:\n%s", logs)
	}

	// A store setting needs a restart: refused with a message saying so.
	writeAtomic(t, cfgPath, "dedupe: {ttl: 2h}\n"+good)
	waitReloads(t, admin, reloadRestartRequired, 1, logs)
	if !logs.Await("dedupe changed: needs a restart", 5*time.Second) {
		t.Fatalf("no restart message:\n%s", logs)
	}

	// A valid change goes in: a second route appears.
	app2 := newCountingApp(t)
	writeAtomic(t, cfgPath, good+`  - path: /second
    provider: livekit
    upstream: `+app2.srv.URL+`
    secrets: {devkey: "`+newSecret+`"}
`)
	waitReloads(t, admin, reloadOK, 1, logs)
	if st := postSigned(t, base, "/second", newSecret, "EV_i2"); st != 200 || app2.count("EV_i2") != 1 {
		t.Fatalf("the added route: %d", st)
	}
}

// A request in flight when the config is swapped finishes on the handler
// it started with; the next request uses the new one.
func TestReloadDoesNotDisturbRequestsInFlight(t *testing.T) {
	release := make(chan struct{})
	var seen atomic.Int32
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		<-release
		w.WriteHeader(200)
	}))
	defer slow.Close()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hookguard.yaml")
	base, admin, logs, stop := startServeFile(t, cfgPath, reloadConfig(slow.URL, oldSecret, ""))
	defer stop()
	done := make(chan int, 1)
	go func() { done <- postSigned(t, base, "/livekit", oldSecret, "EV_f1") }()
	for seen.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	writeAtomic(t, filepath.Join(dir, "hookguard.yaml"), reloadConfig(slow.URL, newSecret, ""))
	waitReloads(t, admin, reloadOK, 1, logs)
	close(release)
	if st := <-done; st != 200 {
		t.Fatalf("the request in flight during the reload: %d", st)
	}
	if st := postSigned(t, base, "/livekit", newSecret, "EV_f2"); st != 200 {
		t.Fatalf("after: %d", st)
	}
}

// SIGHUP reloads without watch, e.g. after a file: secret was rewritten in
// place.
func TestSIGHUPReloads(t *testing.T) {
	app := newCountingApp(t)
	dir := t.TempDir()
	secret := filepath.Join(dir, "lk")
	os.WriteFile(secret, []byte(oldSecret), 0o600)
	cfgPath := filepath.Join(dir, "hookguard.yaml")
	cfg := strings.Replace(reloadConfig(app.srv.URL, "file:"+secret, ""), "watch: true\n", "", 1)
	base, admin, logs, stop := startServeFile(t, cfgPath, cfg)
	defer stop()
	os.WriteFile(secret, []byte(newSecret), 0o600)
	time.Sleep(2 * watchDebounce)
	if st := postSigned(t, base, "/livekit", newSecret, "EV_h1"); st != 401 {
		t.Fatalf("without watch, the new secret before SIGHUP: %d", st)
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitReloads(t, admin, reloadOK, 1, logs)
	if st := postSigned(t, base, "/livekit", newSecret, "EV_h2"); st != 200 {
		t.Fatalf("after SIGHUP: %d", st)
	}
}

// startServeFile writes config to path and serves it.
func startServeFile(t *testing.T, path, config string) (string, string, *syncbuf.Buffer, func() error) {
	t.Helper()
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	base, admin, logs, stop := startServeConfigFile(t, path, mapEnv(nil), freeAddr(t))
	return base, admin, logs, stop
}

// Queued events stay queued across a reload, and go to the upstream the
// route has now.
func TestReloadMovesAQueueRouteToANewUpstream(t *testing.T) {
	down := newCountingApp(t)
	down.status.Store(http.StatusServiceUnavailable)
	up := newCountingApp(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hookguard.yaml")
	queued := func(upstream string) string {
		return reloadConfig(upstream, oldSecret, `    delivery: queue
    retry: {initial_backoff: 20ms, max_backoff: 40ms}
queue: {path: `+filepath.Join(dir, "q.db")+`}
`)
	}
	base, admin, logs, stop := startServeFile(t, cfgPath, queued(down.srv.URL))
	defer stop()
	for _, id := range []string{"EV_m1", "EV_m2"} {
		if st := postSigned(t, base, "/livekit", oldSecret, id); st != 200 {
			t.Fatalf("%s: %d", id, st)
		}
	}
	writeAtomic(t, cfgPath, queued(up.srv.URL))
	waitReloads(t, admin, reloadOK, 1, logs)
	deadline := time.Now().Add(10 * time.Second)
	for up.count("EV_m1") == 0 || up.count("EV_m2") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("queued events did not reach the new upstream\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
