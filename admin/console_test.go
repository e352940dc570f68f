package admin

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/proxy"
	"github.com/hookguard/hookguard/queue"
)

const xssID = `<img src=x onerror=alert(1)>`

type consoleFixture struct {
	h      http.Handler
	rec    *Recorder
	clk    *clock
	logs   *bytes.Buffer
	q      *queue.Disk
	deadID string
}

func newConsole(t *testing.T, tok string) *consoleFixture {
	t.Helper()
	q, deadID := deadQueue(t)
	clk := newClock()
	rec := NewRecorder(RecorderConfig{Now: clk.Now})
	logs := &bytes.Buffer{}
	h := New(Config{Queue: q, Token: tok, Events: rec, Now: clk.Now, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	return &consoleFixture{h: h, rec: rec, clk: clk, logs: logs, q: q, deadID: deadID}
}

// do sends a request to the console's host, with the options set.
func (f *consoleFixture) do(t *testing.T, method, path string, opts ...func(*http.Request)) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader
	req := httptest.NewRequest(method, "http://127.0.0.1:9090"+path, body)
	for _, o := range opts {
		o(req)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

func withBearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func withCookie(c *http.Cookie) func(*http.Request) { return func(r *http.Request) { r.AddCookie(c) } }

func withConsoleHeader(r *http.Request) { r.Header.Set(ConsoleHeader, "1") }

func withForm(v url.Values) func(*http.Request) {
	return func(r *http.Request) {
		b := v.Encode()
		r.Body = io.NopCloser(strings.NewReader(b))
		r.ContentLength = int64(len(b))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
}

func withHeader(k, v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set(k, v) } }

// login posts the token as the login page's script does and returns the
// cookie.
func (f *consoleFixture) login(t *testing.T, tok string) *http.Cookie {
	t.Helper()
	rec := f.do(t, "POST", "/login", withForm(url.Values{"token": {tok}}), withConsoleHeader)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	t.Fatal("login set no cookie")
	return nil
}

func TestConsoleLoginCookie(t *testing.T) {
	f := newConsole(t, token)
	rec := f.do(t, "POST", "/login", withForm(url.Values{"token": {token}}), withConsoleHeader)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	c := cookies[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure || c.MaxAge <= 0 {
		t.Fatalf("cookie attributes %+v", c)
	}
	if strings.Contains(c.Value, token) || c.Value == "" || len(c.Value) < 40 {
		t.Fatalf("cookie value %q: must be a random session id, not the token", c.Value)
	}
	if !strings.Contains(f.logs.String(), "console: logged in") {
		t.Fatalf("log: %s", f.logs)
	}

	// Over TLS the cookie is Secure.
	rec = f.do(t, "POST", "/login", withForm(url.Values{"token": {token}}), withConsoleHeader,
		func(r *http.Request) { r.TLS = &tls.ConnectionState{} })
	if cs := rec.Result().Cookies(); len(cs) != 1 || !cs[0].Secure {
		t.Fatalf("over TLS: %v", cs)
	}

	// The cookie opens the page and the API.
	for _, p := range []string{"/", "/console/api/summary", "/console/api/events", "/queue", "/queue/dead"} {
		if rec := f.do(t, "GET", p, withCookie(c)); rec.Code != 200 {
			t.Errorf("GET %s with the cookie: %d %s", p, rec.Code, rec.Body)
		}
	}
	// A change with the cookie needs the console's header.
	if rec := f.do(t, "POST", "/queue/dead/"+f.deadID+"/replay", withCookie(c)); rec.Code != http.StatusForbidden {
		t.Fatalf("replay with the cookie, no header (CSRF): %d %s", rec.Code, rec.Body)
	}
	if rec := f.do(t, "DELETE", "/queue/dead/"+f.deadID, withCookie(c)); rec.Code != http.StatusForbidden {
		t.Fatalf("drop with the cookie, no header (CSRF): %d %s", rec.Code, rec.Body)
	}
	if st, _ := f.q.Stats(context.Background()); st[0].Dead != 1 {
		t.Fatal("a request refused as CSRF changed the queue")
	}
	if rec := f.do(t, "POST", "/queue/dead/"+f.deadID+"/replay", withCookie(c), withConsoleHeader); rec.Code != 200 {
		t.Fatalf("replay with the cookie and the header: %d %s", rec.Code, rec.Body)
	}

	// Logout ends the session on the server, not only in the browser.
	if rec := f.do(t, "POST", "/logout", withCookie(c)); rec.Code != http.StatusForbidden {
		t.Fatalf("logout without the header: %d", rec.Code)
	}
	rec = f.do(t, "POST", "/logout", withCookie(c), withConsoleHeader)
	if rec.Code != http.StatusNoContent || len(rec.Result().Cookies()) != 1 || rec.Result().Cookies()[0].MaxAge >= 0 {
		t.Fatalf("logout: %d %v", rec.Code, rec.Result().Cookies())
	}
	if rec := f.do(t, "GET", "/console/api/summary", withCookie(c)); rec.Code != http.StatusUnauthorized {
		t.Fatalf("the cookie after logout: %d", rec.Code)
	}
}

func TestConsoleRefusals(t *testing.T) {
	f := newConsole(t, token)
	good := f.login(t, token)
	cases := []struct {
		name   string
		method string
		path   string
		opts   []func(*http.Request)
		want   int
	}{
		{"wrong token at login", "POST", "/login", []func(*http.Request){withForm(url.Values{"token": {"wrong-token-0123456789"}}), withConsoleHeader}, 401},
		{"empty token at login", "POST", "/login", []func(*http.Request){withForm(url.Values{"token": {""}}), withConsoleHeader}, 401},
		{"login from a plain form (no header)", "POST", "/login", []func(*http.Request){withForm(url.Values{"token": {token}})}, 403},
		{"login from another site", "POST", "/login", []func(*http.Request){withForm(url.Values{"token": {token}}), withConsoleHeader,
			withHeader("Origin", "https://evil.example")}, 403},
		{"API without anything", "GET", "/console/api/summary", nil, 401},
		{"API with a forged cookie", "GET", "/console/api/events", []func(*http.Request){withCookie(&http.Cookie{Name: sessionCookie, Value: "forged"})}, 401},
		{"API with the token as the cookie", "GET", "/console/api/events", []func(*http.Request){withCookie(&http.Cookie{Name: sessionCookie, Value: token})}, 401},
		{"API with a wrong bearer", "GET", "/console/api/summary", []func(*http.Request){withBearer("wrong-token-0123456789")}, 401},
		{"replay from another site with the cookie and header", "POST", "/queue/dead/x/replay",
			[]func(*http.Request){withCookie(good), withConsoleHeader, withHeader("Sec-Fetch-Site", "cross-site")}, 403},
		{"replay from another origin", "POST", "/queue/dead/x/replay",
			[]func(*http.Request){withCookie(good), withConsoleHeader, withHeader("Origin", "http://127.0.0.1:8080")}, 403},
		{"replay with the cookie only", "POST", "/queue/dead/all/replay?route=/livekit", []func(*http.Request){withCookie(good)}, 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := f.do(t, c.method, c.path, c.opts...)
			if rec.Code != c.want {
				t.Fatalf("%d, want %d: %s", rec.Code, c.want, rec.Body)
			}
			for _, ck := range rec.Result().Cookies() {
				if ck.Name == sessionCookie && ck.Value != "" {
					t.Fatal("a refused request got a session")
				}
			}
		})
	}
	if st, _ := f.q.Stats(context.Background()); st[0].Dead != 1 {
		t.Fatal("a refused request changed the queue")
	}
	if !strings.Contains(f.logs.String(), "login refused") || strings.Contains(f.logs.String(), "wrong-token-0123456789") {
		t.Fatalf("the refused login must be logged, without the token: %s", f.logs)
	}

	// The page sends people to the login form; the form itself is open.
	rec := f.do(t, "GET", "/")
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login" {
		t.Fatalf("GET / without login: %d %v", rec.Code, rec.Header())
	}
	if rec := f.do(t, "GET", "/login"); rec.Code != 200 || !strings.Contains(rec.Body.String(), `name="token"`) {
		t.Fatalf("GET /login: %d", rec.Code)
	}
	// The bearer token still works for the API, and needs no header.
	if rec := f.do(t, "POST", "/queue/dead/"+f.deadID+"/replay", withBearer(token)); rec.Code != 200 {
		t.Fatalf("replay with the bearer token: %d %s", rec.Code, rec.Body)
	}
}

func TestConsoleSessionExpires(t *testing.T) {
	f := newConsole(t, token)
	c := f.login(t, token)
	f.clk.Add(sessionTTL - time.Minute)
	if rec := f.do(t, "GET", "/console/api/summary", withCookie(c)); rec.Code != 200 {
		t.Fatalf("before expiry: %d", rec.Code)
	}
	f.clk.Add(2 * time.Minute)
	if rec := f.do(t, "GET", "/console/api/summary", withCookie(c)); rec.Code != http.StatusUnauthorized {
		t.Fatalf("after expiry: %d", rec.Code)
	}
}

// Without a token the console is open, on loopback host names only: a page
// whose name resolves to 127.0.0.1 (DNS rebinding) gets nothing.
func TestConsoleWithoutToken(t *testing.T) {
	f := newConsole(t, "")
	for _, host := range []string{"127.0.0.1:9090", "localhost:9090", "[::1]:9090"} {
		req := httptest.NewRequest("GET", "http://"+host+"/console/api/summary", nil)
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Errorf("%s: %d", host, rec.Code)
		}
	}
	for _, p := range []string{"/", "/console/api/events", "/queue/dead"} {
		req := httptest.NewRequest("GET", "http://rebind.example:9090"+p, nil)
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden {
			t.Errorf("%s by another host name: %d", p, rec.Code)
		}
	}
	// A cross-site form post is refused, the CLI's post is not.
	if rec := f.do(t, "POST", "/queue/dead/"+f.deadID+"/replay", withHeader("Sec-Fetch-Site", "cross-site")); rec.Code != http.StatusForbidden {
		t.Fatalf("cross-site replay: %d", rec.Code)
	}
	if rec := f.do(t, "POST", "/queue/dead/"+f.deadID+"/replay"); rec.Code != 200 {
		t.Fatalf("the CLI's replay: %d %s", rec.Code, rec.Body)
	}
	if rec := f.do(t, "POST", "/login", withForm(url.Values{"token": {"x"}}), withConsoleHeader); rec.Code != http.StatusNotFound {
		t.Fatalf("login without a token configured: %d", rec.Code)
	}
}

func TestConsolePage(t *testing.T) {
	f := newConsole(t, token)
	c := f.login(t, token)
	rec := f.do(t, "GET", "/", withCookie(c))
	csp := rec.Header().Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("CSP allows unsafe sources: %q", csp)
	}
	page := rec.Body.String()
	if !strings.Contains(page, `name="viewport"`) || !strings.Contains(page, `/console/static/console.js`) {
		t.Fatal("page lacks the viewport or its script")
	}
	// No inline script or style, no resource from elsewhere.
	if regexp.MustCompile(`<script>|<script [^>]*>[^<]|<style|style=|\son[a-z]+=`).MatchString(page) {
		t.Fatal("inline script or style in the page")
	}
	if regexp.MustCompile(`(src|href)="(https?:)?//`).MatchString(page) {
		t.Fatal("the page loads something from another host")
	}
	for _, p := range []string{"/console/static/console.js", "/console/static/console.css", "/console/static/login.js", "/console/static/favicon.svg"} {
		if rec := f.do(t, "GET", p); rec.Code != 200 || rec.Body.Len() == 0 {
			t.Errorf("GET %s: %d", p, rec.Code)
		}
	}
	if rec := f.do(t, "GET", "/console/static/"); rec.Code == 200 {
		t.Error("the static directory is listed")
	}
}

// The page's scripts never parse data as HTML: they set text. This is
// what keeps a sender's event id such as <img src=x onerror=...> inert
// (interop's browser test checks it in Chromium).
func TestConsoleScriptsSetTextOnly(t *testing.T) {
	static, _ := fs.Sub(consoleFiles, "console")
	for _, name := range []string{"console.js", "login.js"} {
		b, err := fs.ReadFile(static, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
			if bytes.Contains(b, []byte(bad)) {
				t.Errorf("%s uses %s", name, bad)
			}
		}
	}
}

// An event id as a sender may send it reaches the page as escaped JSON.
func TestConsoleAPIEscapesSenderText(t *testing.T) {
	f := newConsole(t, token)
	f.rec.Observe(proxy.Report{Route: "/livekit", Provider: "livekit", EventID: xssID, Type: `"><script>alert(2)</script>`,
		Outcome: proxy.OutcomeForwarded, Status: 200, Start: f.clk.Now()})
	rec := f.do(t, "GET", "/console/api/events", withBearer(token))
	body := rec.Body.String()
	if strings.Contains(body, "<img") || strings.Contains(body, "<script") {
		t.Fatalf("raw markup in the JSON: %s", body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("headers %v", rec.Header())
	}
	var list EventList
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list.Events) != 1 || list.Events[0].EventID != xssID {
		t.Fatalf("decoded %+v %v", list, err)
	}
}

func TestConsoleAPIShapes(t *testing.T) {
	f := newConsole(t, token)
	at := f.clk.Now()
	f.rec.Observe(proxy.Report{Route: "/livekit", Provider: "livekit", EventID: "EV_1", Type: "room_started",
		Outcome: proxy.OutcomeForwarded, Status: 200, UpstreamStatus: 200, Start: at, Duration: 2 * time.Millisecond})
	f.rec.Observe(proxy.Report{Route: "/livekit", Provider: "livekit", EventID: "EV_2", Outcome: proxy.OutcomeRejected,
		Reason: proxy.ReasonSignatureMismatch, Status: 401, Start: at})

	var sum map[string]any
	rec := f.do(t, "GET", "/console/api/summary", withBearer(token))
	if err := json.Unmarshal(rec.Body.Bytes(), &sum); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"now", "since", "queue", "login", "kept", "last_seq", "routes", "chart"} {
		if _, ok := sum[k]; !ok {
			t.Errorf("summary lacks %q: %s", k, rec.Body)
		}
	}
	var s Summary
	json.Unmarshal(rec.Body.Bytes(), &s)
	if !s.Queue || !s.Login || s.Kept != 500 || s.LastSeq != 2 || len(s.Routes) != 1 ||
		s.Routes[0].Outcomes["rejected"] != 1 || s.Routes[0].Reasons["rejected"]["signature_mismatch"] != 1 ||
		len(s.Chart.Buckets) != chartBuckets || s.Chart.BucketSeconds != 30 {
		t.Fatalf("summary %+v", s)
	}

	rec = f.do(t, "GET", "/console/api/events?after=1", withBearer(token))
	var raw struct {
		LastSeq uint64           `json:"last_seq"`
		Events  []map[string]any `json:"events"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil || raw.LastSeq != 2 || len(raw.Events) != 1 {
		t.Fatalf("events after 1: %s", rec.Body)
	}
	want := []string{"seq", "time", "route", "provider", "event_id", "type", "outcome", "reason", "status", "upstream_status", "duration_ms"}
	if len(raw.Events[0]) != len(want) {
		t.Fatalf("event fields %v, want exactly %v", raw.Events[0], want)
	}
	for _, k := range want {
		if _, ok := raw.Events[0][k]; !ok {
			t.Errorf("event lacks %q", k)
		}
	}
	if raw.Events[0]["event_id"] != "EV_2" || raw.Events[0]["reason"] != "signature_mismatch" {
		t.Fatalf("event %v", raw.Events[0])
	}
	for _, bad := range []string{"/console/api/events?after=x", "/console/api/events?limit=-1"} {
		if rec := f.do(t, "GET", bad, withBearer(token)); rec.Code != 400 {
			t.Errorf("%s: %d", bad, rec.Code)
		}
	}
}

func TestNoConsoleWithoutRecorder(t *testing.T) {
	h := New(Config{Token: token})
	req := httptest.NewRequest("GET", "/console/api/summary", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 404 {
		t.Fatalf("%d", rec.Code)
	}
}
