package dedupe

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// The conformance suite's expiry settings. A store under testStore must be
// made with these TTL and InFlightTTL. They are short because Redis expires
// keys in real time; claims must outlive every non-expiry subtest.
const (
	suiteTTL         = 800 * time.Millisecond
	suiteInFlightTTL = 400 * time.Millisecond
	// suiteMargin is added when advancing past an expiry.
	suiteMargin = 100 * time.Millisecond
)

// fakeClock is the clock given to stores under test. Advance moves it
// forward; with sleep set (for a store whose expiry runs on a server), it
// also sleeps for real.
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

// Set moves the clock to t, backwards too (memory tests only).
func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// testStore is the conformance suite every Store passes. newStore returns a
// fresh, empty store using suiteTTL, suiteInFlightTTL and clock.
func testStore(t *testing.T, newStore func(t *testing.T, clock *fakeClock) Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s Store, clock *fakeClock)
	}{
		{"CompleteThenDuplicate", testCompleteThenDuplicate},
		{"SecondClaimInFlight", testSecondClaimInFlight},
		{"KeysAreIndependent", testKeysAreIndependent},
		{"ReleaseLetsNextClaimWin", testReleaseLetsNextClaimWin},
		{"NotOwner", testNotOwner},
		{"InFlightExpiry", testInFlightExpiry},
		{"DeliveredExpiry", testDeliveredExpiry},
		{"ConcurrentClaims", testConcurrentClaims},
		{"WaitWakes", testWaitWakes},
		{"WaitNotInFlight", testWaitNotInFlight},
		{"WaitContextDone", testWaitContextDone},
		{"ContextCanceled", testContextCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			tt.run(t, newStore(t, clock), clock)
		})
	}
}

func testCompleteThenDuplicate(t *testing.T, s Store, _ *fakeClock) {
	ack := []byte(`{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`)
	tests := []struct {
		name string
		rec  Record
		want Record
	}{
		{"zero", Record{}, Record{}},
		{"status only", Record{Status: 204}, Record{Status: 204}},
		{"full", Record{200, "application/json", ack}, Record{200, "application/json", ack}},
		{"empty body", Record{200, "text/plain", []byte{}}, Record{200, "text/plain", nil}},
		{"largest body kept", Record{200, "text/plain", bytes.Repeat([]byte("a"), MaxKeptBody)}, Record{200, "text/plain", bytes.Repeat([]byte("a"), MaxKeptBody)}},
		{"larger body dropped", Record{200, "text/plain", bytes.Repeat([]byte("a"), MaxKeptBody+1)}, Record{200, "text/plain", nil}},
		{"content type with newline dropped", Record{200, "text/plain\nX-Evil: 1", []byte("ok")}, Record{200, "", []byte("ok")}},
		{"content type too long dropped", Record{200, strings.Repeat("t", MaxKeptContentType+1), []byte("ok")}, Record{200, "", []byte("ok")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			key := "route:" + tt.name
			res := mustClaim(t, s, key, Claimed)
			if len(res.Token) != 32 {
				t.Errorf("token %q: want 32 hex digits", res.Token)
			}
			if _, err := hex.DecodeString(res.Token); err != nil {
				t.Errorf("token %q: %v", res.Token, err)
			}
			rec := tt.rec
			rec.Body = bytes.Clone(rec.Body)
			if err := s.Complete(ctx, key, res.Token, rec); err != nil {
				t.Fatalf("Complete: %v", err)
			}
			if len(rec.Body) > 0 {
				rec.Body[0] = 'X' // the store keeps its own copy
			}
			for range 2 {
				got := mustClaim(t, s, key, Delivered)
				if got.Token != "" {
					t.Errorf("Delivered with token %q", got.Token)
				}
				assertRecord(t, got.Record, tt.want)
				if len(got.Record.Body) > 0 {
					got.Record.Body[0] = 'Y' // nor does the caller share it
				}
			}
		})
	}
}

func testSecondClaimInFlight(t *testing.T, s Store, _ *fakeClock) {
	mustClaim(t, s, "r:k", Claimed)
	res := mustClaim(t, s, "r:k", InFlight)
	if res.Token != "" {
		t.Errorf("InFlight with token %q", res.Token)
	}
}

func testKeysAreIndependent(t *testing.T, s Store, _ *fakeClock) {
	a := mustClaim(t, s, "r:a", Claimed)
	mustClaim(t, s, "r:b", Claimed)
	mustClaim(t, s, "other:a", Claimed)
	if err := s.Complete(t.Context(), "r:a", a.Token, Record{Status: 200}); err != nil {
		t.Fatal(err)
	}
	mustClaim(t, s, "r:a", Delivered)
	mustClaim(t, s, "r:b", InFlight)
	mustClaim(t, s, "r:c", Claimed)
}

func testReleaseLetsNextClaimWin(t *testing.T, s Store, _ *fakeClock) {
	ctx := t.Context()
	first := mustClaim(t, s, "r:k", Claimed)
	if err := s.Release(ctx, "r:k", first.Token); err != nil {
		t.Fatalf("Release: %v", err)
	}
	second := mustClaim(t, s, "r:k", Claimed)
	if second.Token == first.Token {
		t.Fatalf("second claim reused token %q", first.Token)
	}
	if err := s.Complete(ctx, "r:k", first.Token, Record{}); !errors.Is(err, ErrNotOwner) {
		t.Errorf("Complete with released token: %v, want ErrNotOwner", err)
	}
	if err := s.Complete(ctx, "r:k", second.Token, Record{Status: 200}); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	mustClaim(t, s, "r:k", Delivered)
}

func testNotOwner(t *testing.T, s Store, _ *fakeClock) {
	ctx := t.Context()
	complete := func(key, token string) error { return s.Complete(ctx, key, token, Record{Status: 200}) }
	release := func(key, token string) error { return s.Release(ctx, key, token) }
	otherToken := func(t *testing.T, key string) string {
		tok := mustClaim(t, s, key, Claimed).Token
		return strings.Repeat("f", len(tok))
	}
	tests := []struct {
		name string
		// setup claims key (and may complete or release it); it returns the
		// token to try.
		setup func(t *testing.T, key string) string
		op    func(key, token string) error
	}{
		{"complete other token", otherToken, complete},
		{"release other token", otherToken, release},
		{"complete empty token", func(t *testing.T, key string) string { mustClaim(t, s, key, Claimed); return "" }, complete},
		{"complete unclaimed", func(*testing.T, string) string { return strings.Repeat("0", 32) }, complete},
		{"release unclaimed", func(*testing.T, string) string { return strings.Repeat("0", 32) }, release},
		{"complete twice", func(t *testing.T, key string) string {
			tok := mustClaim(t, s, key, Claimed).Token
			if err := complete(key, tok); err != nil {
				t.Fatal(err)
			}
			return tok
		}, complete},
		{"release after complete", func(t *testing.T, key string) string {
			tok := mustClaim(t, s, key, Claimed).Token
			if err := complete(key, tok); err != nil {
				t.Fatal(err)
			}
			return tok
		}, release},
		{"release twice", func(t *testing.T, key string) string {
			tok := mustClaim(t, s, key, Claimed).Token
			if err := release(key, tok); err != nil {
				t.Fatal(err)
			}
			return tok
		}, release},
		{"token of another key", func(t *testing.T, key string) string {
			mustClaim(t, s, key, Claimed)
			return mustClaim(t, s, key+"-other", Claimed).Token
		}, complete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "r:" + tt.name
			token := tt.setup(t, key)
			if err := tt.op(key, token); !errors.Is(err, ErrNotOwner) {
				t.Errorf("got %v, want ErrNotOwner", err)
			}
		})
	}

	// A failed attempt leaves the real owner's claim alone.
	owner := mustClaim(t, s, "r:owned", Claimed)
	if err := release("r:owned", "not-a-token"); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("Release by non-owner: %v, want ErrNotOwner", err)
	}
	mustClaim(t, s, "r:owned", InFlight)
	if err := complete("r:owned", owner.Token); err != nil {
		t.Fatalf("Complete by owner: %v", err)
	}
}

func testInFlightExpiry(t *testing.T, s Store, clock *fakeClock) {
	ctx := t.Context()
	first := mustClaim(t, s, "r:k", Claimed)
	clock.Advance(suiteInFlightTTL + suiteMargin)
	second := mustClaim(t, s, "r:k", Claimed)
	if err := s.Complete(ctx, "r:k", first.Token, Record{}); !errors.Is(err, ErrNotOwner) {
		t.Errorf("Complete with expired claim: %v, want ErrNotOwner", err)
	}
	if err := s.Release(ctx, "r:k", first.Token); !errors.Is(err, ErrNotOwner) {
		t.Errorf("Release with expired claim: %v, want ErrNotOwner", err)
	}
	if err := s.Complete(ctx, "r:k", second.Token, Record{Status: 200}); err != nil {
		t.Fatalf("Complete by new owner: %v", err)
	}

	// An expired claim is not completed by its former holder either when
	// nobody claimed the key since.
	third := mustClaim(t, s, "r:lonely", Claimed)
	clock.Advance(suiteInFlightTTL + suiteMargin)
	if err := s.Complete(ctx, "r:lonely", third.Token, Record{}); !errors.Is(err, ErrNotOwner) {
		t.Errorf("Complete with expired, unclaimed key: %v, want ErrNotOwner", err)
	}
	mustClaim(t, s, "r:lonely", Claimed)
}

func testDeliveredExpiry(t *testing.T, s Store, clock *fakeClock) {
	res := mustClaim(t, s, "r:k", Claimed)
	if err := s.Complete(t.Context(), "r:k", res.Token, Record{Status: 200}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(suiteTTL / 2)
	mustClaim(t, s, "r:k", Delivered)
	clock.Advance(suiteTTL/2 + suiteMargin)
	mustClaim(t, s, "r:k", Claimed)
}

func testConcurrentClaims(t *testing.T, s Store, _ *fakeClock) {
	const n = 50
	var (
		start   = make(chan struct{})
		wg      sync.WaitGroup
		mu      sync.Mutex
		byState = map[State]int{}
		errs    []error
	)
	for range n {
		wg.Go(func() {
			<-start
			res, err := s.Claim(t.Context(), "r:hot")
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			byState[res.State]++
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if byState[Claimed] != 1 || byState[InFlight] != n-1 {
		t.Errorf("claims by state = %v, want 1 claimed and %d in flight", byState, n-1)
	}
}

func testWaitWakes(t *testing.T, s Store, _ *fakeClock) {
	w, ok := s.(Waiter)
	if !ok {
		t.Skip("store is not a Waiter")
	}
	tests := []struct {
		name  string
		end   func(ctx context.Context, key, token string) error
		after State // what the next Claim returns
	}{
		{"complete", func(ctx context.Context, key, token string) error {
			return s.Complete(ctx, key, token, Record{Status: 200})
		}, Delivered},
		{"release", s.Release, Claimed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			key := "r:" + tt.name
			res := mustClaim(t, s, key, Claimed)
			woke := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				woke <- w.Wait(ctx, key)
			}()
			select {
			case err := <-woke:
				t.Fatalf("Wait returned while in flight: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
			if err := tt.end(ctx, key, res.Token); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-woke:
				if err != nil {
					t.Fatalf("Wait: %v", err)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("Wait did not return")
			}
			mustClaim(t, s, key, tt.after)
		})
	}
}

func testWaitNotInFlight(t *testing.T, s Store, clock *fakeClock) {
	w, ok := s.(Waiter)
	if !ok {
		t.Skip("store is not a Waiter")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if err := w.Wait(ctx, "r:free"); err != nil {
		t.Errorf("Wait on free key: %v", err)
	}

	res := mustClaim(t, s, "r:done", Claimed)
	if err := s.Complete(ctx, "r:done", res.Token, Record{}); err != nil {
		t.Fatal(err)
	}
	if err := w.Wait(ctx, "r:done"); err != nil {
		t.Errorf("Wait on delivered key: %v", err)
	}

	mustClaim(t, s, "r:expired", Claimed)
	clock.Advance(suiteInFlightTTL + suiteMargin)
	if err := w.Wait(ctx, "r:expired"); err != nil {
		t.Errorf("Wait on expired claim: %v", err)
	}
}

func testWaitContextDone(t *testing.T, s Store, _ *fakeClock) {
	w, ok := s.(Waiter)
	if !ok {
		t.Skip("store is not a Waiter")
	}
	mustClaim(t, s, "r:k", Claimed)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	if err := w.Wait(ctx, "r:k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait: %v, want context.DeadlineExceeded", err)
	}
}

func testContextCanceled(t *testing.T, s Store, _ *fakeClock) {
	res := mustClaim(t, s, "r:k", Claimed)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Claim(ctx, "r:other"); !errors.Is(err, context.Canceled) {
		t.Errorf("Claim: %v, want context.Canceled", err)
	}
	if err := s.Complete(ctx, "r:k", res.Token, Record{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Complete: %v, want context.Canceled", err)
	}
	if err := s.Release(ctx, "r:k", res.Token); !errors.Is(err, context.Canceled) {
		t.Errorf("Release: %v, want context.Canceled", err)
	}
	// Nothing happened: the claim is still held, the other key still free.
	mustClaim(t, s, "r:k", InFlight)
	mustClaim(t, s, "r:other", Claimed)
}

// mustClaim claims key and fails t unless the outcome is want.
func mustClaim(t *testing.T, s Store, key string, want State) Result {
	t.Helper()
	res, err := s.Claim(t.Context(), key)
	if err != nil {
		t.Fatalf("Claim(%q): %v", key, err)
	}
	if res.State != want {
		t.Fatalf("Claim(%q) = %v, want %v", key, res.State, want)
	}
	if (res.Token != "") != (want == Claimed) {
		t.Fatalf("Claim(%q) = %v with token %q", key, res.State, res.Token)
	}
	return res
}

func assertRecord(t *testing.T, got, want Record) {
	t.Helper()
	if got.Status != want.Status || got.ContentType != want.ContentType || !bytes.Equal(got.Body, want.Body) {
		t.Errorf("record = {%d %q %.40q}, want {%d %q %.40q}",
			got.Status, got.ContentType, got.Body, want.Status, want.ContentType, want.Body)
	}
}
