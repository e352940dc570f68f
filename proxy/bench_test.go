package proxy_test

// Benchmarks of the whole handler (route, read body, verify, dedupe claim,
// forward, complete, answer) with the app in process, configured as the
// hookguard binary configures it: JSON log line per webhook, Prometheus
// metrics, memory dedupe store. Every iteration sends a new event id, so
// the dedupe store does real work (and grows) as in production.
//
//	go test -run='^$' -bench='^BenchmarkHandler' -benchmem ./proxy/

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookguard/hookguard/dedupe"
	"github.com/hookguard/hookguard/listen"
	"github.com/hookguard/hookguard/proxy"
	"github.com/hookguard/hookguard/verify"
)

const (
	benchKey    = "APIbenchKey"
	benchSecret = "bench-secret-0123456789abcdef0123456789"
)

// benchBody is a ~1 KiB LiveKit participant_joined event with the given id.
func benchBody(id string, at time.Time) []byte {
	ts := strconv.FormatInt(at.Unix(), 10)
	head := `{"event":"participant_joined","room":{"sid":"RM_tYR4fbfmcGeh","name":"bench-room","emptyTimeout":300,"creationTime":"` + ts + `","numParticipants":3},` +
		`"participant":{"sid":"PA_2X7rqKcLh7Fa","identity":"user-48213","state":"ACTIVE","joinedAt":"` + ts + `","name":"Ada Lovelace","version":2,` +
		`"permission":{"canSubscribe":true,"canPublish":true,"canPublishData":true},"region":"eu-central","metadata":"`
	tail := `"},"id":"` + id + `","createdAt":"` + ts + `"}`
	return []byte(head + strings.Repeat("m", max(0, 1024-len(head)-len(tail))) + tail)
}

// signedEvent is one pre-signed webhook.
type signedEvent struct {
	body []byte
	tok  string
}

// presign signs n events with unique ids. Signing happens before the timer
// starts: it is the sender's cost, not hookguard's.
func presign(b *testing.B, n int, prefix string, at time.Time) []signedEvent {
	b.Helper()
	out := make([]signedEvent, n)
	for i := range out {
		body := benchBody(prefix+strconv.Itoa(i), at)
		tok, err := verify.SignLiveKit(benchKey, []byte(benchSecret), body, at)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = signedEvent{body: body, tok: tok}
	}
	return out
}

// memApp answers every forwarded request in process, without a socket.
type memApp struct{ n atomic.Int64 }

func (a *memApp) RoundTrip(r *http.Request) (*http.Response, error) {
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	a.n.Add(1)
	return &http.Response{
		StatusCode:    http.StatusOK,
		Header:        http.Header{"Content-Type": {"text/plain; charset=utf-8"}},
		Body:          io.NopCloser(strings.NewReader("ok")),
		ContentLength: 2,
		Request:       r,
		Proto:         "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}, nil
}

// newBenchHandler builds a handler the way cmd/hookguard does. transport nil
// means a real loopback app (httptest.Server) reached through the default
// transport.
func newBenchHandler(b *testing.B, transport http.RoundTripper, now time.Time) (*proxy.Handler, *dedupe.Memory) {
	b.Helper()
	upstream := "http://app.invalid/hooks"
	if transport == nil {
		app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, "ok")
		}))
		b.Cleanup(app.Close)
		upstream = app.URL + "/hooks"
	}
	u, err := url.Parse(upstream)
	if err != nil {
		b.Fatal(err)
	}
	clock := func() time.Time { return now }
	v, err := verify.New(verify.ProviderLiveKit, verify.Options{Keys: map[string][]string{benchKey: {benchSecret}}, Now: clock})
	if err != nil {
		b.Fatal(err)
	}
	store, err := dedupe.NewMemory(dedupe.MemoryConfig{Size: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	h, err := proxy.New(proxy.Config{
		Routes:    []proxy.Route{{Path: "/livekit", Provider: verify.ProviderLiveKit, Verifier: v, Upstream: u}},
		Store:     store,
		Transport: transport,
		Logger:    slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Observer:  proxy.NewMetrics(),
	})
	if err != nil {
		b.Fatal(err)
	}
	return h, store
}

// benchRequest builds the request as net/http's server hands it over
// (httptest.NewRequest would add a 4 KiB bufio.Reader per request that the
// server does not allocate).
func benchRequest(ev signedEvent) *http.Request {
	req, err := http.NewRequest(http.MethodPost, "http://hookguard.test/livekit", bytes.NewReader(ev.body))
	if err != nil {
		panic(err)
	}
	req.RequestURI = "/livekit"
	req.RemoteAddr = "192.0.2.10:40000"
	req.Header.Set("Content-Type", "application/webhook+json")
	req.Header.Set("Authorization", ev.tok)
	return req
}

// serveOne runs one request through h and checks it was forwarded.
func serveOne(b *testing.B, h http.Handler, ev signedEvent) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, benchRequest(ev))
	if rec.Code != http.StatusOK {
		b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
}

// BenchmarkHandler: one new event per iteration, serially.
//   - memory_app: the app is an in-process RoundTripper: hookguard's own cost.
//   - loopback_app: the app is an httptest.Server on 127.0.0.1, reached with
//     keep-alive over TCP as in production.
func BenchmarkHandler(b *testing.B) {
	now := time.Unix(1795344706, 0)
	for _, mode := range []string{"memory_app", "loopback_app"} {
		b.Run(mode, func(b *testing.B) {
			var tr http.RoundTripper
			app := &memApp{}
			if mode == "memory_app" {
				tr = app
			}
			h, _ := newBenchHandler(b, tr, now)
			events := presign(b, b.N, "EV_"+mode+"_"+strconv.Itoa(b.N)+"_", now)
			b.ReportAllocs()
			b.SetBytes(int64(len(events[0].body)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				serveOne(b, h, events[i])
			}
		})
	}
}

// BenchmarkHandlerParallel is BenchmarkHandler with concurrent senders on
// every core.
func BenchmarkHandlerParallel(b *testing.B) {
	now := time.Unix(1795344706, 0)
	for _, mode := range []string{"memory_app", "loopback_app"} {
		b.Run(mode, func(b *testing.B) {
			var tr http.RoundTripper
			if mode == "memory_app" {
				tr = &memApp{}
			}
			h, _ := newBenchHandler(b, tr, now)
			events := presign(b, b.N, "EV_par_"+mode+"_"+strconv.Itoa(b.N)+"_", now)
			var next atomic.Int64
			b.ReportAllocs()
			b.SetBytes(int64(len(events[0].body)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) - 1
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, benchRequest(events[i]))
					if rec.Code != http.StatusOK {
						b.Errorf("status %d: %s", rec.Code, rec.Body.String())
						return
					}
				}
			})
		})
	}
}

// BenchmarkHandlerDuplicate: every iteration is a retry of an event already
// delivered, answered from the dedupe store without reaching the app.
func BenchmarkHandlerDuplicate(b *testing.B) {
	now := time.Unix(1795344706, 0)
	app := &memApp{}
	h, _ := newBenchHandler(b, app, now)
	ev := presign(b, 1, "EV_dup_", now)[0]
	serveOne(b, h, ev)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		serveOne(b, h, ev)
	}
	b.StopTimer()
	if got := app.n.Load(); got != 1 {
		b.Fatalf("app received %d copies, want 1", got)
	}
}

// BenchmarkHandlerForged: every iteration is refused with 401 (signed with
// the wrong secret): the cost of a flood of forgeries.
func BenchmarkHandlerForged(b *testing.B) {
	now := time.Unix(1795344706, 0)
	app := &memApp{}
	h, _ := newBenchHandler(b, app, now)
	body := benchBody("EV_forged", now)
	tok, err := verify.SignLiveKit(benchKey, []byte("not-the-secret-not-the-secret-00"), body, now)
	if err != nil {
		b.Fatal(err)
	}
	ev := signedEvent{body: body, tok: tok}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, benchRequest(ev))
		if rec.Code != http.StatusUnauthorized {
			b.Fatalf("status %d", rec.Code)
		}
	}
	b.StopTimer()
	if app.n.Load() != 0 {
		b.Fatal("a forgery reached the app")
	}
}

// BenchmarkServerLoopback runs the handler inside listen.NewServer on a real
// loopback listener, with a keep-alive client: the whole HTTP path of the
// binary except process boundaries.
func BenchmarkServerLoopback(b *testing.B) {
	now := time.Unix(1795344706, 0)
	h, _ := newBenchHandler(b, nil, now)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := listen.NewServer(listen.ServerConfig{Handler: h, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, 5*time.Second) }()
	b.Cleanup(func() { cancel(); <-done })
	target := "http://" + ln.Addr().String() + "/livekit"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	events := presign(b, b.N, "EV_srv_"+strconv.Itoa(b.N)+"_", now)
	b.ReportAllocs()
	b.SetBytes(int64(len(events[0].body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest(http.MethodPost, target, bytes.NewReader(events[i].body))
		req.Header.Set("Content-Type", "application/webhook+json")
		req.Header.Set("Authorization", events[i].tok)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
