// Package proxy is hookguard's HTTP side: it routes webhooks, verifies them,
// drops duplicates and forwards verified events to the app.
package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hookguard/hookguard/dedupe"
	"github.com/hookguard/hookguard/queue"
	"github.com/hookguard/hookguard/verify"
)

// Store error policies: what to do when the dedupe store cannot be reached.
const (
	// OnStoreErrorForward forwards anyway: at-least-once, a duplicate is
	// better than a lost event.
	OnStoreErrorForward = "forward"
	// OnStoreErrorReject answers 503 so the sender retries later.
	OnStoreErrorReject = "reject"
)

// Config configures a Handler.
type Config struct {
	// Routes to serve. At least one; paths must be unique.
	Routes []Route
	// Store deduplicates the events of routes without a Store of their
	// own. Required unless every route has one.
	Store dedupe.Store
	// OnStoreError is OnStoreErrorForward (zero value) or OnStoreErrorReject.
	OnStoreError string
	// TrustedProxies are the peers whose X-Forwarded-For / Forwarded
	// headers are believed. Empty: none; the peer address is used.
	TrustedProxies []netip.Prefix
	// Transport reaches the apps. Nil: a clone of http.DefaultTransport.
	Transport http.RoundTripper
	// Logger receives one line per webhook. Nil: slog.Default().
	Logger *slog.Logger
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
	// Queue stores the events of routes with delivery: queue. Required
	// when a route has it.
	Queue queue.Enqueuer
	// Observer receives a Report per webhook event. Nil: none.
	Observer Observer
	// InFlightWait bounds how long a copy of an event waits for another
	// copy already being forwarded before answering 503. Zero: the route's
	// timeout plus one second.
	InFlightWait time.Duration
}

// Handler serves webhook routes. Create it with New.
type Handler struct {
	routes       map[string]*Route // by path
	byName       map[string]*Route
	queue        queue.Enqueuer
	onStoreError string
	trusted      []netip.Prefix
	log          *slog.Logger
	now          func() time.Time
	obs          Observer
	inFlightWait time.Duration
	transport    http.RoundTripper
	// direct sends to the routes with a directAddr; nil when Config.Transport
	// was given (every route then uses it).
	direct *directClient
	// locks serializes concurrent copies of one event on this instance.
	locks keyLocks
	// storeDownUntil (Unix ns), per store, skips a store after it failed.
	storeDownUntil map[dedupe.Store]*atomic.Int64
}

// New validates cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if len(cfg.Routes) == 0 {
		return nil, fmt.Errorf("%w: no routes", ErrInvalidRoute)
	}
	switch cfg.OnStoreError {
	case "":
		cfg.OnStoreError = OnStoreErrorForward
	case OnStoreErrorForward, OnStoreErrorReject:
	default:
		return nil, fmt.Errorf("proxy: on_store_error %q (want %s or %s)", cfg.OnStoreError, OnStoreErrorForward, OnStoreErrorReject)
	}
	h := &Handler{
		routes:         make(map[string]*Route, len(cfg.Routes)),
		byName:         make(map[string]*Route, len(cfg.Routes)),
		queue:          cfg.Queue,
		onStoreError:   cfg.OnStoreError,
		trusted:        cfg.TrustedProxies,
		log:            cfg.Logger,
		now:            cfg.Now,
		obs:            cfg.Observer,
		inFlightWait:   cfg.InFlightWait,
		storeDownUntil: make(map[dedupe.Store]*atomic.Int64),
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.obs == nil {
		h.obs = nopObserver{}
	}
	for i := range cfg.Routes {
		if err := cfg.Routes[i].validate(); err != nil {
			return nil, err
		}
		r := cfg.Routes[i].withDefaults()
		if r.Delivery == DeliveryQueue && cfg.Queue == nil {
			return nil, fmt.Errorf("%w %s: delivery queue without a queue", ErrInvalidRoute, r.Path)
		}
		if r.Store == nil {
			r.Store = cfg.Store
		}
		if r.Store == nil && r.Delivery == DeliverySync {
			return nil, fmt.Errorf("proxy: route %s: no dedupe store", r.Path)
		}
		if h.storeDownUntil[r.Store] == nil {
			h.storeDownUntil[r.Store] = new(atomic.Int64)
		}
		if _, dup := h.routes[r.Path]; dup {
			return nil, fmt.Errorf("%w: path %s used twice", ErrInvalidRoute, r.Path)
		}
		if _, dup := h.byName[r.Name]; dup {
			return nil, fmt.Errorf("%w: name %s used twice", ErrInvalidRoute, r.Name)
		}
		h.routes[r.Path] = &r
		h.byName[r.Name] = &r
	}
	transport := cfg.Transport
	if transport == nil {
		transport = defaultTransport()
		h.direct = newDirectClient(directConfig{MaxIdle: 64})
		for _, r := range h.routes {
			r.directAddr = directAddr(r.Upstream)
		}
	}
	h.transport = transport
	return h, nil
}

// directAddr is the host:port of a plain-http upstream that no proxy from
// the environment (HTTP_PROXY, NO_PROXY) applies to, for the directClient;
// "" for any other, which the Transport reaches.
func directAddr(u *url.URL) string {
	if u.Scheme != "http" || u.User != nil {
		return ""
	}
	if p, err := http.ProxyFromEnvironment(&http.Request{URL: u}); err != nil || p != nil {
		return ""
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// CloseIdleConnections closes the connections to the apps that no request
// uses now. Call it on a handler no longer served (after a reload): its
// requests in flight finish, then their connections are closed too.
func (h *Handler) CloseIdleConnections() {
	if h.direct != nil {
		h.direct.closeIdle()
	}
	if t, ok := h.transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

func defaultTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	t.ResponseHeaderTimeout = 0 // bounded by the route timeout instead
	return t
}

// IsWebhookPath reports whether path is one of the routes.
func (h *Handler) IsWebhookPath(path string) bool {
	_, ok := h.routes[path]
	return ok
}

// Routes returns the routes served, with defaults applied, by path.
func (h *Handler) Routes() []Route {
	out := make([]Route, 0, len(h.routes))
	for _, r := range h.routes {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// MaxTimeout is the longest route timeout, for sizing server timeouts.
func (h *Handler) MaxTimeout() time.Duration {
	var m time.Duration
	for _, r := range h.routes {
		m = max(m, r.Timeout)
	}
	return m
}

// ServeHTTP runs DESIGN steps 2 to 7 for one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	start := h.now()
	rep := Report{Start: start, Remote: peerAddr(req.RemoteAddr)}
	route, ok := h.routes[req.URL.Path]
	if !ok {
		h.reject(w, &rep, refusal(http.StatusNotFound, ReasonNotFound, nil))
		return
	}
	rep.Route, rep.Provider = route.Name, route.Provider
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.reject(w, &rep, refusal(http.StatusMethodNotAllowed, ReasonMethod, nil))
		return
	}
	rep.Remote = clientIP(req, h.trusted)
	if !route.allowed(rep.Remote) {
		h.reject(w, &rep, refusal(http.StatusForbidden, ReasonForbidden, nil))
		return
	}
	body, err := readBody(w, req, route.MaxBody)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.reject(w, &rep, refusal(http.StatusRequestEntityTooLarge, ReasonTooLarge, nil))
			return
		}
		h.reject(w, &rep, refusal(http.StatusBadRequest, ReasonBadBody, err))
		return
	}
	query, err := strictQuery(req.URL.RawQuery, route.reservedQuery)
	if err != nil {
		h.reject(w, &rep, refusal(http.StatusBadRequest, ReasonMalformedQuery, err))
		return
	}
	vstart := h.now()
	vreq := &verify.Request{Header: req.Header, Query: query, Body: body}
	if route.signsURL {
		vreq.URL = h.requestURL(req)
	}
	events, err := route.Verifier.Verify(vreq)
	rep.Verify = h.now().Sub(vstart)
	if err != nil {
		h.reject(w, &rep, err)
		return
	}
	if len(events) == 1 && events[0].Challenge != nil {
		h.answerChallenge(w, &rep, &events[0])
		return
	}
	if len(events) == 1 {
		res := h.deliver(req, route, &events[0], !bytes.Equal(events[0].Body, body), rep)
		h.writeResult(w, route, res)
		return
	}
	h.deliverBatch(w, req, route, events, rep)
}

// readBody reads the request's whole body, at most max bytes: into one
// buffer of its Content-Length when it gives one within max, else through
// http.MaxBytesReader (which answers a larger body with
// *http.MaxBytesError and has the server close the connection).
func readBody(w http.ResponseWriter, req *http.Request, max int64) ([]byte, error) {
	n := req.ContentLength
	if n < 0 || n > max {
		return io.ReadAll(http.MaxBytesReader(w, req.Body, max))
	}
	return readExactly(req.Body, n)
}

// readExactly reads the n bytes a body announced into one buffer; a
// shorter body is io.ErrUnexpectedEOF, also when it is empty.
func readExactly(r io.Reader, n int64) ([]byte, error) {
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// requestURL is the URL the sender called, for verifiers that sign it
// (verify.Request.URL): the scheme and Host as received, or the first
// X-Forwarded-Proto and X-Forwarded-Host when the peer is a trusted
// proxy, then the request target as it came on the request line.
func (h *Handler) requestURL(req *http.Request) string {
	scheme, host := "http", req.Host
	if req.TLS != nil {
		scheme = "https"
	}
	if isTrusted(peerAddr(req.RemoteAddr), h.trusted) {
		proto, _, _ := strings.Cut(req.Header.Get("X-Forwarded-Proto"), ",")
		if p := strings.ToLower(strings.TrimSpace(proto)); p == "http" || p == "https" {
			scheme = p
		}
		fh, _, _ := strings.Cut(req.Header.Get("X-Forwarded-Host"), ",")
		if fh = strings.TrimSpace(fh); fh != "" {
			host = fh
		}
	}
	target := req.RequestURI
	if !strings.HasPrefix(target, "/") {
		target = req.URL.RequestURI()
	}
	return scheme + "://" + host + target
}

// answerChallenge answers a verified endpoint validation (Zoom
// endpoint.url_validation, Slack url_verification) itself: 200 with the
// verifier's answer. It is never forwarded and never claimed in the dedupe
// store, so that every re-validation gets its answer.
func (h *Handler) answerChallenge(w http.ResponseWriter, rep *Report, ev *verify.Event) {
	rep.Type = ev.Type
	rep.Outcome, rep.Status = OutcomeChallenge, http.StatusOK
	rep.Duration = h.now().Sub(rep.Start)
	h.report(rep, nil)
	w.Header().Set("Content-Type", ev.Challenge.ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(ev.Challenge.Body)))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	w.Write(ev.Challenge.Body)
}

// reject answers a request refused before any event was delivered, with
// the status and reason statusOf gives err.
func (h *Handler) reject(w http.ResponseWriter, rep *Report, err error) {
	status, reason := statusOf(err)
	rep.Outcome, rep.Reason, rep.Status = OutcomeRejected, reason, status
	rep.Duration = h.now().Sub(rep.Start)
	h.report(rep, err)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintf(w, "hookguard: %s\n", reason)
}

// report logs one line and tells the observer. err is logged as the detail
// of the reason; verifier and upstream errors never contain secrets.
//
// The line goes straight to the logger's handler: slog.Logger would also
// walk the stack for a source location that is never logged.
func (h *Handler) report(rep *Report, err error) {
	h.obs.Observe(*rep)
	level := slog.LevelInfo
	switch rep.Outcome {
	case OutcomeRejected, OutcomeUpstreamError, OutcomeBusy:
		level = slog.LevelWarn
	}
	ctx := context.Background()
	lh := h.log.Handler()
	if !lh.Enabled(ctx, level) {
		return
	}
	var buf [11]slog.Attr
	attrs := append(buf[:0],
		slog.String("route", rep.Route),
		slog.String("provider", rep.Provider),
		slog.String("outcome", rep.Outcome),
	)
	if rep.EventID != "" {
		attrs = append(attrs, slog.String("event_id", rep.EventID))
	}
	if rep.Type != "" {
		attrs = append(attrs, slog.String("type", rep.Type))
	}
	if rep.Reason != "" {
		attrs = append(attrs, slog.String("reason", rep.Reason))
	}
	if e, ok := err.(*Error); ok {
		err = e.Err // the reason is logged already
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	if rep.UpstreamStatus != 0 {
		attrs = append(attrs, slog.Int("upstream_status", rep.UpstreamStatus))
	}
	attrs = append(attrs,
		slog.Int("status", rep.Status),
		slog.String("remote", addrString(rep.Remote)),
		slog.Float64("duration_ms", float64(rep.Duration.Microseconds())/1000),
	)
	rec := slog.NewRecord(rep.Start.Add(rep.Duration), level, "webhook", 0) // when it was answered
	rec.AddAttrs(attrs...)
	lh.Handle(ctx, rec)
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

var _ http.Handler = (*Handler)(nil)
