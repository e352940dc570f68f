package dedupe

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/internal/testredis"
	"github.com/redis/go-redis/v9"
)

func TestRedis(t *testing.T) {
	url := testredis.URL(t)
	testStore(t, func(t *testing.T, clock *fakeClock) Store {
		clock.sleep = true // expiry runs on the server, in real time
		return newTestRedis(t, RedisConfig{URL: url, Namespace: testNamespace(), TTL: suiteTTL, InFlightTTL: suiteInFlightTTL})
	})
}

// testNamespace returns a namespace of its own, so tests may share a server.
func testNamespace() string {
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
		wantErr string // substring; "" for success
	}{
		{"url", RedisConfig{URL: "redis://127.0.0.1:6379/0"}, ""},
		{"client", RedisConfig{Client: redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})}, ""},
		{"neither url nor client", RedisConfig{}, "RedisConfig.URL or RedisConfig.Client"},
		{"bad scheme", RedisConfig{URL: "http://127.0.0.1:6379"}, "RedisConfig.URL"},
		{"password not echoed", RedisConfig{URL: "redis://:s3cret@127.0.0.1:6379/x"}, "RedisConfig.URL"},
		{"negative ttl", RedisConfig{URL: "redis://127.0.0.1", TTL: -time.Second}, "RedisConfig.TTL"},
		{"ttl under 1ms", RedisConfig{URL: "redis://127.0.0.1", TTL: time.Microsecond}, "RedisConfig.TTL"},
		{"in-flight ttl under 1ms", RedisConfig{URL: "redis://127.0.0.1", InFlightTTL: time.Microsecond}, "RedisConfig.InFlightTTL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRedis(tt.cfg)
			if tt.cfg.Client != nil {
				defer tt.cfg.Client.Close()
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				if r.ns != DefaultNamespace || r.ttl != DefaultTTL.Milliseconds() || r.inFlightTTL != DefaultInFlightTTL.Milliseconds() {
					t.Errorf("defaults not applied: namespace %q ttl %dms in-flight ttl %dms", r.ns, r.ttl, r.inFlightTTL)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewRedis: %v, want error naming %s", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

// Two instances on one server, as two replicas of hookguard, share claims.
func TestRedisReplicasShareClaims(t *testing.T) {
	url := testredis.URL(t)
	ns := testNamespace()
	a := newTestRedis(t, RedisConfig{URL: url, Namespace: ns, TTL: time.Minute})
	b := newTestRedis(t, RedisConfig{URL: url, Namespace: ns, TTL: time.Minute})
	ctx := t.Context()

	res := mustClaim(t, a, "r:k", Claimed)
	mustClaim(t, b, "r:k", InFlight)

	woke := make(chan error, 1)
	go func() { woke <- b.Wait(ctx, "r:k") }()
	rec := Record{Status: 200, ContentType: "application/json", Body: []byte(`{"ok":true}`)}
	if err := a.Complete(ctx, "r:k", res.Token, rec); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-woke:
		if err != nil {
			t.Fatalf("Wait on the other replica: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Wait on the other replica did not return")
	}
	got := mustClaim(t, b, "r:k", Delivered)
	assertRecord(t, got.Record, rec)

	// Another namespace is another store.
	c := newTestRedis(t, RedisConfig{URL: url, Namespace: testNamespace(), InFlightTTL: time.Second})
	mustClaim(t, c, "r:k", Claimed)
}

func TestRedisKeyLayout(t *testing.T) {
	url := testredis.URL(t)
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	raw := redis.NewClient(opts)
	defer raw.Close()
	// A Client of the caller's, left open by Close.
	r := newTestRedis(t, RedisConfig{Client: raw, TTL: time.Minute, InFlightTTL: 10 * time.Second})
	ctx := t.Context()
	key := "test-" + rand.Text() + ":evt" // default namespace: keep keys unique

	res := mustClaim(t, r, key, Claimed)
	full := DefaultNamespace + key
	if got := raw.Get(ctx, full).Val(); got != "inflight:"+res.Token {
		t.Errorf("claimed value = %q, want inflight:<token>", got)
	}
	if ttl := raw.PTTL(ctx, full).Val(); ttl <= 9*time.Second || ttl > 10*time.Second {
		t.Errorf("claim PTTL = %v, want InFlightTTL", ttl)
	}
	if err := r.Complete(ctx, key, res.Token, Record{Status: 200, ContentType: "text/plain", Body: []byte("ok")}); err != nil {
		t.Fatal(err)
	}
	if got := raw.Get(ctx, full).Val(); got != "d:200\ntext/plain\nok" {
		t.Errorf("delivered value = %q", got)
	}
	if ttl := raw.PTTL(ctx, full).Val(); ttl <= 59*time.Second || ttl > time.Minute {
		t.Errorf("delivered PTTL = %v, want TTL", ttl)
	}

	// A value the store did not write is an error, not a guess.
	raw.Set(ctx, full, "something else", time.Minute)
	if _, err := r.Claim(ctx, key); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Claim over a foreign value: %v, want ErrUnavailable", err)
	}
	raw.Del(ctx, full)

	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := raw.Ping(ctx).Err(); err != nil {
		t.Errorf("caller's client closed by Close: %v", err)
	}
}

func TestRedisPing(t *testing.T) {
	r := newTestRedis(t, RedisConfig{URL: testredis.URL(t)})
	if err := r.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// A store whose server is down answers with ErrUnavailable within the
// caller's deadline. (Without one, go-redis's dial retries take ~1.7 s.)
func TestRedisUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now

	r := newTestRedis(t, RedisConfig{URL: "redis://" + addr + "/0"})
	tests := []struct {
		name string
		op   func(ctx context.Context) error
	}{
		{"Claim", func(ctx context.Context) error { _, err := r.Claim(ctx, "r:k"); return err }},
		{"Complete", func(ctx context.Context) error { return r.Complete(ctx, "r:k", "t", Record{}) }},
		{"Release", func(ctx context.Context) error { return r.Release(ctx, "r:k", "t") }},
		{"Wait", func(ctx context.Context) error { return r.Wait(ctx, "r:k") }},
		{"Ping", r.Ping},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := tt.op(ctx)
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("got %v, want ErrUnavailable", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// Redis going away mid-run and coming back (empty).
func TestRedisRestart(t *testing.T) {
	srv := testredis.Start(t)
	r := newTestRedis(t, RedisConfig{URL: srv.URL(), Namespace: testNamespace()})
	ctx := t.Context()
	res := mustClaim(t, r, "r:k", Claimed)

	srv.Stop()
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if err := r.Complete(short, "r:k", res.Token, Record{}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Complete while down: %v, want ErrUnavailable", err)
	}
	if err := r.Ping(short); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ping while down: %v, want ErrUnavailable", err)
	}

	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if err := r.Ping(ctx); err != nil {
		t.Fatalf("Ping after restart: %v", err)
	}
	// The server kept nothing: the claim is gone with it.
	if err := r.Complete(ctx, "r:k", res.Token, Record{}); !errors.Is(err, ErrNotOwner) {
		t.Errorf("Complete after restart: %v, want ErrNotOwner", err)
	}
	deliver(t, r, "r:k")
	mustClaim(t, r, "r:k", Delivered)
}
