package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookguard/hookguard/dedupe"
	"github.com/hookguard/hookguard/verify"
)

const (
	lkKey    = "APIkey"
	lkSecret = "livekit-secret-with-at-least-32-chars"
	tcApp    = "1400000000"
	tcToken  = "tencent-token"
	ackJSON  = `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`
)

// recordingApp is the upstream: it records every request it receives and
// answers with status (default 200) and a JSON body.
type recordingApp struct {
	mu       sync.Mutex
	received []*receivedReq
	status   atomic.Int32
	delay    atomic.Int64 // nanoseconds
	srv      *httptest.Server
}

type receivedReq struct {
	header   http.Header
	query    url.Values
	rawQuery string
	path     string
	body     []byte
	// trailer, transferEncoding and contentLength show how the body was
	// framed on the wire to the app.
	trailer          http.Header
	transferEncoding []string
	contentLength    int64
}

func newRecordingApp(t *testing.T) *recordingApp {
	a := &recordingApp{}
	a.srv = httptest.NewServer(a.handler())
	t.Cleanup(a.srv.Close)
	return a
}

func (a *recordingApp) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := time.Duration(a.delay.Load()); d > 0 {
			time.Sleep(d)
		}
		body, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.received = append(a.received, &receivedReq{header: r.Header.Clone(), query: r.URL.Query(), rawQuery: r.URL.RawQuery,
			path: r.URL.Path, body: body, trailer: r.Trailer.Clone(), transferEncoding: r.TransferEncoding, contentLength: r.ContentLength})
		a.mu.Unlock()
		status := int(a.status.Load())
		if status == 0 {
			status = http.StatusOK
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-App", "yes")
		w.WriteHeader(status)
		if r.Header.Get(HeaderProvider) == verify.ProviderTencent {
			io.WriteString(w, ackJSON)
			return
		}
		io.WriteString(w, `{"app":"ok"}`)
	})
}

func (a *recordingApp) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.received)
}

func (a *recordingApp) last() *receivedReq {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.received) == 0 {
		return nil
	}
	return a.received[len(a.received)-1]
}

type fixture struct {
	app   *recordingApp
	front *httptest.Server
	h     *Handler
	store *dedupe.Memory
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func mustVerifier(t *testing.T, provider string, keys map[string][]string) verify.Verifier {
	t.Helper()
	v, err := verify.New(provider, verify.Options{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// newFixture runs a Handler in a frontend httptest.Server in front of a
// recording app, with a LiveKit route at /livekit and a Tencent route at
// /tencent. mod may change the config before the handler is built.
func newFixture(t *testing.T, mod func(*Config)) *fixture {
	t.Helper()
	app := newRecordingApp(t)
	store, err := dedupe.NewMemory(dedupe.MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	cfg := Config{
		Routes: []Route{
			{Path: "/livekit", Provider: verify.ProviderLiveKit, Upstream: mustURL(t, app.srv.URL+"/hooks/livekit"),
				Verifier: mustVerifier(t, verify.ProviderLiveKit, map[string][]string{lkKey: {lkSecret}})},
			{Path: "/tencent", Provider: verify.ProviderTencent, Upstream: mustURL(t, app.srv.URL+"/hooks/tencent?app=1"),
				Verifier: mustVerifier(t, verify.ProviderTencent, map[string][]string{tcApp: {tcToken}})},
		},
		Store:  store,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(h)
	t.Cleanup(front.Close)
	return &fixture{app: app, front: front, h: h, store: store}
}

func livekitBody(id, event string, at time.Time) []byte {
	ts := strconv.FormatInt(at.Unix(), 10)
	return []byte(`{"event":"` + event + `","room":{"sid":"RM_tYR4fbfmcGeh","name":"interop-room","emptyTimeout":5,"creationTime":"` + ts + `"},"id":"` + id + `","createdAt":"` + ts + `"}`)
}

func livekitRequest(t *testing.T, url string, body []byte, key, secret string, at time.Time) *http.Request {
	t.Helper()
	tok, err := verify.SignLiveKit(key, []byte(secret), body, at)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/webhook+json")
	req.Header.Set("Authorization", tok)
	return req
}

func tencentRequest(t *testing.T, base string, body []byte, app, token string, at time.Time) *http.Request {
	t.Helper()
	rt := at.Unix()
	q := url.Values{}
	q.Set("SdkAppid", app)
	q.Set("CallbackCommand", "Live.CallbackAfterCreateRoom")
	q.Set("contenttype", "json")
	q.Set("RequestTime", strconv.FormatInt(rt, 10))
	q.Set("Sign", verify.SignTencent(token, rt))
	req, err := http.NewRequest(http.MethodPost, base+"/tencent?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}

func do(t *testing.T, req *http.Request) (int, http.Header, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func clone(t *testing.T, req *http.Request, body []byte) *http.Request {
	r := req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return r
}

func TestForwardsVerifiedEventOnceWithBodyUnchanged(t *testing.T) {
	f := newFixture(t, nil)
	now := time.Now()
	body := livekitBody("EV_rqKiVYicm5ni", "room_started", now)
	req := livekitRequest(t, f.front.URL+"/livekit", body, lkKey, lkSecret, now)
	req.Header.Set("X-Hookguard-Provider", "spoofed")
	req.Header.Set("X-Hookguard-Event-Id", "spoofed")
	req.Header.Set("x-hookguard-custom", "spoofed")

	status, hdr, answer := do(t, clone(t, req, body))
	if status != 200 || answer != `{"app":"ok"}` || hdr.Get("X-App") != "yes" {
		t.Fatalf("sender got %d %q (X-App %q); want the app's 200 answer unchanged", status, answer, hdr.Get("X-App"))
	}
	if f.app.count() != 1 {
		t.Fatalf("app received %d requests, want 1", f.app.count())
	}
	got := f.app.last()
	if !bytes.Equal(got.body, body) {
		t.Errorf("body changed:\n got %s\nwant %s", got.body, body)
	}
	if got.path != "/hooks/livekit" {
		t.Errorf("path %q", got.path)
	}
	want := map[string]string{
		HeaderProvider:  "livekit",
		HeaderRoute:     "/livekit",
		HeaderEventID:   "EV_rqKiVYicm5ni",
		HeaderEventType: "room_started",
		HeaderEventTime: time.Unix(now.Unix(), 0).UTC().Format(time.RFC3339Nano),
		HeaderKeyID:     lkKey,
	}
	for k, v := range want {
		if vv := got.header.Values(k); len(vv) != 1 || vv[0] != v {
			t.Errorf("header %s = %q, want [%q]", k, vv, v)
		}
	}
	if v := got.header.Get("X-Hookguard-Custom"); v != "" {
		t.Errorf("spoofed X-Hookguard-Custom reached the app: %q", v)
	}
	if got.header.Get("Authorization") == "" {
		t.Error("the original Authorization header should reach the app so it can verify with LiveKit's SDK")
	}

	// The provider retries with the same JWT and body: answered as the
	// original was, not forwarded.
	status, _, answer = do(t, clone(t, req, body))
	if status != 200 || answer != `{"app":"ok"}` {
		t.Fatalf("duplicate got %d %q", status, answer)
	}
	if f.app.count() != 1 {
		t.Fatalf("duplicate was forwarded: app received %d", f.app.count())
	}
}

func TestRejectsAndNeverForwards(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Routes[0].MaxBody = 4096 })
	now := time.Now()
	body := livekitBody("EV_reject", "room_started", now)
	lk := f.front.URL + "/livekit"
	cases := []struct {
		name   string
		req    func() *http.Request
		status int
		reason string
	}{
		{"forged secret", func() *http.Request {
			return livekitRequest(t, lk, body, lkKey, "forged-secret-forged-secret-forged", now)
		}, 401, ReasonSignatureMismatch},
		{"tampered body", func() *http.Request {
			r := livekitRequest(t, lk, body, lkKey, lkSecret, now)
			return clone(t, r, bytes.Replace(body, []byte("interop-room"), []byte("evil-room"), 1))
		}, 401, ReasonBodyMismatch},
		{"stale token", func() *http.Request {
			return livekitRequest(t, lk, body, lkKey, lkSecret, now.Add(-10*time.Minute))
		}, 401, ReasonStale},
		{"unknown key", func() *http.Request {
			return livekitRequest(t, lk, body, "otherkey", lkSecret, now)
		}, 401, ReasonUnknownKey},
		{"missing signature", func() *http.Request {
			r := livekitRequest(t, lk, body, lkKey, lkSecret, now)
			r.Header.Del("Authorization")
			return r
		}, 401, ReasonMissingSignature},
		{"valid signature over a non-JSON body", func() *http.Request {
			return livekitRequest(t, lk, []byte("not json"), lkKey, lkSecret, now)
		}, 400, ReasonMalformedBody},
		{"body over the route limit", func() *http.Request {
			big := bytes.Repeat([]byte("x"), 5000)
			return livekitRequest(t, lk, big, lkKey, lkSecret, now)
		}, 413, ReasonTooLarge},
		{"GET", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, lk, nil)
			return r
		}, 405, ReasonMethod},
		{"unknown path", func() *http.Request {
			return livekitRequest(t, f.front.URL+"/nope", body, lkKey, lkSecret, now)
		}, 404, ReasonNotFound},
		{"tencent stale RequestTime", func() *http.Request {
			return tencentRequest(t, f.front.URL, []byte(`{"CallbackCommand":"Live.CallbackAfterCreateRoom"}`), tcApp, tcToken, now.Add(-2*time.Minute))
		}, 401, ReasonStale},
		{"tencent wrong token", func() *http.Request {
			return tencentRequest(t, f.front.URL, []byte(`{}`), tcApp, "wrong", now)
		}, 401, ReasonSignatureMismatch},
		{"tencent unknown SdkAppid", func() *http.Request {
			return tencentRequest(t, f.front.URL, []byte(`{}`), "1499999999", tcToken, now)
		}, 401, ReasonUnknownKey},
		{"tencent valid sign, body not JSON", func() *http.Request {
			return tencentRequest(t, f.front.URL, []byte(`<xml/>`), tcApp, tcToken, now)
		}, 400, ReasonMalformedBody},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, _, answer := do(t, tc.req())
			if status != tc.status || !strings.Contains(answer, tc.reason) {
				t.Errorf("got %d %q, want %d with reason %s", status, answer, tc.status, tc.reason)
			}
			if strings.Contains(answer, lkSecret) || strings.Contains(answer, tcToken) {
				t.Error("a secret appears in the answer")
			}
		})
	}
	if n := f.app.count(); n != 0 {
		t.Fatalf("the app received %d rejected requests", n)
	}
}

func TestTencentDuplicateGetsTheAppsAnswer(t *testing.T) {
	f := newFixture(t, nil)
	now := time.Now()
	body := []byte(`{"CallbackCommand":"Live.CallbackAfterCreateRoom","EventTime":` + strconv.FormatInt(now.UnixMilli(), 10) + `,"RoomId":"r1"}`)
	req := tencentRequest(t, f.front.URL, body, tcApp, tcToken, now)
	for i := 0; i < 3; i++ {
		status, _, answer := do(t, clone(t, req, body))
		if status != 200 || answer != ackJSON {
			t.Fatalf("try %d: got %d %q", i, status, answer)
		}
	}
	if f.app.count() != 1 {
		t.Fatalf("app received %d, want 1", f.app.count())
	}
	got := f.app.last()
	if got.query.Get("app") != "1" || got.query.Get("SdkAppid") != tcApp {
		t.Errorf("query not forwarded: %v", got.query)
	}
	if got.header.Get(HeaderEventType) != "Live.CallbackAfterCreateRoom" || !strings.HasPrefix(got.header.Get(HeaderEventID), "sha256:") {
		t.Errorf("headers: %v", got.header)
	}
}

func TestAppDownThenRetryIsForwarded(t *testing.T) {
	// An address nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	f := newFixture(t, func(c *Config) { c.Routes[0].Upstream = mustURL(t, "http://"+addr+"/hooks") })
	now := time.Now()
	body := livekitBody("EV_down", "room_started", now)
	req := livekitRequest(t, f.front.URL+"/livekit", body, lkKey, lkSecret, now)
	status, _, answer := do(t, clone(t, req, body))
	if status != http.StatusBadGateway || !strings.Contains(answer, ReasonUnreachable) {
		t.Fatalf("app down: got %d %q, want 502", status, answer)
	}
	// The app comes back on that address.
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	srv := &http.Server{Handler: f.app.srv.Config.Handler}
	go srv.Serve(ln)
	defer srv.Close()
	status, _, _ = do(t, clone(t, req, body))
	if status != 200 || f.app.count() != 1 {
		t.Fatalf("retry: got %d, app received %d; want 200 and 1", status, f.app.count())
	}
	status, _, _ = do(t, clone(t, req, body))
	if status != 200 || f.app.count() != 1 {
		t.Fatalf("second retry: got %d, app received %d; want 200 and still 1", status, f.app.count())
	}
}

func TestAppErrorAndTimeoutReleaseTheEvent(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Routes[0].Timeout = 200 * time.Millisecond })
	now := time.Now()
	body := livekitBody("EV_flaky", "room_started", now)
	req := livekitRequest(t, f.front.URL+"/livekit", body, lkKey, lkSecret, now)

	f.app.status.Store(503)
	status, _, answer := do(t, clone(t, req, body))
	if status != 503 || answer != `{"app":"ok"}` {
		t.Fatalf("app 503: sender got %d %q; want the app's answer", status, answer)
	}
	f.app.status.Store(200)
	f.app.delay.Store(int64(time.Second))
	status, _, answer = do(t, clone(t, req, body))
	if status != http.StatusGatewayTimeout || !strings.Contains(answer, ReasonTimeout) {
		t.Fatalf("slow app: got %d %q, want 504", status, answer)
	}
	f.app.delay.Store(0)
	status, _, _ = do(t, clone(t, req, body))
	if status != 200 {
		t.Fatalf("retry after recovery: %d", status)
	}
	// 503, the slow one (received after the timeout), and the retry.
	time.Sleep(1100 * time.Millisecond)
	if n := f.app.count(); n != 3 {
		t.Fatalf("app received %d, want 3 (failed, timed out, delivered)", n)
	}
	status, _, _ = do(t, clone(t, req, body))
	if status != 200 || f.app.count() != 3 {
		t.Fatalf("after delivery: %d, app %d", status, f.app.count())
	}
}

func TestConcurrentCopiesReachTheAppOnce(t *testing.T) {
	f := newFixture(t, nil)
	f.app.delay.Store(int64(50 * time.Millisecond))
	now := time.Now()
	body := livekitBody("EV_burst", "participant_joined", now)
	req := livekitRequest(t, f.front.URL+"/livekit", body, lkKey, lkSecret, now)
	const copies = 50
	var wg sync.WaitGroup
	statuses := make([]int, copies)
	for i := range copies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.DefaultClient.Do(clone(t, req, body))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Errorf("copy %d got %d", i, s)
		}
	}
	if n := f.app.count(); n != 1 {
		t.Fatalf("app received %d copies, want 1", n)
	}
}

func TestAllowCIDRsAndTrustedProxies(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.Routes[0].AllowCIDRs = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	now := time.Now()
	body := livekitBody("EV_cidr", "room_started", now)
	cases := []struct {
		name string
		xff  string
		want int
	}{
		{"direct loopback peer", "", 403},
		{"allowed client behind the trusted proxy", "203.0.113.7", 200},
		{"spoofed allowed address before an untrusted hop", "203.0.113.7, 198.51.100.1", 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := livekitRequest(t, f.front.URL+"/livekit", body, lkKey, lkSecret, now)
			if tc.xff != "" {
				req.Header.Set("X-Forwarded-For", tc.xff)
			}
			status, _, _ := do(t, req)
			if status != tc.want {
				t.Fatalf("got %d, want %d", status, tc.want)
			}
		})
	}
}

func TestForwardSigningAndCloudEvents(t *testing.T) {
	const whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	key, err := verify.ParseStandardSecret(whsec)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(c *Config) {
		c.Routes[0].Forward = Forward{SigningKey: key, Format: FormatCloudEvents}
	})
	now := time.Now()
	body := livekitBody("EV_ce", "room_finished", now)
	status, _, _ := do(t, livekitRequest(t, f.front.URL+"/livekit", body, lkKey, lkSecret, now))
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	got := f.app.last()
	sw := mustVerifier(t, verify.ProviderStandardWebhooks, map[string][]string{"hookguard": {whsec}})
	evs, err := sw.Verify(&verify.Request{Header: got.header, Body: got.body})
	if err != nil {
		t.Fatalf("forwarded request does not verify as Standard Webhooks: %v", err)
	}
	if evs[0].ID != "EV_ce" {
		t.Errorf("webhook-id %q", evs[0].ID)
	}
	if ct := got.header.Get("Content-Type"); ct != "application/cloudevents+json" {
		t.Errorf("content type %q", ct)
	}
	var ce struct {
		SpecVersion, ID, Source, Type, Time, DataContentType string
		Data                                                 json.RawMessage
	}
	if err := json.Unmarshal(got.body, &ce); err != nil {
		t.Fatal(err)
	}
	if ce.SpecVersion != "1.0" || ce.ID != "EV_ce" || ce.Type != "livekit.room_finished" || ce.Source != "/hookguard/livekit" || !bytes.Equal(ce.Data, body) {
		t.Errorf("cloudevent: %+v", ce)
	}
}
