package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookguard/hookguard/internal/syncbuf"
)

// dispatchEnv is a Disk store and a dispatcher on route "/r" with a fake
// clock and a scripted deliver function.
type dispatchEnv struct {
	t       *testing.T
	clock   *fakeClock
	store   *Disk
	rec     *recordingConsumer
	logs    *syncbuf.Buffer
	obs     *countingObserver
	mu      sync.Mutex
	answers func(ev *Event, n int) Outcome // n: this event's attempt, from 1
	seen    []string                       // DedupeKeys in delivery order
	tries   map[string]int
	cancel  context.CancelFunc
	done    chan error
}

// recordingConsumer records what the dispatcher asks of the store.
type recordingConsumer struct {
	Consumer
	mu      sync.Mutex
	retries []time.Time // next times given to Retry
}

func (r *recordingConsumer) Retry(ctx context.Context, ev *Event, a Attempt, next time.Time) error {
	r.mu.Lock()
	r.retries = append(r.retries, next)
	r.mu.Unlock()
	return r.Consumer.Retry(ctx, ev, a, next)
}

func (r *recordingConsumer) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.retries)
}

func (r *recordingConsumer) lastRetry() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.retries) == 0 {
		return time.Time{}
	}
	return r.retries[len(r.retries)-1]
}

type countingObserver struct {
	mu      sync.Mutex
	results map[Result]int
}

func (o *countingObserver) ObserveEnqueue(string, time.Duration, Enqueued, error) {}
func (o *countingObserver) ObserveAttempt(route string, r Result, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.results[r]++
}

func (o *countingObserver) count(r Result) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.results[r]
}

func newDispatchEnv(t *testing.T, cfg DispatcherConfig, answers func(ev *Event, n int) Outcome) *dispatchEnv {
	t.Helper()
	e := &dispatchEnv{t: t, clock: newFakeClock(), logs: &syncbuf.Buffer{}, answers: answers,
		tries: map[string]int{}, obs: &countingObserver{results: map[Result]int{}}}
	e.store = openTestDisk(t, DiskConfig{Path: filepath.Join(t.TempDir(), "queue.db"), Now: e.clock.Now})
	e.rec = &recordingConsumer{Consumer: e.store}
	cfg.Store = e.rec
	cfg.Route = "/r"
	cfg.Now = e.clock.Now
	cfg.Logger = slog.New(slog.NewJSONHandler(e.logs, nil))
	cfg.Observer = e.obs
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 5 * time.Millisecond
	}
	if b, ok := cfg.Retry.(*Backoff); ok && b.Now == nil {
		b.Now = e.clock.Now
	}
	if cfg.Retry == nil {
		cfg.Retry = &Backoff{Now: e.clock.Now, Rand: func(n int64) int64 { return n - 1 }, InitialBackoff: time.Second, MaxBackoff: time.Minute}
	}
	if cfg.Deliver == nil {
		cfg.Deliver = e.deliver
	}
	d, err := NewDispatcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() { e.done <- d.Run(ctx) }()
	t.Cleanup(func() { e.stop() })
	return e
}

func (e *dispatchEnv) deliver(ctx context.Context, ev *Event) Outcome {
	e.mu.Lock()
	e.seen = append(e.seen, ev.DedupeKey)
	e.tries[ev.DedupeKey]++
	n := e.tries[ev.DedupeKey]
	e.mu.Unlock()
	return e.answers(ev, n)
}

// stop shuts the dispatcher down and waits for Run to return.
func (e *dispatchEnv) stop() {
	e.cancel()
	select {
	case err := <-e.done:
		if err != nil {
			e.t.Errorf("Run: %v", err)
		}
		e.done <- nil
	case <-time.After(10 * time.Second):
		e.t.Fatal("Run did not return after its context was cancelled")
	}
}

func (e *dispatchEnv) enqueue(keys ...string) {
	e.t.Helper()
	for _, k := range keys {
		enqueue(e.t, e.store, newEvent("/r", k))
		e.clock.Advance(time.Millisecond)
	}
}

func (e *dispatchEnv) tried(key string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tries[key]
}

func (e *dispatchEnv) order() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.seen...)
}

func (e *dispatchEnv) stats() RouteStats { return routeStats(e.t, e.store, "/r") }

// waitFor polls cond for up to 10 s of real time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// logLines returns the "queue delivery" log lines.
func (e *dispatchEnv) logLines() []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "queue delivery" {
			out = append(out, m)
		}
	}
	return out
}

func ok(*Event, int) Outcome { return Outcome{Status: 200} }

func TestDispatcherDeliversInArrivalOrder(t *testing.T) {
	var running, most atomic.Int32
	e := newDispatchEnv(t, DispatcherConfig{}, func(*Event, int) Outcome {
		n := running.Add(1)
		if n > most.Load() {
			most.Store(n)
		}
		time.Sleep(time.Millisecond)
		running.Add(-1)
		return Outcome{Status: 204}
	})
	keys := []string{"a", "b", "c", "d", "e", "f"}
	e.enqueue(keys...)
	waitFor(t, "every event delivered", func() bool { return len(e.order()) == len(keys) && e.stats().Waiting() == 0 })
	if got := strings.Join(e.order(), ""); got != "abcdef" {
		t.Errorf("delivered in order %s, want abcdef", got)
	}
	if most.Load() != 1 {
		t.Errorf("%d deliveries at once with Concurrency 1", most.Load())
	}
	if res, _ := e.store.Enqueue(context.Background(), newEvent("/r", "a")); !res.Duplicate {
		t.Error("a delivered event's key is not a duplicate")
	}
	waitFor(t, "log lines", func() bool { return len(e.logLines()) == len(keys) })
	line := e.logLines()[0]
	for _, k := range []string{"route", "id", "event_id", "type", "attempt", "status", "duration_ms", "result"} {
		if _, ok := line[k]; !ok {
			t.Errorf("log line lacks %q: %v", k, line)
		}
	}
	if line["result"] != "delivered" || line["event_id"] != "evt_a" {
		t.Errorf("log line %v", line)
	}
	waitFor(t, "the observer", func() bool { return e.obs.count(ResultDelivered) == len(keys) })
}

func TestDispatcherConcurrency(t *testing.T) {
	const n = 3
	var running, most atomic.Int32
	release := make(chan struct{})
	e := newDispatchEnv(t, DispatcherConfig{Concurrency: n}, func(*Event, int) Outcome {
		c := running.Add(1)
		for {
			m := most.Load()
			if c <= m || most.CompareAndSwap(m, c) {
				break
			}
		}
		<-release
		running.Add(-1)
		return Outcome{Status: 200}
	})
	e.enqueue("a", "b", "c", "d", "e")
	waitFor(t, "n deliveries at once", func() bool { return running.Load() == n })
	time.Sleep(20 * time.Millisecond) // a fourth would have started by now
	if most.Load() != n {
		t.Errorf("%d deliveries at once, want %d", most.Load(), n)
	}
	close(release)
	waitFor(t, "every event delivered", func() bool { return len(e.order()) == 5 && e.stats().Waiting() == 0 })
}

func TestDispatcherRetriesWithBackoff(t *testing.T) {
	e := newDispatchEnv(t, DispatcherConfig{}, func(_ *Event, n int) Outcome {
		if n < 3 {
			return Outcome{Status: 503}
		}
		return Outcome{Status: 200}
	})
	e.enqueue("k")
	// Rand returns n-1: waits just under 1 s, then 2 s.
	for i, wait := range []time.Duration{time.Second - 1, 2*time.Second - 1} {
		waitFor(t, "a retry scheduled", func() bool { return e.stats().Retrying == 1 && e.rec.count() == i+1 })
		if got := e.rec.lastRetry().Sub(e.clock.Now()); got != wait {
			t.Errorf("retry %d scheduled in %v, want %v", i+1, got, wait)
		}
		e.clock.Advance(wait - time.Millisecond)
		time.Sleep(20 * time.Millisecond)
		if e.tried("k") != i+1 {
			t.Fatalf("retried before its time")
		}
		e.clock.Advance(time.Millisecond)
		waitFor(t, "the retry", func() bool { return e.tried("k") == i+2 })
	}
	waitFor(t, "delivered", func() bool { return e.stats().Waiting()+e.stats().Retrying == 0 })
	waitFor(t, "the observer", func() bool { return e.obs.count(ResultRetry) == 2 && e.obs.count(ResultDelivered) == 1 })
	if n := len(e.logLines()); n != 3 {
		t.Errorf("%d log lines, want one per attempt (3)", n)
	}
}

func TestDispatcherHonoursRetryAfter(t *testing.T) {
	e := newDispatchEnv(t, DispatcherConfig{}, func(_ *Event, n int) Outcome {
		if n == 1 {
			return Outcome{Status: 429, RetryAfter: 30 * time.Second}
		}
		return Outcome{Status: 200}
	})
	e.enqueue("k")
	waitFor(t, "a retry scheduled", func() bool { return e.stats().Retrying == 1 })
	if got := e.rec.lastRetry().Sub(e.clock.Now()); got != 30*time.Second {
		t.Errorf("retry in %v, want the app's Retry-After, 30s", got)
	}
}

func TestDispatcherClientErrorIsDeadAtOnce(t *testing.T) {
	e := newDispatchEnv(t, DispatcherConfig{}, func(*Event, int) Outcome {
		return Outcome{Status: 422, ContentType: "application/json", Body: []byte(`{"error":"unknown room"}`)}
	})
	e.enqueue("k")
	waitFor(t, "a dead letter", func() bool { return e.stats().Dead == 1 })
	list, err := e.store.DeadLetters(context.Background(), "/r", 0)
	if err != nil || len(list) != 1 {
		t.Fatal(list, err)
	}
	dl, err := e.store.DeadLetter(context.Background(), list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if e.tried("k") != 1 || dl.TotalAttempts != 1 || dl.Answer == nil || dl.Answer.Status != 422 || !bytes.Equal(dl.Answer.Body, []byte(`{"error":"unknown room"}`)) {
		t.Errorf("tried %d; dead letter %+v answer %+v", e.tried("k"), dl, dl.Answer)
	}
	waitFor(t, "the observer", func() bool { return e.obs.count(ResultDead) == 1 })
}

func TestDispatcherMaxAttempts(t *testing.T) {
	e := newDispatchEnv(t, DispatcherConfig{Retry: &Backoff{MaxAttempts: 3, Rand: func(int64) int64 { return 0 }}},
		func(*Event, int) Outcome { return Outcome{Err: errors.New("dial tcp: connection refused")} })
	e.enqueue("k")
	waitFor(t, "a dead letter", func() bool { return e.stats().Dead == 1 })
	if e.tried("k") != 3 {
		t.Errorf("tried %d times, want MaxAttempts (3)", e.tried("k"))
	}
	list, _ := e.store.DeadLetters(context.Background(), "/r", 0)
	if len(list) != 1 || list[0].LastError != "dial tcp: connection refused" || list[0].Attempts != 3 {
		t.Errorf("dead letters %+v", list)
	}
}

func TestDispatcherMaxAge(t *testing.T) {
	e := newDispatchEnv(t, DispatcherConfig{}, func(*Event, int) Outcome { return Outcome{Status: 500} })
	// Built after the env so that the policy shares its clock.
	d, err := NewDispatcher(DispatcherConfig{Store: e.rec, Route: "/age", Now: e.clock.Now, PollInterval: 5 * time.Millisecond,
		Retry:   &Backoff{MaxAge: 10 * time.Second, InitialBackoff: time.Minute, MaxBackoff: time.Minute, Now: e.clock.Now, Rand: func(n int64) int64 { return n - 1 }},
		Deliver: func(context.Context, *Event) Outcome { return Outcome{Status: 500} }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	enqueue(t, e.store, newEvent("/age", "k"))
	waitFor(t, "a retry", func() bool { return routeStats(t, e.store, "/age").Retrying == 1 })
	// The wait (just under 1 min) is cut to the deadline, 10 s after enqueue.
	if got := e.rec.lastRetry().Sub(e.clock.Now()); got != 10*time.Second {
		t.Errorf("retry in %v, want at the MaxAge deadline (10s)", got)
	}
	e.clock.Advance(10 * time.Second)
	waitFor(t, "a dead letter", func() bool { return routeStats(t, e.store, "/age").Dead == 1 })
}

func TestDispatcherFailingEventDoesNotBlock(t *testing.T) {
	e := newDispatchEnv(t, DispatcherConfig{}, func(ev *Event, _ int) Outcome {
		if ev.DedupeKey == "bad" {
			return Outcome{Status: 500}
		}
		return Outcome{Status: 200}
	})
	e.enqueue("bad", "good1", "good2")
	waitFor(t, "the good events", func() bool { return e.tried("good2") == 1 })
	if got := strings.Join(e.order(), ","); got != "bad,good1,good2" {
		t.Errorf("order %s", got)
	}
	if st := e.stats(); st.Retrying != 1 {
		t.Errorf("stats %+v, want the bad event retrying", st)
	}
}

func TestDispatcherShutdownWaitsForDelivery(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	e := newDispatchEnv(t, DispatcherConfig{ShutdownTimeout: 10 * time.Second}, func(*Event, int) Outcome {
		close(started)
		<-release
		return Outcome{Status: 200}
	})
	e.enqueue("k", "next")
	<-started
	e.cancel()
	select {
	case <-e.done:
		t.Fatal("Run returned with a delivery in flight")
	case <-time.After(30 * time.Millisecond):
	}
	close(release)
	select {
	case <-e.done:
		e.done <- nil
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if e.tried("next") != 0 {
		t.Error("a delivery started after shutdown")
	}
	if st := e.stats(); st.Available != 1 || st.Running != 0 {
		t.Errorf("stats %+v: want the first delivered, the next left waiting", st)
	}
}

func TestDispatcherShutdownTimeoutCancels(t *testing.T) {
	e := newDispatchEnv(t, DispatcherConfig{ShutdownTimeout: 50 * time.Millisecond}, nil)
	var cause atomic.Value
	started := make(chan struct{})
	e.answers = func(*Event, int) Outcome { panic("unused") }
	d, err := NewDispatcher(DispatcherConfig{Store: e.store, Route: "/slow", Now: e.clock.Now, ShutdownTimeout: 50 * time.Millisecond,
		PollInterval: 5 * time.Millisecond,
		Deliver: func(ctx context.Context, _ *Event) Outcome {
			close(started)
			<-ctx.Done()
			cause.Store(ctx.Err())
			return Outcome{Err: ctx.Err()}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	enqueue(t, e.store, newEvent("/slow", "k"))
	<-started
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the shutdown timeout")
	}
	if cause.Load() == nil {
		t.Error("the delivery's context was not cancelled")
	}
	// Nothing recorded: still running under its lease, delivered again
	// after it or after a reopen.
	if st := routeStats(t, e.store, "/slow"); st.Running != 1 || st.Retrying != 0 || st.Dead != 0 {
		t.Errorf("stats %+v, want the event left running", st)
	}
}

func TestNewDispatcher(t *testing.T) {
	store := openTestDisk(t, DiskConfig{Path: filepath.Join(t.TempDir(), "queue.db")})
	deliver := func(context.Context, *Event) Outcome { return Outcome{} }
	tests := []struct {
		name    string
		cfg     DispatcherConfig
		wantErr string
	}{
		{"no store", DispatcherConfig{Route: "/r", Deliver: deliver}, "DispatcherConfig.Store"},
		{"no route", DispatcherConfig{Store: store, Deliver: deliver}, "DispatcherConfig.Route"},
		{"no deliver", DispatcherConfig{Store: store, Route: "/r"}, "DispatcherConfig.Deliver"},
		{"negative concurrency", DispatcherConfig{Store: store, Route: "/r", Deliver: deliver, Concurrency: -1}, "DispatcherConfig.Concurrency"},
		{"tiny lease", DispatcherConfig{Store: store, Route: "/r", Deliver: deliver, Lease: time.Millisecond}, "DispatcherConfig.Lease"},
		{"bad backoff", DispatcherConfig{Store: store, Route: "/r", Deliver: deliver, Retry: &Backoff{MaxAttempts: -1}}, "Backoff.MaxAttempts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewDispatcher(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewDispatcher: %v, want an error naming %s", err, tt.wantErr)
			}
		})
	}
	d, err := NewDispatcher(DispatcherConfig{Store: store, Route: "/r", Deliver: deliver})
	if err != nil {
		t.Fatal(err)
	}
	if d.concurrency != 1 || d.lease != DefaultLease || d.poll != DefaultPollInterval || d.shutdownTimeout != DefaultShutdownTimeout || d.retry == nil {
		t.Errorf("defaults not applied: %+v", d)
	}
}

func TestRunSweeper(t *testing.T) {
	var n atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- RunSweeper(ctx, sweepFunc(func() { n.Add(1) }), time.Millisecond, nil) }()
	waitFor(t, "sweeps", func() bool { return n.Load() >= 3 })
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

type sweepFunc func()

func (f sweepFunc) Sweep(context.Context) error { f(); return nil }
