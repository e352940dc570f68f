package proxy

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hookguard/hookguard/dedupe"
	"github.com/hookguard/hookguard/internal/testredis"
	"github.com/hookguard/hookguard/verify"
)

// replica is one hookguard instance with its own Redis client.
func newReplica(t *testing.T, redisURL, appURL, onStoreError string) *httptest.Server {
	t.Helper()
	store, err := dedupe.NewRedis(dedupe.RedisConfig{URL: redisURL, Namespace: "hookguard-test:" + t.Name() + ":"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	h, err := New(Config{
		Routes: []Route{{Path: "/livekit", Provider: verify.ProviderLiveKit, Upstream: mustURL(t, appURL+"/hooks"),
			Verifier: mustVerifier(t, verify.ProviderLiveKit, map[string][]string{lkKey: {lkSecret}})}},
		Store:        store,
		OnStoreError: onStoreError,
		Logger:       slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(h)
	t.Cleanup(front.Close)
	return front
}

// receivedByID counts the app's deliveries per X-Hookguard-Event-Id.
func (a *recordingApp) receivedByID() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := map[string]int{}
	for _, r := range a.received {
		m[r.header.Get(HeaderEventID)]++
	}
	return m
}

// TestTwoReplicasShareOneRedis sends every event four times, concurrently,
// spread over two hookguard instances sharing one Redis: each event reaches
// the app exactly once, and every copy is answered 200.
func TestTwoReplicasShareOneRedis(t *testing.T) {
	srv := testredis.Start(t)
	app := newRecordingApp(t)
	app.delay.Store(int64(5 * time.Millisecond))
	replicas := []*httptest.Server{newReplica(t, srv.URL(), app.srv.URL, ""), newReplica(t, srv.URL(), app.srv.URL, "")}

	const events, copies = 100, 4
	now := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, events*copies)
	for i := range events {
		id := fmt.Sprintf("EV_replica_%03d", i)
		body := livekitBody(id, "participant_joined", now)
		for c := range copies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := livekitRequest(t, replicas[(i+c)%2].URL+"/livekit", body, lkKey, lkSecret, now)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("%s copy %d: status %d", id, c, resp.StatusCode)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := app.receivedByID()
	if len(got) != events {
		t.Errorf("app received %d distinct events, want %d", len(got), events)
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("%s reached the app %d times", id, n)
		}
	}
}

// TestRedisStoppedMidRunLosesNothing stops Redis halfway through a run:
// with on_store_error forward, every event still reaches the app and every
// sender gets 2xx (duplicates are allowed, losses are not); with reject,
// the sender gets 503 and the event is delivered once Redis is back.
func TestRedisStoppedMidRunLosesNothing(t *testing.T) {
	srv := testredis.Start(t)
	app := newRecordingApp(t)
	forward := newReplica(t, srv.URL(), app.srv.URL, OnStoreErrorForward)
	now := time.Now()
	send := func(front *httptest.Server, id string) int {
		body := livekitBody(id, "track_published", now)
		resp, err := http.DefaultClient.Do(livekitRequest(t, front.URL+"/livekit", body, lkKey, lkSecret, now))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const events = 40
	for i := range events {
		if i == events/2 {
			srv.Stop()
		}
		if s := send(forward, fmt.Sprintf("EV_stop_%02d", i)); s != 200 {
			t.Fatalf("event %d: status %d with Redis %s", i, s, map[bool]string{true: "down", false: "up"}[i >= events/2])
		}
	}
	got := app.receivedByID()
	for i := range events {
		if id := fmt.Sprintf("EV_stop_%02d", i); got[id] == 0 {
			t.Errorf("%s was lost", id)
		}
	}

	reject := newReplica(t, srv.URL(), app.srv.URL, OnStoreErrorReject)
	if s := send(reject, "EV_reject_policy"); s != http.StatusServiceUnavailable {
		t.Fatalf("reject policy with Redis down: status %d, want 503", s)
	}
	if app.receivedByID()["EV_reject_policy"] != 0 {
		t.Fatal("reject policy forwarded an event it could not deduplicate")
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	// go-redis reconnects on its own; the sender's retry goes through.
	deadline := time.Now().Add(10 * time.Second)
	for send(reject, "EV_reject_policy") != 200 {
		if time.Now().After(deadline) {
			t.Fatal("retry after Redis came back was not accepted")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := app.receivedByID()["EV_reject_policy"]; n != 1 {
		t.Fatalf("EV_reject_policy reached the app %d times, want 1", n)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
