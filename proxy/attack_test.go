package proxy

// Adversarial cases: each request tries to get something past hookguard
// that the app would act on. Every case asserts the status and what the app
// received (nothing, or only what was verified).

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/dedupe"
	"github.com/hookguard/hookguard/verify"
)

// tencentQuery is a validly signed Tencent query at, as raw pairs in order.
func tencentQuery(app, token string, at time.Time) []string {
	rt := at.Unix()
	return []string{
		"SdkAppid=" + app,
		"CallbackCommand=Live.CallbackAfterCreateRoom",
		"contenttype=json",
		"RequestTime=" + strconv.FormatInt(rt, 10),
		"Sign=" + verify.SignTencent(token, rt),
	}
}

func rawPost(t *testing.T, u string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}

// Regression (query pollution): Go's parser drops pairs it cannot parse
// while the raw query went to the app, so the app could read an SdkAppid
// other than the one whose Sign was checked. A query with more than one
// reading is refused.
func TestAttackQueryPollutionIsRefused(t *testing.T) {
	f := newFixture(t, nil)
	now := time.Now()
	body := []byte(`{"CallbackCommand":"Live.CallbackAfterCreateRoom","EventTime":` + strconv.FormatInt(now.UnixMilli(), 10) + `}`)
	signed := tencentQuery(tcApp, tcToken, now)
	cases := []struct {
		name  string
		query string
		err   string
	}{
		{"semicolon separator smuggles a second SdkAppid", strings.Join(signed, "&") + ";SdkAppid=1499999999", "';'"},
		{"semicolon inside a value", strings.Join(signed, "&") + "&x=a;SdkAppid=1", "';'"},
		{"bad escape hides a pair from Go", strings.Join(signed, "&") + "&SdkAppid=%zz", "escape"},
		{"same name twice", strings.Join(signed, "&") + "&SdkAppid=1499999999", "twice"},
		{"same name in another case", strings.Join(signed, "&") + "&sdkappid=1499999999", "twice"},
		{"same name escaped", strings.Join(signed, "&") + "&Sdk%41ppid=1499999999", "twice"},
		{"second RequestTime for a lenient app", strings.Join(signed, "&") + "&requesttime=9999999999", "twice"},
		{"NUL in a value", strings.Join(signed, "&") + "&ClientIP=1.2.3.4%00evil", "control"},
		{"newline in a value", strings.Join(signed, "&") + "&OptPlatform=Web%0d%0aX-Injected:1", "control"},
		{"invalid UTF-8", strings.Join(signed, "&") + "&Operator=%ff%fe", "UTF-8"},
		// Found while fixing the class: the upstream URL of this route
		// sets app=1; a sender must not override the operator's value.
		{"sender overrides the upstream URL's parameter", strings.Join(signed, "&") + "&app=2", "overrides"},
		{"upstream parameter in another case", strings.Join(signed, "&") + "&APP=2", "overrides"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, _, answer := do(t, rawPost(t, f.front.URL+"/tencent?"+tc.query, body))
			if status != http.StatusBadRequest || !strings.Contains(answer, ReasonMalformedQuery) {
				t.Errorf("got %d %q, want 400 %s", status, answer, ReasonMalformedQuery)
			}
		})
	}
	if n := f.app.count(); n != 0 {
		t.Fatalf("the app received %d polluted requests", n)
	}

	// A clean query goes through, byte for byte, after the upstream's own.
	q := strings.Join(signed, "&") + "&ClientIP=1.2.3.4&OptPlatform=Web"
	status, _, answer := do(t, rawPost(t, f.front.URL+"/tencent?"+q, body))
	if status != http.StatusOK {
		t.Fatalf("clean query: %d %q", status, answer)
	}
	if got, want := f.app.last().rawQuery, "app=1&"+q; got != want {
		t.Fatalf("app got query %q, want %q", got, want)
	}
}

func FuzzStrictQuery(f *testing.F) {
	for _, s := range []string{"", "a=1&b=2", "a=1;b=2", "a=%zz", "a=1&A=2", "a=%00", "&&a=&", "a+b=c+d", "%41=1&a=2", "a=1&a=1"} {
		f.Add(s)
	}
	reserved := map[string]struct{}{"app": {}}
	f.Fuzz(func(t *testing.T, raw string) {
		vals, err := strictQuery(raw, reserved)
		if err != nil {
			return
		}
		// Accepted: every reader agrees on it. Go's parser sees the same
		// pairs, no name repeats in any case, none is reserved.
		std, serr := url.ParseQuery(raw)
		if serr != nil {
			t.Fatalf("accepted %q, which Go's parser refuses: %v", raw, serr)
		}
		if len(std) != len(vals) {
			t.Fatalf("accepted %q: %d names, Go reads %d", raw, len(vals), len(std))
		}
		lower := map[string]bool{}
		for k, v := range std {
			if len(v) != 1 || vals.Get(k) != v[0] {
				t.Fatalf("accepted %q: %q = %q, Go reads %q", raw, k, vals.Get(k), v)
			}
			lk := strings.ToLower(k)
			if lower[lk] || lk == "app" {
				t.Fatalf("accepted %q: repeated or reserved name %q", raw, k)
			}
			lower[lk] = true
			if !cleanText(k) || !cleanText(v[0]) {
				t.Fatalf("accepted %q with a control character", raw)
			}
		}
	})
}

// Regression (header smuggling): underscore spellings of hookguard's
// headers reached the app, where CGI, WSGI, Rack and PHP merge them with
// the dash form; so did request trailers.
func TestAttackHeaderSmugglingIsStripped(t *testing.T) {
	f := newFixture(t, nil)
	now := time.Now()
	body := livekitBody("EV_smuggle", "room_started", now)
	req := livekitRequest(t, f.front.URL+"/livekit", body, lkKey, lkSecret, now)
	spoofed := map[string]string{
		"X_Hookguard_Key_Id":   "admin",
		"X-Hookguard_Provider": "tencent",
		"x-HOOKGUARD-key-id":   "admin",
		"X_HOOKGUARD_ROUTE":    "/internal",
		// Found while fixing the class: the app's CGI layer would merge
		// these with the X-Forwarded-For hookguard sets, so the app would
		// believe a forged client address.
		"X_Forwarded_For": "10.0.0.1",
		"X_Real_IP":       "10.0.0.1",
	}
	for k, v := range spoofed {
		req.Header[k] = []string{v} // not canonicalized: sent as spelled
	}
	status, _, answer := do(t, req)
	if status != http.StatusOK {
		t.Fatalf("%d %q", status, answer)
	}
	got := f.app.last()
	for k := range got.header {
		if strings.Contains(k, "_") {
			t.Errorf("header %q reached the app", k)
		}
	}
	if v := got.header.Get(HeaderKeyID); v != lkKey {
		t.Errorf("%s = %q, want the verified key %q", HeaderKeyID, v, lkKey)
	}
	if v := got.header.Get(HeaderProvider); v != verify.ProviderLiveKit {
		t.Errorf("%s = %q", HeaderProvider, v)
	}
}

// trailerBody is a request body sent chunked with trailers set at EOF.
func chunkedWithTrailer(t *testing.T, u string, body []byte, header http.Header, trailer http.Header) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, io.MultiReader(bytes.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1 // chunked
	req.Header = header
	req.Trailer = trailer
	return req
}

func TestAttackTrailersNeverReachTheApp(t *testing.T) {
	key := []byte("forward-signing-key-32-bytes-long!")
	f := newFixture(t, func(c *Config) { c.Routes[0].Forward.SigningKey = key })
	now := time.Now()
	body := livekitBody("EV_trailer", "room_started", now)
	signed := livekitRequest(t, f.front.URL+"/livekit", body, lkKey, lkSecret, now)
	trailer := http.Header{
		"X-Hookguard-Key-Id": {"admin"},
		"X_Hookguard_Key_Id": {"admin"},
		"Webhook-Signature":  {"v1,Zm9yZ2Vk"},
		"Webhook-Id":         {"msg_forged"},
	}
	req := chunkedWithTrailer(t, signed.URL.String(), body, signed.Header, trailer)
	// On a re-signing route any webhook-* or svix-* header of the sender's
	// goes too, in any spelling.
	req.Header["svix-signature"] = []string{"v1,Zm9yZ2Vk"}
	req.Header["Webhook-Foo"] = []string{"x"}
	status, _, answer := do(t, req)
	if status != http.StatusOK {
		t.Fatalf("%d %q", status, answer)
	}
	got := f.app.last()
	if len(got.trailer) != 0 {
		t.Errorf("trailers reached the app: %v", got.trailer)
	}
	if len(got.transferEncoding) != 0 || got.contentLength != int64(len(body)) {
		t.Errorf("forwarded framing: transfer-encoding %v, content-length %d; want Content-Length %d",
			got.transferEncoding, got.contentLength, len(body))
	}
	if got.header.Get("Svix-Signature") != "" || got.header.Get("Webhook-Foo") != "" {
		t.Errorf("sender's webhook-*/svix-* headers reached a re-signing route's app: %v", got.header)
	}
	sig := got.header.Get(verify.HeaderWebhookSignature)
	want := verify.SignStandard(key, "EV_trailer", mustUnix(t, got.header.Get(verify.HeaderWebhookTimestamp)), body)
	if sig != want {
		t.Errorf("webhook-signature %q, want hookguard's %q", sig, want)
	}
	if got.header.Get(verify.HeaderWebhookID) != "EV_trailer" {
		t.Errorf("webhook-id %q", got.header.Get(verify.HeaderWebhookID))
	}
}

func mustUnix(t *testing.T, s string) time.Time {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("timestamp %q: %v", s, err)
	}
	return time.Unix(n, 0)
}

// Found while fixing the chunked class: an empty body with a zero
// ContentLength was sent chunked by the Transport.
func TestForwardsAnEmptyBodyWithContentLength(t *testing.T) {
	app := newRecordingApp(t)
	store, _ := dedupe.NewMemory(dedupe.MemoryConfig{})
	t.Cleanup(func() { store.Close() })
	h, err := New(Config{
		Routes: []Route{{Path: "/sw", Provider: verify.ProviderStandardWebhooks, Upstream: mustURL(t, app.srv.URL+"/sw"),
			Verifier: mustVerifier(t, verify.ProviderStandardWebhooks, map[string][]string{"p": {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}})}},
		Store:  store,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	front := newFront(t, h)
	key, _ := verify.ParseStandardSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	now := time.Now()
	req := chunkedWithTrailer(t, front+"/sw", nil, http.Header{
		verify.HeaderWebhookID:        {"msg_empty"},
		verify.HeaderWebhookTimestamp: {strconv.FormatInt(now.Unix(), 10)},
		verify.HeaderWebhookSignature: {verify.SignStandard(key, "msg_empty", now, nil)},
	}, nil)
	status, _, answer := do(t, req)
	if status != http.StatusOK {
		t.Fatalf("%d %q", status, answer)
	}
	got := app.last()
	if len(got.transferEncoding) != 0 || got.contentLength != 0 {
		t.Fatalf("empty body forwarded with transfer-encoding %v, content-length %d", got.transferEncoding, got.contentLength)
	}
}

// Regression (eviction flood): all routes shared one bounded store, so a
// burst of distinct events on one route pushed out the others' records and
// their replays were delivered again. Each route now has its own bound.
func TestAttackFloodOnOneRouteKeepsTheOthersRecords(t *testing.T) {
	const size = 16
	stores := make([]*dedupe.Memory, 2)
	for i := range stores {
		m, err := dedupe.NewMemory(dedupe.MemoryConfig{Size: size, Window: 2 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		stores[i] = m
	}
	metrics := NewMetrics()
	f := newFixture(t, func(c *Config) {
		c.Routes[0].Store = stores[0]
		c.Routes[1].Store = stores[1]
		c.Store = nil
		c.Observer = metrics
	})
	metrics.WatchStores(f.h.Routes())
	now := time.Now()

	// A LiveKit event is delivered, and a copy of it captured.
	lkBody := livekitBody("EV_victim", "room_started", now)
	captured := livekitRequest(t, f.front.URL+"/livekit", lkBody, lkKey, lkSecret, now)
	if status, _, answer := do(t, clone(t, captured, lkBody)); status != http.StatusOK {
		t.Fatalf("victim: %d %q", status, answer)
	}
	// One captured Tencent Sign gives a minute of distinct bodies.
	for i := range 4 * size {
		body := []byte(fmt.Sprintf(`{"CallbackCommand":"Live.CallbackAfterCreateRoom","EventTime":%d}`, now.UnixMilli()+int64(i)))
		if status, _, answer := do(t, tencentRequest(t, f.front.URL, body, tcApp, tcToken, now)); status != http.StatusOK {
			t.Fatalf("flood %d: %d %q", i, status, answer)
		}
	}
	before := f.app.count()
	status, _, answer := do(t, clone(t, captured, lkBody))
	if status != http.StatusOK || f.app.count() != before {
		t.Fatalf("replay of the victim after the flood: %d %q, app received %d more", status, answer, f.app.count()-before)
	}
	// The flood is visible: evictions inside the replay window are counted.
	st := stores[1].Stats()
	if st.Evicted != 3*size || st.EvictedInWindow != 3*size {
		t.Fatalf("flooded route's store: %+v", st)
	}
	if got := gatherValue(t, metrics, "hookguard_dedupe_evictions_in_window_total", "/tencent"); got != 3*size {
		t.Fatalf("hookguard_dedupe_evictions_in_window_total{route=/tencent} = %v", got)
	}
}

// gatherValue reads one series of metric for route from m's registry.
func gatherValue(t *testing.T, m *Metrics, name, route string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "route" && l.GetValue() == route {
					if c := mt.GetCounter(); c != nil {
						return c.GetValue()
					}
					return mt.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no series %s{route=%q}", name, route)
	return 0
}

// newFront serves h on a test server and returns its URL.
func newFront(t *testing.T, h http.Handler) string {
	t.Helper()
	front := httptest.NewServer(h)
	t.Cleanup(front.Close)
	return front.URL
}
