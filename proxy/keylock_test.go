package proxy

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestKeyLocks(t *testing.T) {
	var k keyLocks
	unlock, err := k.lock(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	// Another key is independent.
	unlockB, err := k.lock(context.Background(), "b")
	if err != nil {
		t.Fatal(err)
	}
	unlockB()

	// A second holder of "a" waits until its context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := k.lock(ctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lock: %v, want deadline exceeded", err)
	}
	// ... or gets the lock once the holder unlocks.
	got := make(chan func())
	go func() {
		u, err := k.lock(context.Background(), "a")
		if err != nil {
			t.Error(err)
		}
		got <- u
	}()
	time.Sleep(10 * time.Millisecond)
	unlock()
	(<-got)()

	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.m) != 0 {
		t.Fatalf("locks left behind: %d", len(k.m))
	}
}
