package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// The conformance suite's settings. Redis expires leases and delivered
// marks in real time, so they are short; every non-expiry subtest must end
// well within them.
const (
	suiteLease      = 400 * time.Millisecond
	suiteDedupeTTL  = 600 * time.Millisecond
	suiteDeadMaxAge = time.Second
	suiteMargin     = 150 * time.Millisecond
)

// fakeClock is the clock given to stores and dispatchers under test.
// Advance moves it forward; with sleep set (for a store that measures
// leases and TTLs on a server), it also sleeps for real.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	sleep bool
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	sleep := c.sleep
	c.mu.Unlock()
	if sleep {
		time.Sleep(d)
	}
}

// suiteConfig is what a conformance subtest asks of a store.
type suiteConfig struct {
	MaxEvents int // 0: the store's default
}

// backend opens stores over one set of data (a file, a Redis namespace):
// every call of open is a new instance, as after a restart, with the
// suite's settings and clock. Instances are closed when the test ends; a
// test may close one earlier.
type backend struct {
	clock *fakeClock
	open  func(t *testing.T) Store
}

// testStore is the conformance suite every Store passes. newBackend returns
// a backend over fresh, empty data.
func testStore(t *testing.T, newBackend func(t *testing.T, cfg suiteConfig) *backend) {
	tests := []struct {
		name string
		cfg  suiteConfig
		run  func(t *testing.T, b *backend)
	}{
		{"EnqueueTake", suiteConfig{}, testEnqueueTake},
		{"Duplicate", suiteConfig{}, testDuplicate},
		{"DuplicateAfterReopen", suiteConfig{}, testDuplicateAfterReopen},
		{"DeliveredMarkExpires", suiteConfig{}, testDeliveredMarkExpires},
		{"LeaseExpiry", suiteConfig{}, testLeaseExpiry},
		{"RetrySchedule", suiteConfig{}, testRetrySchedule},
		{"DeadLetters", suiteConfig{}, testDeadLetters},
		{"ReplayAllAndDrop", suiteConfig{}, testReplayAllAndDrop},
		{"DeadLettersExpire", suiteConfig{}, testDeadLettersExpire},
		{"MaxEvents", suiteConfig{MaxEvents: 3}, testMaxEvents},
		{"ReopenResumesRunning", suiteConfig{}, testReopenResumesRunning},
		{"ConcurrentEnqueue", suiteConfig{}, testConcurrentEnqueue},
		{"Stats", suiteConfig{}, testStats},
		{"Invalid", suiteConfig{}, testInvalid},
		{"Closed", suiteConfig{}, testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newBackend(t, tt.cfg))
		})
	}
}

// newEvent returns an event of route with dedupe key key and a body, header
// and query that must come back byte for byte.
func newEvent(route, key string) *Event {
	return &Event{
		Route:     route,
		DedupeKey: key,
		EventID:   "evt_" + key,
		Type:      "room_finished",
		Provider:  "livekit",
		Body:      []byte("{\"id\":\"" + key + "\",\"raw\":\"\x00\xff\r\n\"}"),
		Header: http.Header{
			"Content-Type":         {"application/webhook+json"},
			"X-Hookguard-Event-Id": {"evt_" + key},
			"X-Multi":              {"a", "b"},
		},
		RawQuery: "tenant=7&x=%20",
	}
}

func enqueue(t *testing.T, s Store, ev *Event) string {
	t.Helper()
	res, err := s.Enqueue(context.Background(), ev)
	if err != nil {
		t.Fatalf("Enqueue(%s %s): %v", ev.Route, ev.DedupeKey, err)
	}
	if res.Duplicate || res.ID == "" {
		t.Fatalf("Enqueue(%s %s) = %+v, want a new ID", ev.Route, ev.DedupeKey, res)
	}
	return res.ID
}

func take(t *testing.T, s Store, route string, n int) []*Event {
	t.Helper()
	evs, err := s.Take(context.Background(), route, n, suiteLease)
	if err != nil {
		t.Fatalf("Take(%s): %v", route, err)
	}
	return evs
}

func takeOne(t *testing.T, s Store, route string) *Event {
	t.Helper()
	evs := take(t, s, route, 1)
	if len(evs) != 1 {
		t.Fatalf("Take(%s) returned %d events, want 1", route, len(evs))
	}
	return evs[0]
}

func wantNone(t *testing.T, s Store, route string) {
	t.Helper()
	if evs := take(t, s, route, 10); len(evs) != 0 {
		t.Fatalf("Take(%s) returned %d events (first %s), want none", route, len(evs), evs[0].ID)
	}
}

func routeStats(t *testing.T, s Store, route string) RouteStats {
	t.Helper()
	all, err := s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range all {
		if st.Route == route {
			return st
		}
	}
	return RouteStats{Route: route}
}

func testEnqueueTake(t *testing.T, b *backend) {
	s := b.open(t)
	var ids []string
	for i := range 3 {
		ids = append(ids, enqueue(t, s, newEvent("/a", fmt.Sprint("k", i))))
		b.clock.Advance(time.Millisecond)
	}
	enqueue(t, s, newEvent("/b", "k0"))

	evs := take(t, s, "/a", 10)
	if len(evs) != 3 {
		t.Fatalf("Take returned %d events, want 3", len(evs))
	}
	for i, ev := range evs {
		if ev.ID != ids[i] {
			t.Errorf("event %d: ID %s, want %s (arrival order)", i, ev.ID, ids[i])
		}
		want := newEvent("/a", fmt.Sprint("k", i))
		if !bytes.Equal(ev.Body, want.Body) || !reflect.DeepEqual(ev.Header, want.Header) || ev.RawQuery != want.RawQuery ||
			ev.EventID != want.EventID || ev.Type != want.Type || ev.Provider != want.Provider || ev.DedupeKey != want.DedupeKey || ev.Route != "/a" {
			t.Errorf("event %d differs from what was enqueued:\n got %+v\nwant %+v", i, ev, want)
		}
		if ev.State != StateRunning || ev.Lease == "" || ev.Attempts != 0 {
			t.Errorf("event %d: state %v lease %q attempts %d, want running, a lease, 0", i, ev.State, ev.Lease, ev.Attempts)
		}
		if ev.EnqueuedAt.IsZero() {
			t.Errorf("event %d: no EnqueuedAt", i)
		}
	}
	wantNone(t, s, "/a")
	if ev := takeOne(t, s, "/b"); ev.Route != "/b" {
		t.Errorf("Take(/b) gave route %q", ev.Route)
	}
	wantNone(t, s, "/nothing")
	for _, ev := range evs {
		if err := s.Ack(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Ack(context.Background(), evs[0]); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("second Ack: %v, want ErrLeaseLost", err)
	}
	wantNone(t, s, "/a")
}

func testDuplicate(t *testing.T, b *backend) {
	s := b.open(t)
	ctx := context.Background()
	id := enqueue(t, s, newEvent("/a", "k"))
	res, err := s.Enqueue(ctx, newEvent("/a", "k"))
	if err != nil || !res.Duplicate || res.ID != id {
		t.Fatalf("Enqueue of a queued key = %+v, %v; want duplicate of %s", res, err, id)
	}
	enqueue(t, s, newEvent("/b", "k")) // another route, another key space

	ev := takeOne(t, s, "/a")
	res, err = s.Enqueue(ctx, newEvent("/a", "k"))
	if err != nil || !res.Duplicate {
		t.Fatalf("Enqueue of a running key = %+v, %v; want duplicate", res, err)
	}
	if err := s.Ack(ctx, ev); err != nil {
		t.Fatal(err)
	}
	res, err = s.Enqueue(ctx, newEvent("/a", "k"))
	if err != nil || !res.Duplicate {
		t.Fatalf("Enqueue of a delivered key = %+v, %v; want duplicate", res, err)
	}
	wantNone(t, s, "/a")
}

func testDuplicateAfterReopen(t *testing.T, b *backend) {
	s := b.open(t)
	ctx := context.Background()
	id := enqueue(t, s, newEvent("/a", "queued"))
	enqueue(t, s, newEvent("/a", "delivered"))
	evs := take(t, s, "/a", 2)
	if len(evs) != 2 {
		t.Fatalf("took %d, want 2", len(evs))
	}
	if err := s.Ack(ctx, evs[1]); err != nil {
		t.Fatal(err)
	}
	if err := s.Retry(ctx, evs[0], Attempt{At: b.clock.Now(), Status: 503}, b.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = b.open(t)
	for _, key := range []string{"queued", "delivered"} {
		res, err := s.Enqueue(ctx, newEvent("/a", key))
		if err != nil || !res.Duplicate {
			t.Errorf("after reopen, Enqueue(%s) = %+v, %v; want duplicate", key, res, err)
		}
		if key == "queued" && res.ID != id {
			t.Errorf("after reopen, duplicate of %s names %s", id, res.ID)
		}
	}
}

func testDeliveredMarkExpires(t *testing.T, b *backend) {
	s := b.open(t)
	ctx := context.Background()
	enqueue(t, s, newEvent("/a", "k"))
	if err := s.Ack(ctx, takeOne(t, s, "/a")); err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(suiteDedupeTTL + suiteMargin)
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	enqueue(t, s, newEvent("/a", "k"))
}

func testLeaseExpiry(t *testing.T, b *backend) {
	s := b.open(t)
	ctx := context.Background()
	enqueue(t, s, newEvent("/a", "k"))
	first := takeOne(t, s, "/a")
	wantNone(t, s, "/a")

	b.clock.Advance(suiteLease + suiteMargin)
	second := takeOne(t, s, "/a")
	if second.ID != first.ID || second.Lease == first.Lease {
		t.Fatalf("after the lease: took %s lease %q; want %s under a new lease (old %q)", second.ID, second.Lease, first.ID, first.Lease)
	}
	for name, err := range map[string]error{
		"Ack":   s.Ack(ctx, first),
		"Retry": s.Retry(ctx, first, Attempt{At: b.clock.Now(), Status: 500}, b.clock.Now()),
		"Dead":  s.Dead(ctx, first, Attempt{At: b.clock.Now(), Status: 400}, nil),
	} {
		if !errors.Is(err, ErrLeaseLost) {
			t.Errorf("%s with the expired lease: %v, want ErrLeaseLost", name, err)
		}
	}
	if err := s.Ack(ctx, second); err != nil {
		t.Fatal(err)
	}
	wantNone(t, s, "/a")
}

func testRetrySchedule(t *testing.T, b *backend) {
	s := b.open(t)
	ctx := context.Background()
	enqueue(t, s, newEvent("/a", "fails"))
	b.clock.Advance(time.Millisecond)
	enqueue(t, s, newEvent("/a", "later"))

	ev := takeOne(t, s, "/a")
	if ev.DedupeKey != "fails" {
		t.Fatalf("took %s first", ev.DedupeKey)
	}
	at := b.clock.Now()
	a := Attempt{At: at, Status: 503, Error: "", Duration: 12 * time.Millisecond}
	if err := s.Retry(ctx, ev, a, at.Add(suiteLease)); err != nil {
		t.Fatal(err)
	}
	if st := routeStats(t, s, "/a"); st.Retrying != 1 || st.Available != 1 {
		t.Errorf("stats %+v, want 1 retrying, 1 available", st)
	}
	// The retrying event does not hold up the next one.
	later := takeOne(t, s, "/a")
	if later.DedupeKey != "later" {
		t.Fatalf("took %s, want the later event while the first waits", later.DedupeKey)
	}
	wantNone(t, s, "/a")
	if err := s.Ack(ctx, later); err != nil {
		t.Fatal(err)
	}

	b.clock.Advance(suiteLease + suiteMargin)
	again := takeOne(t, s, "/a")
	if again.ID != ev.ID || again.Attempts != 1 || again.TotalAttempts != 1 || len(again.History) != 1 {
		t.Fatalf("retried event: id %s attempts %d/%d history %d; want %s with 1 attempt", again.ID, again.Attempts, again.TotalAttempts, len(again.History), ev.ID)
	}
	if h := again.History[0]; !h.At.Equal(at) || h.Status != 503 || h.Duration != a.Duration {
		t.Errorf("history %+v, want %+v", h, a)
	}
	if err := s.Retry(ctx, again, Attempt{At: b.clock.Now(), Error: strings.Repeat("x", 2*MaxErrorLen)}, b.clock.Now()); err != nil {
		t.Fatal(err)
	}
	third := takeOne(t, s, "/a")
	if third.ID != ev.ID || third.Attempts != 2 || len(third.History) != 2 || len(third.History[1].Error) != MaxErrorLen {
		t.Fatalf("third take: %s attempts %d history %+v", third.ID, third.Attempts, third.History)
	}
}

func testDeadLetters(t *testing.T, b *backend) {
	s := b.open(t)
	ctx := context.Background()
	id := enqueue(t, s, newEvent("/a", "k"))
	ev := takeOne(t, s, "/a")
	a1 := Attempt{At: b.clock.Now(), Error: "connection refused", Duration: time.Millisecond}
	if err := s.Retry(ctx, ev, a1, b.clock.Now()); err != nil {
		t.Fatal(err)
	}
	ev = takeOne(t, s, "/a")
	b.clock.Advance(time.Second / 10)
	a2 := Attempt{At: b.clock.Now(), Status: 422, Duration: 2 * time.Millisecond}
	big := bytes.Repeat([]byte("e"), 2*MaxAnswerBody)
	if err := s.Dead(ctx, ev, a2, &Answer{Status: 422, ContentType: "text/plain", Body: big}); err != nil {
		t.Fatal(err)
	}
	wantNone(t, s, "/a")
	if st := routeStats(t, s, "/a"); st.Dead != 1 || st.Available+st.Running+st.Retrying != 0 || !st.Oldest.IsZero() {
		t.Errorf("stats %+v, want 1 dead and nothing else", st)
	}

	list, err := s.DeadLetters(ctx, "/a", 0)
	if err != nil || len(list) != 1 {
		t.Fatalf("DeadLetters = %v, %v; want one", list, err)
	}
	dl := list[0]
	if dl.ID != id || dl.Attempts != 2 || dl.LastStatus != 422 || !dl.FirstAttempt.Equal(a1.At) || !dl.LastAttempt.Equal(a2.At) || dl.EventID != "evt_k" {
		t.Errorf("dead letter summary %+v", dl)
	}
	if all, _ := s.DeadLetters(ctx, "", 0); len(all) != 1 {
		t.Errorf("DeadLetters of every route: %d, want 1", len(all))
	}
	if other, _ := s.DeadLetters(ctx, "/b", 0); len(other) != 0 {
		t.Errorf("DeadLetters(/b): %d, want 0", len(other))
	}

	got, err := s.DeadLetter(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != StateDead || len(got.History) != 2 || got.History[0].Error != a1.Error || got.History[1].Status != 422 {
		t.Errorf("dead letter %+v", got)
	}
	if got.Answer == nil || got.Answer.Status != 422 || got.Answer.ContentType != "text/plain" || len(got.Answer.Body) != MaxAnswerBody {
		t.Errorf("answer %+v, want 422 text/plain with %d bytes", got.Answer, MaxAnswerBody)
	}
	if !bytes.Equal(got.Body, newEvent("/a", "k").Body) {
		t.Errorf("dead letter body %q", got.Body)
	}
	if _, err := s.DeadLetter(ctx, "999999"); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeadLetter(unknown): %v, want ErrNotFound", err)
	}
	if res, err := s.Enqueue(ctx, newEvent("/a", "k")); err != nil || !res.Duplicate {
		t.Errorf("Enqueue of a dead key = %+v, %v; want duplicate", res, err)
	}

	// Replay: due now, a fresh budget, the history kept.
	if err := s.Replay(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := s.Replay(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Replay: %v, want ErrNotFound", err)
	}
	ev = takeOne(t, s, "/a")
	if ev.ID != id || ev.Attempts != 0 || ev.TotalAttempts != 2 || len(ev.History) != 2 || ev.ReplayedAt.IsZero() || ev.Answer != nil {
		t.Errorf("replayed event: attempts %d/%d history %d replayed %v answer %v", ev.Attempts, ev.TotalAttempts, len(ev.History), ev.ReplayedAt, ev.Answer)
	}
	if err := s.Dead(ctx, ev, Attempt{At: b.clock.Now(), Status: 400}, nil); err != nil {
		t.Fatal(err)
	}

	// Drop: gone, and its key free again.
	if err := s.Drop(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeadLetter(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeadLetter after Drop: %v, want ErrNotFound", err)
	}
	if err := s.Drop(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Drop: %v, want ErrNotFound", err)
	}
	enqueue(t, s, newEvent("/a", "k"))
}

// deadEvents makes n dead letters on route.
func deadEvents(t *testing.T, b *backend, s Store, route string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		ids = append(ids, enqueue(t, s, newEvent(route, fmt.Sprint("dead", i))))
	}
	for _, ev := range take(t, s, route, n) {
		if err := s.Dead(context.Background(), ev, Attempt{At: b.clock.Now(), Status: 404}, nil); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func testReplayAllAndDrop(t *testing.T, b *backend) {
	s := b.open(t)
	ctx := context.Background()
	deadEvents(t, b, s, "/a", 3)
	deadEvents(t, b, s, "/b", 1)
	if list, _ := s.DeadLetters(ctx, "", 2); len(list) != 2 {
		t.Errorf("DeadLetters with limit 2: %d", len(list))
	}
	n, err := s.ReplayAll(ctx, "/a")
	if err != nil || n != 3 {
		t.Fatalf("ReplayAll = %d, %v; want 3", n, err)
	}
	if evs := take(t, s, "/a", 10); len(evs) != 3 {
		t.Errorf("took %d replayed events, want 3", len(evs))
	}
	if st := routeStats(t, s, "/b"); st.Dead != 1 {
		t.Errorf("/b stats %+v, want its dead letter untouched", st)
	}
	if n, err := s.ReplayAll(ctx, "/none"); err != nil || n != 0 {
		t.Errorf("ReplayAll(/none) = %d, %v", n, err)
	}
}

func testDeadLettersExpire(t *testing.T, b *backend) {
	s := b.open(t)
	ctx := context.Background()
	old := deadEvents(t, b, s, "/a", 1)[0]
	b.clock.Advance(suiteDeadMaxAge / 2)
	young := enqueue(t, s, newEvent("/a", "young"))
	if err := s.Dead(ctx, takeOne(t, s, "/a"), Attempt{At: b.clock.Now(), Status: 400}, nil); err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(suiteDeadMaxAge/2 + suiteMargin)
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeadLetter(ctx, old); !errors.Is(err, ErrNotFound) {
		t.Errorf("old dead letter after Sweep: %v, want ErrNotFound", err)
	}
	if _, err := s.DeadLetter(ctx, young); err != nil {
		t.Errorf("young dead letter after Sweep: %v", err)
	}
	enqueue(t, s, newEvent("/a", "dead0")) // the expired one's key is free
}

func testMaxEvents(t *testing.T, b *backend) {
	s := b.open(t)
	ctx := context.Background()
	deadEvents(t, b, s, "/z", 1) // dead letters do not count
	enqueue(t, s, newEvent("/a", "1"))
	enqueue(t, s, newEvent("/b", "2"))
	enqueue(t, s, newEvent("/a", "3"))
	res, err := s.Enqueue(ctx, newEvent("/a", "4"))
	if !errors.Is(err, ErrFull) || res.ID != "" {
		t.Fatalf("Enqueue beyond MaxEvents = %+v, %v; want ErrFull", res, err)
	}
	if res, err := s.Enqueue(ctx, newEvent("/a", "1")); err != nil || !res.Duplicate {
		t.Errorf("duplicate while full = %+v, %v; want duplicate", res, err)
	}
	dead, _ := s.DeadLetters(ctx, "/z", 0)
	if err := s.Replay(ctx, dead[0].ID); !errors.Is(err, ErrFull) {
		t.Errorf("Replay while full: %v, want ErrFull", err)
	}
	if n, err := s.ReplayAll(ctx, "/z"); !errors.Is(err, ErrFull) || n != 0 {
		t.Errorf("ReplayAll while full = %d, %v; want ErrFull", n, err)
	}
	if err := s.Ack(ctx, takeOne(t, s, "/b")); err != nil {
		t.Fatal(err)
	}
	enqueue(t, s, newEvent("/a", "4"))
}

func testReopenResumesRunning(t *testing.T, b *backend) {
	s := b.open(t)
	enqueue(t, s, newEvent("/a", "running"))
	enqueue(t, s, newEvent("/a", "waiting"))
	ev := takeOne(t, s, "/a")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Well within the lease: a restarted instance does not wait for it.
	s = b.open(t)
	evs := take(t, s, "/a", 10)
	if len(evs) != 2 {
		t.Fatalf("after reopen took %d events, want both", len(evs))
	}
	found := false
	for _, e := range evs {
		if e.ID == ev.ID {
			found = true
			if e.Attempts != 0 || !bytes.Equal(e.Body, ev.Body) {
				t.Errorf("resumed event: attempts %d body %q", e.Attempts, e.Body)
			}
		}
		if err := s.Ack(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if !found {
		t.Errorf("the running event %s was not resumed", ev.ID)
	}
}

func testConcurrentEnqueue(t *testing.T, b *backend) {
	s := b.open(t)
	const workers, keys = 16, 40
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		stored  = map[string]int{}
		dups    int
		errList []error
	)
	for w := range workers {
		wg.Go(func() {
			for k := range keys {
				// Each key is sent by two workers at once.
				key := fmt.Sprint("k", (w/2)*keys+k)
				res, err := s.Enqueue(context.Background(), newEvent("/a", key))
				mu.Lock()
				switch {
				case err != nil:
					errList = append(errList, err)
				case res.Duplicate:
					dups++
				default:
					stored[key]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errList) > 0 {
		t.Fatalf("%d errors, first %v", len(errList), errList[0])
	}
	want := workers / 2 * keys
	if len(stored) != want || dups != want {
		t.Errorf("stored %d keys, %d duplicates; want %d of each", len(stored), dups, want)
	}
	for k, n := range stored {
		if n != 1 {
			t.Errorf("key %s stored %d times", k, n)
		}
	}
	if st := routeStats(t, s, "/a"); st.Available != want {
		t.Errorf("stats %+v, want %d available", st, want)
	}
	seen := map[string]bool{}
	for {
		evs := take(t, s, "/a", 100)
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			if seen[ev.ID] {
				t.Fatalf("event %s taken twice", ev.ID)
			}
			seen[ev.ID] = true
		}
	}
	if len(seen) != want {
		t.Errorf("took %d events, want %d", len(seen), want)
	}
}

func testStats(t *testing.T, b *backend) {
	s := b.open(t)
	ctx := context.Background()
	first := b.clock.Now()
	for i := range 4 {
		enqueue(t, s, newEvent("/a", fmt.Sprint(i)))
		b.clock.Advance(time.Millisecond)
	}
	evs := take(t, s, "/a", 2)
	if err := s.Retry(ctx, evs[0], Attempt{At: b.clock.Now(), Status: 500}, b.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	st := routeStats(t, s, "/a")
	if st.Available != 2 || st.Running != 1 || st.Retrying != 1 || st.Dead != 0 || st.Waiting() != 3 {
		t.Errorf("stats %+v, want 2 available, 1 running, 1 retrying", st)
	}
	if !st.Oldest.Equal(first) {
		t.Errorf("oldest %v, want %v", st.Oldest, first)
	}
	if got := st.OldestAge(first.Add(time.Minute)); got != time.Minute {
		t.Errorf("OldestAge = %v", got)
	}
	if err := s.Ack(ctx, evs[1]); err != nil {
		t.Fatal(err)
	}
	if st := routeStats(t, s, "/a"); st.Running != 0 || st.Available != 2 {
		t.Errorf("after Ack: %+v", st)
	}
}

func testInvalid(t *testing.T, b *backend) {
	s := b.open(t)
	for name, ev := range map[string]*Event{
		"no route":      {DedupeKey: "k"},
		"no key":        {Route: "/a"},
		"nul in route":  {Route: "/a\x00b", DedupeKey: "k"},
		"key too large": {Route: "/a", DedupeKey: strings.Repeat("k", MaxDedupeKeyLen+1)},
	} {
		if _, err := s.Enqueue(context.Background(), ev); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := s.Enqueue(context.Background(), nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil event: %v, want ErrInvalid", err)
	}
}

func testClosed(t *testing.T, b *backend) {
	s := b.open(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Enqueue(context.Background(), newEvent("/a", "k")); !errors.Is(err, ErrClosed) {
		t.Errorf("Enqueue after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Take(context.Background(), "/a", 1, time.Second); !errors.Is(err, ErrClosed) {
		t.Errorf("Take after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Stats(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Stats after Close: %v, want ErrClosed", err)
	}
}
