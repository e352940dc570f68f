package dedupe

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func TestMemory(t *testing.T) {
	testStore(t, func(t *testing.T, clock *fakeClock) Store {
		return newTestMemory(t, MemoryConfig{TTL: suiteTTL, InFlightTTL: suiteInFlightTTL, Now: clock.Now})
	})
}

func newTestMemory(t testing.TB, cfg MemoryConfig) *Memory {
	t.Helper()
	m, err := NewMemory(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		checkRing(t, &m.delivered)
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	return m
}

func TestNewMemory(t *testing.T) {
	tests := []struct {
		name    string
		cfg     MemoryConfig
		wantErr string // substring; "" for success
	}{
		{"zero value", MemoryConfig{}, ""},
		{"negative size", MemoryConfig{Size: -1}, "MemoryConfig.Size"},
		{"negative ttl", MemoryConfig{TTL: -time.Second}, "MemoryConfig.TTL"},
		{"negative in-flight ttl", MemoryConfig{InFlightTTL: -time.Second}, "MemoryConfig.InFlightTTL"},
		{"negative max in flight", MemoryConfig{MaxInFlight: -1}, "MemoryConfig.MaxInFlight"},
		{"negative window", MemoryConfig{Window: -time.Second}, "MemoryConfig.Window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewMemory(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				if m.delivered.max != DefaultSize || m.ttl != int64(DefaultTTL) ||
					m.inFlightTTL != int64(DefaultInFlightTTL) || m.maxInFlight != DefaultMaxInFlight {
					t.Errorf("defaults not applied: size %d ttl %v in-flight ttl %v max in flight %d",
						m.delivered.max, time.Duration(m.ttl), time.Duration(m.inFlightTTL), m.maxInFlight)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewMemory: %v, want error naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestMemorySizeEvictsOldest(t *testing.T) {
	m := newTestMemory(t, MemoryConfig{Size: 3, Now: newFakeClock().Now})
	for i := range 4 {
		deliver(t, m, "r:"+strconv.Itoa(i))
	}
	for i := 1; i < 4; i++ {
		mustClaim(t, m, "r:"+strconv.Itoa(i), Delivered)
	}
	mustClaim(t, m, "r:0", Claimed)
}

func TestMemoryRingGrows(t *testing.T) {
	const size = 1000 // not a power of two: the last growth is capped
	m := newTestMemory(t, MemoryConfig{Size: size, Now: newFakeClock().Now})
	for i := range size {
		deliver(t, m, "r:"+strconv.Itoa(i))
	}
	if got := len(m.delivered.slots); got != size {
		t.Errorf("ring has %d slots, want %d", got, size)
	}
	checkRing(t, &m.delivered)
	for i := range size {
		mustClaim(t, m, "r:"+strconv.Itoa(i), Delivered)
	}
	deliver(t, m, "r:new")
	mustClaim(t, m, "r:0", Claimed)
	mustClaim(t, m, "r:1", Delivered)
	mustClaim(t, m, "r:new", Delivered)
}

func TestMemoryExpiryBoundaries(t *testing.T) {
	const ttl, inFlightTTL = time.Hour, time.Minute
	tests := []struct {
		name    string
		deliver bool // else only claim
		after   time.Duration
		want    State
	}{
		{"delivered just before ttl", true, ttl - time.Nanosecond, Delivered},
		{"delivered at ttl", true, ttl, Claimed},
		{"claim just before in-flight ttl", false, inFlightTTL - time.Nanosecond, InFlight},
		{"claim at in-flight ttl", false, inFlightTTL, Claimed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			m := newTestMemory(t, MemoryConfig{TTL: ttl, InFlightTTL: inFlightTTL, Now: clock.Now})
			if tt.deliver {
				deliver(t, m, "r:k")
			} else {
				mustClaim(t, m, "r:k", Claimed)
			}
			clock.Advance(tt.after)
			mustClaim(t, m, "r:k", tt.want)
		})
	}
}

// Regression: with a clock going back, a newer slot can expire before the
// oldest one; keeping its key again must not corrupt the ring.
func TestMemoryClockGoesBack(t *testing.T) {
	clock := newFakeClock()
	start := clock.Now()
	m := newTestMemory(t, MemoryConfig{Size: 100, TTL: time.Hour, Now: clock.Now})

	clock.Set(start.Add(10 * time.Hour))
	deliver(t, m, "r:late") // expires at 11h
	clock.Set(start)
	deliver(t, m, "r:early") // expires at 1h, behind r:late in the ring
	clock.Set(start.Add(2 * time.Hour))
	mustClaim(t, m, "r:late", Delivered)
	deliver(t, m, "r:early") // expired but not at the tail: leaves a dead slot
	checkRing(t, &m.delivered)

	// Grow past the dead slot, then evict through it.
	for i := range 200 {
		deliver(t, m, "r:"+strconv.Itoa(i))
		checkRing(t, &m.delivered)
	}
	for i := 100; i < 200; i++ {
		mustClaim(t, m, "r:"+strconv.Itoa(i), Delivered)
	}
	mustClaim(t, m, "r:early", Claimed)
	mustClaim(t, m, "r:late", Claimed)
}

func TestMemoryMaxInFlight(t *testing.T) {
	clock := newFakeClock()
	m := newTestMemory(t, MemoryConfig{MaxInFlight: 2, InFlightTTL: time.Minute, Now: clock.Now})
	a := mustClaim(t, m, "r:a", Claimed)
	mustClaim(t, m, "r:b", Claimed)
	if _, err := m.Claim(t.Context(), "r:c"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Claim over MaxInFlight: %v, want ErrUnavailable", err)
	}
	mustClaim(t, m, "r:a", InFlight) // a held key still answers

	// Finishing a claim makes room.
	if err := m.Release(t.Context(), "r:a", a.Token); err != nil {
		t.Fatal(err)
	}
	mustClaim(t, m, "r:c", Claimed)

	// So does expiry, and only expiry of the oldest claim.
	clock.Advance(30 * time.Second)
	if _, err := m.Claim(t.Context(), "r:d"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Claim over MaxInFlight: %v, want ErrUnavailable", err)
	}
	clock.Advance(30 * time.Second)
	mustClaim(t, m, "r:d", Claimed)
	mustClaim(t, m, "r:b", Claimed)
}

func TestMemoryWaitClaimExpires(t *testing.T) {
	// Real time: the claim expiring is what wakes Wait.
	m := newTestMemory(t, MemoryConfig{InFlightTTL: 50 * time.Millisecond})
	mustClaim(t, m, "r:k", Claimed)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := m.Wait(ctx, "r:k"); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("Wait returned after %v, before the claim expired", d)
	}
	mustClaim(t, m, "r:k", Claimed)
}

func TestMemoryClose(t *testing.T) {
	m, err := NewMemory(MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	res := mustClaim(t, m, "r:k", Claimed)
	woke := make(chan error, 1)
	go func() { woke <- m.Wait(t.Context(), "r:k") }()
	time.Sleep(20 * time.Millisecond)

	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-woke:
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not wake Wait")
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	ctx := t.Context()
	ops := map[string]func() error{
		"Claim":    func() error { _, err := m.Claim(ctx, "r:k"); return err },
		"Complete": func() error { return m.Complete(ctx, "r:k", res.Token, Record{}) },
		"Release":  func() error { return m.Release(ctx, "r:k", res.Token) },
		"Wait":     func() error { return m.Wait(ctx, "r:k") },
	}
	for name, op := range ops {
		if err := op(); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s after Close: %v, want ErrUnavailable", name, err)
		}
	}
}

// deliver claims and completes key, failing t unless that works.
func deliver(t *testing.T, s Store, key string) {
	t.Helper()
	res := mustClaim(t, s, key, Claimed)
	if err := s.Complete(t.Context(), key, res.Token, Record{Status: 200}); err != nil {
		t.Fatalf("Complete(%q): %v", key, err)
	}
}

// checkRing fails t unless r's index and slots agree.
func checkRing(t testing.TB, r *ring) {
	t.Helper()
	if r.n > len(r.slots) || len(r.slots) > r.max {
		t.Fatalf("ring: %d in use of %d slots, max %d", r.n, len(r.slots), r.max)
	}
	live := 0
	for i := 0; i < r.n; i++ {
		p := (r.head - r.n + i + len(r.slots)) % len(r.slots)
		if j, ok := r.index[r.slots[p].key]; ok && int(j) == p {
			live++
		}
	}
	if live != len(r.index) {
		t.Fatalf("ring: %d live slots, %d index entries", live, len(r.index))
	}
	for k, i := range r.index {
		if int(i) >= len(r.slots) || r.slots[i].key != k {
			t.Fatalf("ring: index entry %x points at slot %d holding %x", k, i, r.slots[i].key)
		}
	}
}

func BenchmarkMemoryClaimComplete(b *testing.B) {
	m, err := NewMemory(MemoryConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	rec := Record{Status: 200, ContentType: "application/json", Body: []byte(`{"ok":true}`)}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		key := "route:evt_" + strconv.Itoa(i)
		i++
		res, err := m.Claim(ctx, key)
		if err != nil || res.State != Claimed {
			b.Fatalf("Claim: %v %v", res.State, err)
		}
		if err := m.Complete(ctx, key, res.Token, rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemoryClaimDuplicate(b *testing.B) {
	m, err := NewMemory(MemoryConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	res, err := m.Claim(ctx, "route:evt")
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Complete(ctx, "route:evt", res.Token, Record{Status: 200}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res, err := m.Claim(ctx, "route:evt"); err != nil || res.State != Delivered {
				b.Fatalf("Claim: %v %v", res.State, err)
			}
		}
	})
}

// TestMemorySharesEqualRecords: identical answers are kept once.
func TestMemorySharesEqualRecords(t *testing.T) {
	m := newTestMemory(t, MemoryConfig{})
	ctx := context.Background()
	rec := Record{Status: 200, ContentType: "application/json", Body: []byte(`{"ok":true}`)}
	for _, key := range []string{"a", "b"} {
		res, err := m.Claim(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Complete(ctx, key, res.Token, rec); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := m.delivered.get(digestOf("a"), m.clock())
	b, _ := m.delivered.get(digestOf("b"), m.clock())
	if a != b || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Fatal("equal records are stored twice")
	}
}

// Regression: one flood must be visible. Keys evicted for room while a
// captured copy could still verify are counted apart from older ones.
func TestMemoryCountsEvictionsInsideTheReplayWindow(t *testing.T) {
	clock := newFakeClock()
	m := newTestMemory(t, MemoryConfig{Size: 4, TTL: time.Hour, Window: 2 * time.Minute, Now: clock.Now})
	for i := range 4 {
		deliver(t, m, "old"+strconv.Itoa(i))
	}
	clock.Advance(5 * time.Minute) // the four are now outside the window
	deliver(t, m, "a")             // evicts old0: outside the window
	if got := m.Stats(); got.Evicted != 1 || got.EvictedInWindow != 0 || got.Kept != 4 {
		t.Fatalf("after one eviction outside the window: %+v", got)
	}
	for i := range 4 { // evicts old1..old3, then a (delivered just now)
		deliver(t, m, "b"+strconv.Itoa(i))
	}
	if got := m.Stats(); got.Evicted != 5 || got.EvictedInWindow != 1 {
		t.Fatalf("after evicting a key inside the window: %+v (want 5 evicted, 1 in window)", got)
	}
	// Expiry is no eviction.
	clock.Advance(2 * time.Hour)
	deliver(t, m, "c")
	if got := m.Stats(); got.Evicted != 5 || got.Kept != 1 {
		t.Fatalf("expired keys counted as evicted: %+v", got)
	}
}

func TestMemoryWindowZeroCountsEveryEviction(t *testing.T) {
	clock := newFakeClock()
	m := newTestMemory(t, MemoryConfig{Size: 2, TTL: time.Hour, Now: clock.Now})
	deliver(t, m, "x")
	clock.Advance(50 * time.Minute)
	deliver(t, m, "y")
	deliver(t, m, "z") // evicts x, 50 min old: still inside an unbounded window
	if got := m.Stats(); got.Evicted != 1 || got.EvictedInWindow != 1 {
		t.Fatalf("%+v", got)
	}
}

func TestOnlyMemoryIsLocal(t *testing.T) {
	var m any = newTestMemory(t, MemoryConfig{})
	if l, ok := m.(Local); !ok || !l.Local() {
		t.Fatal("Memory is not Local: every call would pay for a deadline")
	}
	var r any = (*Redis)(nil)
	if _, ok := r.(Local); ok {
		t.Fatal("Redis is Local: its calls would go without a deadline")
	}
}
