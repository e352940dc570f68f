package proxy

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hookguard/hookguard/queue"
	"github.com/hookguard/hookguard/verify"
)

// queueFixture is newFixture with both routes on delivery: queue, over a
// real bbolt file.
type queueFixture struct {
	*fixture
	disk *queue.Disk
	path string
}

func newQueueFixture(t *testing.T, mod func(*Config)) *queueFixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "queue.db")
	disk, err := queue.OpenDisk(queue.DiskConfig{Path: path, MaxEvents: 50})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { disk.Close() })
	f := newFixture(t, func(c *Config) {
		for i := range c.Routes {
			c.Routes[i].Delivery = DeliveryQueue
		}
		c.Queue = disk
		if mod != nil {
			mod(c)
		}
	})
	return &queueFixture{fixture: f, disk: disk, path: path}
}

// dispatch runs a dispatcher for route until the returned stop is called.
func (f *queueFixture) dispatch(t *testing.T, route string) (stop func()) {
	t.Helper()
	d, err := queue.NewDispatcher(queue.DispatcherConfig{
		Store: f.disk, Route: route, Deliver: f.h.DeliverQueued,
		Retry:        &queue.Backoff{InitialBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond},
		PollInterval: 10 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); d.Run(ctx) }()
	return func() { cancel(); wg.Wait() }
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestQueueRouteAcknowledgesWhileTheAppIsDownAndDeliversLater(t *testing.T) {
	key := []byte("forward-signing-key-32-bytes-long!")
	f := newQueueFixture(t, func(c *Config) { c.Routes[0].Forward.SigningKey = key })
	f.app.status.Store(http.StatusServiceUnavailable) // the app is deploying
	now := time.Now()
	body := livekitBody("EV_queued", "room_started", now)
	req := livekitRequest(t, f.front.URL+"/livekit", body, lkKey, lkSecret, now)

	status, hdr, answer := do(t, clone(t, req, body))
	if status != http.StatusOK || hdr.Get(HeaderQueueID) == "" {
		t.Fatalf("queued event: %d %q (queue id %q)", status, answer, hdr.Get(HeaderQueueID))
	}
	// The provider's retry, and a replay, are acknowledged and not stored.
	for range 2 {
		if status, hdr, _ := do(t, clone(t, req, body)); status != http.StatusOK || hdr.Get(HeaderQueueID) != "" {
			t.Fatalf("duplicate: %d, queue id %q", status, hdr.Get(HeaderQueueID))
		}
	}
	if f.app.count() != 0 {
		t.Fatal("a queued event reached the app before any dispatcher ran")
	}

	stop := f.dispatch(t, "/livekit")
	defer stop()
	waitFor(t, "a failed attempt", func() bool { return f.app.count() >= 1 })
	f.app.status.Store(http.StatusOK) // the app is back
	waitFor(t, "the queue to drain", func() bool {
		st, _ := f.disk.Stats(context.Background())
		return len(st) == 1 && st[0].Waiting()+st[0].Retrying == 0
	})
	got := f.app.last()
	if string(got.body) != string(body) {
		t.Fatalf("body changed: %q", got.body)
	}
	for k, want := range map[string]string{
		HeaderProvider: verify.ProviderLiveKit, HeaderEventID: "EV_queued", HeaderKeyID: lkKey,
		HeaderEventType: "room_started", HeaderRoute: "/livekit",
	} {
		if v := got.header.Get(k); v != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
	if got.contentLength != int64(len(body)) || len(got.transferEncoding) != 0 {
		t.Errorf("framing: content-length %d, transfer-encoding %v", got.contentLength, got.transferEncoding)
	}
	// Re-signed at sending, so a receiver's timestamp window holds.
	ts := mustUnix(t, got.header.Get(verify.HeaderWebhookTimestamp))
	if want := verify.SignStandard(key, "EV_queued", ts, body); got.header.Get(verify.HeaderWebhookSignature) != want {
		t.Error("queued delivery is not signed for what it sends")
	}
	if d := time.Since(ts); d < 0 || d > 5*time.Second {
		t.Errorf("webhook-timestamp %v is not the delivery time", ts)
	}
	// After the 2xx the event is gone: a late retry of the provider's is
	// still a duplicate, and nothing is sent again.
	if status, hdr, _ := do(t, clone(t, req, body)); status != http.StatusOK || hdr.Get(HeaderQueueID) != "" {
		t.Fatalf("duplicate after delivery: %d %v", status, hdr)
	}
}

func TestQueueRouteDuplicateSurvivesARestart(t *testing.T) {
	f := newQueueFixture(t, nil)
	now := time.Now()
	body := []byte(`{"CallbackCommand":"Live.CallbackAfterCreateRoom","EventTime":` + strconv.FormatInt(now.UnixMilli(), 10) + `}`)
	status, hdr, answer := do(t, tencentRequest(t, f.front.URL, body, tcApp, tcToken, now))
	if status != http.StatusOK || answer != ackJSON || hdr.Get(HeaderQueueID) == "" {
		t.Fatalf("tencent queued: %d %q", status, answer)
	}
	// Restart: a new store on the same file, a new handler.
	f.disk.Close()
	disk, err := queue.OpenDisk(queue.DiskConfig{Path: f.path})
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	cfg := Config{Routes: []Route{{Path: "/tencent", Provider: verify.ProviderTencent, Delivery: DeliveryQueue,
		Upstream: mustURL(t, f.app.srv.URL+"/hooks/tencent?app=1"),
		Verifier: mustVerifier(t, verify.ProviderTencent, map[string][]string{tcApp: {tcToken}})}},
		Queue: disk, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	front := newFront(t, h)
	status, hdr, answer = do(t, tencentRequest(t, front, body, tcApp, tcToken, now))
	if status != http.StatusOK || answer != ackJSON || hdr.Get(HeaderQueueID) != "" {
		t.Fatalf("retry after restart: %d %q, queue id %q (want the ack, nothing stored)", status, answer, hdr.Get(HeaderQueueID))
	}
	st, _ := disk.Stats(context.Background())
	if len(st) != 1 || st[0].Available != 1 {
		t.Fatalf("stats after restart: %+v", st)
	}
}

func TestQueueRouteNeverAcknowledgesWhatItDidNotStore(t *testing.T) {
	f := newQueueFixture(t, nil)
	now := time.Now()
	// max_events is 50: the 51st waiting event is refused with 503.
	for i := range 50 {
		body := livekitBody("EV_full_"+strconv.Itoa(i), "room_started", now)
		if status, _, answer := do(t, livekitRequest(t, f.front.URL+"/livekit", body, lkKey, lkSecret, now)); status != http.StatusOK {
			t.Fatalf("event %d: %d %q", i, status, answer)
		}
	}
	body := livekitBody("EV_full_over", "room_started", now)
	status, hdr, answer := do(t, livekitRequest(t, f.front.URL+"/livekit", body, lkKey, lkSecret, now))
	if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Fatalf("over max_events: %d %q, Retry-After %q", status, answer, hdr.Get("Retry-After"))
	}
	// A failing store: 503, never 200.
	f.disk.Close()
	body = livekitBody("EV_store_down", "room_started", now)
	status, hdr, answer = do(t, livekitRequest(t, f.front.URL+"/livekit", body, lkKey, lkSecret, now))
	if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Fatalf("store closed: %d %q", status, answer)
	}
	// Forged requests are refused before the queue: nothing is stored.
	forged := livekitRequest(t, f.front.URL+"/livekit", body, lkKey, "forged-secret-forged-secret-forged", now)
	if status, _, _ := do(t, forged); status != http.StatusUnauthorized {
		t.Fatalf("forged: %d", status)
	}
}

func TestQueueRouteAppRefusalBecomesADeadLetterWithItsAnswer(t *testing.T) {
	f := newQueueFixture(t, nil)
	f.app.status.Store(http.StatusUnprocessableEntity)
	now := time.Now()
	body := livekitBody("EV_dead", "room_started", now)
	if status, _, _ := do(t, livekitRequest(t, f.front.URL+"/livekit", body, lkKey, lkSecret, now)); status != http.StatusOK {
		t.Fatal(status)
	}
	stop := f.dispatch(t, "/livekit")
	defer stop()
	var dead []queue.DeadLetter
	waitFor(t, "a dead letter", func() bool {
		dead, _ = f.disk.DeadLetters(context.Background(), "", 0)
		return len(dead) == 1
	})
	if dead[0].EventID != "EV_dead" || dead[0].LastStatus != http.StatusUnprocessableEntity || f.app.count() != 1 {
		t.Fatalf("dead letter %+v, app received %d", dead[0], f.app.count())
	}
	ev, err := f.disk.DeadLetter(context.Background(), dead[0].ID)
	if err != nil || ev.Answer == nil || string(ev.Answer.Body) != `{"app":"ok"}` {
		t.Fatalf("dead letter answer: %+v %v", ev, err)
	}
	// Replayed once the app is fixed, it is delivered.
	f.app.status.Store(http.StatusOK)
	if err := f.disk.Replay(context.Background(), dead[0].ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replay", func() bool { return f.app.count() == 2 })
}
