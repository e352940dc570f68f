package proxy

import (
	"context"
	"sync"
	"time"
)

// keyLocks serializes the copies of one event that reach this instance at
// the same time: only the holder talks to the dedupe store and the app; the
// others wait for its outcome, then find the event delivered (or claim it
// themselves if it failed). This keeps a burst of retries from turning into
// a burst of store round trips.
type keyLocks struct {
	mu   sync.Mutex
	m    map[string]*keyLock
	free []*keyLock // unused locks, reused (bounded by maxFreeLocks)
}

// maxFreeLocks bounds the unused locks kept for reuse.
const maxFreeLocks = 256

type keyLock struct {
	ch   chan struct{} // holds one token while locked
	refs int           // holders and waiters
}

// lock takes key's lock, or returns the wait's error if it ends first.
// A free lock is taken without making the wait's context (and its timer).
// Unlock with unlock(key, l).
func (k *keyLocks) lock(w *boundedWait, key string) (*keyLock, error) {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]*keyLock)
	}
	l := k.m[key]
	if l == nil {
		if n := len(k.free); n > 0 {
			l, k.free = k.free[n-1], k.free[:n-1]
		} else {
			l = &keyLock{ch: make(chan struct{}, 1)}
		}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()

	select {
	case l.ch <- struct{}{}:
		return l, nil
	default:
	}
	ctx := w.context()
	select {
	case l.ch <- struct{}{}:
		return l, nil
	case <-ctx.Done():
		k.unref(key, l)
		return nil, ctx.Err()
	}
}

// unlock releases a lock taken with lock.
func (k *keyLocks) unlock(key string, l *keyLock) {
	<-l.ch
	k.unref(key, l)
}

func (k *keyLocks) unref(key string, l *keyLock) {
	k.mu.Lock()
	l.refs--
	if l.refs == 0 {
		// Nobody holds or waits for it (its channel is empty): reusable.
		delete(k.m, key)
		if len(k.free) < maxFreeLocks {
			k.free = append(k.free, l)
		}
	}
	k.mu.Unlock()
}

// boundedWait bounds the waits of one event's delivery (for another copy's
// lock, for a claim held elsewhere) by a timeout from the first of them,
// with a context that is made only when something has to wait: most events take a free lock and
// an in-process store's answer, and never need the context's timer.
type boundedWait struct {
	parent  context.Context
	timeout time.Duration
	ctx     context.Context
	cancel  context.CancelFunc
}

// newBoundedWait bounds the waits by timeout, counted from the first.
func newBoundedWait(parent context.Context, timeout time.Duration) boundedWait {
	return boundedWait{parent: parent, timeout: timeout}
}

// context is the parent bounded by the timeout, made on first use.
func (w *boundedWait) context() context.Context {
	if w.ctx == nil {
		w.ctx, w.cancel = context.WithTimeout(w.parent, w.timeout)
	}
	return w.ctx
}

// err is the error of the wait's context, or of its parent while that
// was not made.
func (w *boundedWait) err() error {
	if w.ctx != nil {
		return w.ctx.Err()
	}
	return w.parent.Err()
}

// stop releases the context's timer, if one was made.
func (w *boundedWait) stop() {
	if w.cancel != nil {
		w.cancel()
	}
}
