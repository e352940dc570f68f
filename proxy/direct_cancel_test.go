package proxy

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// slowApp answers each request with its body after the delay its
// X-Delay header names (Go duration syntax), or at once.
func slowApp(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if d, err := time.ParseDuration(r.Header.Get("X-Delay")); err == nil {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func delayed(addr string, d time.Duration) *http.Request {
	out := directRequest(addr, "/")
	out.Header["X-Delay"] = []string{d.String()}
	return out
}

func TestDirectContextEndsTheExchange(t *testing.T) {
	addr := slowApp(t)
	c, d := newTestDirect(t, directConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, _, err := c.doContext(ctx, addr, time.Now().Add(10*time.Second), delayed(addr, 5*time.Second), []byte("x"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("the cancelled exchange took %v", el)
	}
	if upstreamError(err).Status != http.StatusBadGateway {
		t.Fatalf("a cancelled delivery maps to %d, want 502", upstreamError(err).Status)
	}
	if n := idleLen(c, addr); n != 0 {
		t.Fatalf("%d idle connections after an interrupted exchange, want 0 (it must be closed)", n)
	}
	if n := d.dials.Load(); n != 1 {
		t.Fatalf("%d dials: an interrupted exchange was retried", n)
	}
}

func TestDirectContextDoneBeforeTheRequest(t *testing.T) {
	addr := slowApp(t)
	c, d := newTestDirect(t, directConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := c.doContext(ctx, addr, time.Now().Add(time.Second), directRequest(addr, "/"), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if n := d.dials.Load(); n != 0 {
		t.Fatalf("%d dials for a request whose context had ended", n)
	}
}

func TestDirectContextThatEndsLaterLeavesTheConnectionPooled(t *testing.T) {
	addr := slowApp(t)
	c, d := newTestDirect(t, directConfig{})
	for range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		resp, body, err := c.doContext(ctx, addr, time.Now().Add(5*time.Second), directRequest(addr, "/"), []byte("ok"))
		cancel() // after the exchange: the pooled connection must not be touched
		if err != nil || resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("answer %v %q %v", resp, body, err)
		}
	}
	if n := d.dials.Load(); n != 1 {
		t.Fatalf("%d dials for 5 requests whose contexts ended after them, want 1", n)
	}
}

// Contexts ending at random times, many at once, then requests that
// nothing cancels on the same client: none of those may fail, which it
// would if a cancellation reached a connection after it was pooled.
func TestDirectCancellationsNeverReachAPooledConnection(t *testing.T) {
	addr := slowApp(t)
	c, _ := newTestDirect(t, directConfig{MaxIdle: 8})
	rng := rand.New(rand.NewPCG(20261201, 1))
	delays := make([]time.Duration, 400)
	for i := range delays {
		delays[i] = time.Duration(rng.IntN(3000)) * time.Microsecond
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, d := range delays {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			c.doContext(ctx, addr, time.Now().Add(5*time.Second), delayed(addr, time.Millisecond), []byte("x"))
		}()
	}
	wg.Wait()
	var failed sync.Map
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, body, err := c.do(addr, time.Now().Add(5*time.Second), directRequest(addr, "/"), []byte("fine"))
			if err != nil || string(body) != "fine" {
				failed.Store(i, err)
			}
		}()
	}
	wg.Wait()
	failed.Range(func(k, v any) bool {
		t.Errorf("request %v after the cancellations: %v", k, v)
		return true
	})
}
