package main

import (
	"io"
	"net/http"
	"net/http/httptest"
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
