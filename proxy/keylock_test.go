package proxy

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestKeyLocks(t *testing.T) {
	var k keyLocks
	free := newBoundedWait(context.Background(), time.Minute)
	defer free.stop()
	a, err := k.lock(&free, "a")
	if err != nil {
		t.Fatal(err)
	}
	// Another key is independent, and a free lock makes no context.
	b, err := k.lock(&free, "b")
	if err != nil {
		t.Fatal(err)
	}
	k.unlock("b", b)
	if free.ctx != nil {
		t.Fatal("a free lock made the wait's context")
	}

	// A second holder of "a" waits until its deadline.
	short := newBoundedWait(context.Background(), 20*time.Millisecond)
	defer short.stop()
	if _, err := k.lock(&short, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lock: %v, want deadline exceeded", err)
	}
	if !errors.Is(short.err(), context.DeadlineExceeded) {
		t.Fatalf("wait's error %v, want deadline exceeded", short.err())
	}
	// ... or until its parent ends.
	parent, cancel := context.WithCancel(context.Background())
	cancel()
	gone := newBoundedWait(parent, time.Minute)
	defer gone.stop()
	if _, err := k.lock(&gone, "a"); !errors.Is(err, context.Canceled) {
		t.Fatalf("lock with a canceled parent: %v, want canceled", err)
	}
	// ... or gets the lock once the holder unlocks.
	got := make(chan *keyLock)
	go func() {
		w := newBoundedWait(context.Background(), time.Minute)
		defer w.stop()
		l, err := k.lock(&w, "a")
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	time.Sleep(10 * time.Millisecond)
	k.unlock("a", a)
	k.unlock("a", <-got)

	k.mu.Lock()
	if len(k.m) != 0 {
		t.Fatalf("locks left behind: %d", len(k.m))
	}
	reusable := len(k.free)
	k.mu.Unlock()
	if reusable == 0 {
		t.Fatal("no unused lock kept for reuse")
	}
	// A reused lock is free, and still excludes.
	again, err := k.lock(&free, "c")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.lock(&short, "c"); err == nil {
		t.Fatal("a reused lock was taken twice")
	}
	k.unlock("c", again)
}

func TestWaitForErrBeforeTheContextIsMade(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	w := newBoundedWait(parent, time.Minute)
	defer w.stop()
	if w.err() != nil {
		t.Fatalf("err %v before anything ended", w.err())
	}
	cancel()
	if !errors.Is(w.err(), context.Canceled) {
		t.Fatalf("err %v after the parent ended, want canceled", w.err())
	}
}
