package queue

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookguard/hookguard/internal/testredis"
)

func TestRedis(t *testing.T) {
	url := testredis.URL(t)
	testStore(t, func(t *testing.T, cfg suiteConfig) *backend {
		clock := newFakeClock()
		clock.sleep = true // leases and dedupe TTLs run on the server, in real time
		prefix := testPrefix()
		return &backend{clock: clock, open: func(t *testing.T) Store {
			return newTestRedis(t, RedisConfig{
				URL: url, Prefix: prefix, Consumer: "replica-1", MaxEvents: cfg.MaxEvents,
				DeadMaxAge: suiteDeadMaxAge, DedupeTTL: suiteDedupeTTL, Now: clock.Now,
			})
		}}
	})
}

// testPrefix returns a prefix of its own, so tests may share a server.
func testPrefix() string {
	return "hookguard-test:" + rand.Text() + ":"
}

func newTestRedis(t testing.TB, cfg RedisConfig) *Redis {
	t.Helper()
	r, err := NewRedis(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	return r
}

func TestNewRedis(t *testing.T) {
	tests := []struct {
		name    string
		cfg     RedisConfig
		wantErr string
	}{
		{"neither url nor client", RedisConfig{}, "RedisConfig.URL or RedisConfig.Client"},
		{"bad scheme", RedisConfig{URL: "http://127.0.0.1:6379"}, "RedisConfig.URL"},
		{"password not echoed", RedisConfig{URL: "redis://:s3cret@127.0.0.1:6379/x"}, "RedisConfig.URL"},
		{"negative max events", RedisConfig{URL: "redis://127.0.0.1", MaxEvents: -1}, "RedisConfig.MaxEvents"},
		{"dedupe ttl under 1ms", RedisConfig{URL: "redis://127.0.0.1", DedupeTTL: time.Microsecond}, "RedisConfig.DedupeTTL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRedis(tt.cfg)
			if err == nil {
				r.Close()
				t.Fatal("NewRedis succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q, want one naming %s without the password", err, tt.wantErr)
			}
		})
	}
	r := newTestRedis(t, RedisConfig{URL: "redis://127.0.0.1:6379/0"})
	if r.prefix != DefaultRedisPrefix || r.consumer == "" || r.maxEvents != DefaultMaxEvents {
		t.Errorf("defaults not applied: prefix %q consumer %q max %d", r.prefix, r.consumer, r.maxEvents)
	}
}

// Two replicas reading one route never get the same entry.
func TestRedisTwoConsumers(t *testing.T) {
	url := testredis.URL(t)
	prefix := testPrefix()
	a := newTestRedis(t, RedisConfig{URL: url, Prefix: prefix, Consumer: "a"})
	b := newTestRedis(t, RedisConfig{URL: url, Prefix: prefix, Consumer: "b"})
	const n = 200
	for i := range n {
		enqueue(t, a, newEvent("/r", fmt.Sprint(i)))
	}
	var (
		mu   sync.Mutex
		seen = map[string]string{}
		wg   sync.WaitGroup
	)
	for _, s := range []*Redis{a, b} {
		wg.Go(func() {
			for {
				evs, err := s.Take(context.Background(), "/r", 7, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if len(evs) == 0 {
					return
				}
				for _, ev := range evs {
					mu.Lock()
					if other, dup := seen[ev.ID]; dup {
						t.Errorf("event %s taken by %s and %s", ev.ID, other, s.consumer)
					}
					seen[ev.ID] = s.consumer
					mu.Unlock()
					if err := s.Ack(context.Background(), ev); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("took %d events, want %d", len(seen), n)
	}
	byConsumer := map[string]int{}
	for _, c := range seen {
		byConsumer[c]++
	}
	t.Logf("taken: %v", byConsumer)
}

// A replica that stops (or hangs) leaves its entries pending; another takes
// them over with XAUTOCLAIM after the lease, and the first has lost them.
func TestRedisTakeover(t *testing.T) {
	url := testredis.URL(t)
	prefix := testPrefix()
	a := newTestRedis(t, RedisConfig{URL: url, Prefix: prefix, Consumer: "a"})
	b := newTestRedis(t, RedisConfig{URL: url, Prefix: prefix, Consumer: "b"})
	ctx := context.Background()
	enqueue(t, a, newEvent("/r", "k"))
	lease := 200 * time.Millisecond
	evA, err := a.Take(ctx, "/r", 1, lease)
	if err != nil || len(evA) != 1 {
		t.Fatal(evA, err)
	}
	if evs, _ := b.Take(ctx, "/r", 1, lease); len(evs) != 0 {
		t.Fatal("b took an entry a holds under its lease")
	}
	time.Sleep(lease + 100*time.Millisecond)
	evB, err := b.Take(ctx, "/r", 1, lease)
	if err != nil || len(evB) != 1 || evB[0].ID != evA[0].ID {
		t.Fatalf("b after the lease: %v, %v; want a's event", evB, err)
	}
	if err := a.Ack(ctx, evA[0]); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("a's Ack after the takeover: %v, want ErrLeaseLost", err)
	}
	if err := b.Ack(ctx, evB[0]); err != nil {
		t.Fatal(err)
	}
	if res, _ := a.Enqueue(ctx, newEvent("/r", "k")); !res.Duplicate {
		t.Error("the delivered key is not a duplicate")
	}
}

// A Redis outage fails with ErrUnavailable, and the store works again when
// the server is back.
func TestRedisUnavailable(t *testing.T) {
	srv := testredis.Start(t)
	r := newTestRedis(t, RedisConfig{URL: srv.URL(), Prefix: testPrefix(), Consumer: "a"})
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := r.Enqueue(ctx, newEvent("/r", "k")); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Enqueue with Redis down: %v, want ErrUnavailable", err)
	}
	if err := r.Ping(ctx); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Ping with Redis down: %v, want ErrUnavailable", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	enqueue(t, r, newEvent("/r", "k"))
}

// The dispatcher runs on the Redis store too (it polls: no Notifier).
func TestRedisDispatcher(t *testing.T) {
	r := newTestRedis(t, RedisConfig{URL: testredis.URL(t), Prefix: testPrefix(), Consumer: "a"})
	var mu sync.Mutex
	var got []string
	d, err := NewDispatcher(DispatcherConfig{Store: r, Route: "/r", PollInterval: 5 * time.Millisecond,
		Deliver: func(_ context.Context, ev *Event) Outcome {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, ev.DedupeKey)
			return Outcome{Status: 200}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for _, k := range []string{"a", "b", "c"} {
		enqueue(t, r, newEvent("/r", k))
	}
	waitFor(t, "deliveries", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 3 })
	if strings.Join(got, "") != "abc" {
		t.Errorf("order %v", got)
	}
}
