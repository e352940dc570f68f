package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookguard/hookguard/verify"
)

// Headers hookguard adds to every forwarded request. Incoming copies of any
// X-Hookguard-* header are removed first, so a sender cannot spoof them.
const (
	HeaderPrefix    = "X-Hookguard-"
	HeaderProvider  = "X-Hookguard-Provider"
	HeaderRoute     = "X-Hookguard-Route"
	HeaderEventID   = "X-Hookguard-Event-Id"
	HeaderEventType = "X-Hookguard-Event-Type"
	HeaderEventTime = "X-Hookguard-Event-Time"
	HeaderKeyID     = "X-Hookguard-Key-Id"
)

// maxUpstreamResponse bounds the app's answer kept in memory. A larger
// answer counts as an upstream error.
const maxUpstreamResponse = 1 << 20

var errResponseTooLarge = errors.New("upstream response larger than 1 MiB")

// forwardState travels with one outgoing request through the ReverseProxy
// hooks, and records what happened.
type forwardState struct {
	route *Route
	event *verify.Event
	now   time.Time
	body  []byte // what is sent to the app
	// resigned: body is not the sender's signed body, so the sender's
	// signature headers are dropped.
	resigned bool
	err      *Error // set by the ErrorHandler: the app was not reached or answered badly
}

type forwardStateKey struct{}

// answer is the app's complete response to one forwarded event.
type answer struct {
	status int
	header http.Header
	body   []byte
	err    *Error // non-nil: no answer from the app (502 or 504)
}

func (a *answer) ok() bool { return a.err == nil && a.status >= 200 && a.status < 300 }

// newReverseProxy builds the ReverseProxy shared by all routes. Its hooks
// read the route and event from the request context.
func newReverseProxy(transport http.RoundTripper, errorLog *log.Logger) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite:   rewrite,
		Transport: transport,
		// Responses are buffered by ModifyResponse; nothing to flush.
		FlushInterval: 0,
		ModifyResponse: func(res *http.Response) error {
			// Read the whole answer now, so a reset mid-response is an
			// upstream error and not a half-copied 2xx.
			body, err := io.ReadAll(io.LimitReader(res.Body, maxUpstreamResponse+1))
			res.Body.Close()
			if err != nil {
				return fmt.Errorf("reading upstream response: %w", err)
			}
			if len(body) > maxUpstreamResponse {
				return errResponseTooLarge
			}
			res.Body = io.NopCloser(bytes.NewReader(body))
			res.ContentLength = int64(len(body))
			res.Header.Del("Content-Length")
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// 502 or 504 is decided here, once.
			ue := upstreamError(err)
			st, _ := r.Context().Value(forwardStateKey{}).(*forwardState)
			if st != nil {
				st.err = ue
			}
			w.WriteHeader(ue.Status)
		},
		ErrorLog:   errorLog,
		BufferPool: newBufferPool(),
	}
}

// rewrite points the outgoing request at the route's upstream and sets
// hookguard's headers.
func rewrite(pr *httputil.ProxyRequest) {
	st := pr.In.Context().Value(forwardStateKey{}).(*forwardState)
	up := st.route.Upstream
	out := pr.Out
	out.URL.Scheme = up.Scheme
	out.URL.Host = up.Host
	out.URL.Path = up.Path
	out.URL.RawPath = up.RawPath
	switch {
	case up.RawQuery == "":
		out.URL.RawQuery = pr.In.URL.RawQuery
	case pr.In.URL.RawQuery == "":
		out.URL.RawQuery = up.RawQuery
	default:
		out.URL.RawQuery = up.RawQuery + "&" + pr.In.URL.RawQuery
	}
	out.Host = ""
	pr.SetXForwarded()

	h := out.Header
	resign := st.route.Forward.SigningKey != nil
	for k := range h {
		if droppedIncoming(k, resign) {
			delete(h, k)
		}
	}
	if st.resigned {
		for _, k := range st.route.signatureHeaders {
			h.Del(k)
		}
	}
	ev := st.event
	h.Set(HeaderProvider, ev.Provider)
	h.Set(HeaderRoute, st.route.Name)
	h.Set(HeaderEventID, eventID(ev))
	if ev.Type != "" {
		h.Set(HeaderEventType, ev.Type)
	}
	if !ev.Time.IsZero() {
		h.Set(HeaderEventTime, ev.Time.UTC().Format(time.RFC3339Nano))
	}
	if ev.KeyID != "" {
		h.Set(HeaderKeyID, ev.KeyID)
	}
	if st.route.Forward.Format == FormatCloudEvents {
		h.Set("Content-Type", cloudEventsContentType)
	}
	if key := st.route.Forward.SigningKey; key != nil {
		// hookguard's signature replaces the sender's Standard Webhooks
		// headers (every webhook-* and svix-* was dropped above), so the
		// app sees one signature.
		id := eventID(ev)
		h.Set(verify.HeaderWebhookID, id)
		h.Set(verify.HeaderWebhookTimestamp, strconv.FormatInt(st.now.Unix(), 10))
		h.Set(verify.HeaderWebhookSignature, verify.SignStandard(key, id, st.now, st.body))
	}
}

// droppedIncoming reports whether an incoming header named name is removed
// before forwarding:
//   - any name with "_": CGI, WSGI, Rack and PHP read "_" as "-", so
//     X_Hookguard_Key_Id or X_Forwarded_For would merge with the header
//     hookguard sets (nginx drops them by default too);
//   - X-Hookguard-*, in any letter case: hookguard owns those names;
//   - on a re-signing route, every webhook-* and svix-* header, so the app
//     sees only hookguard's signature.
func droppedIncoming(name string, resign bool) bool {
	if strings.IndexByte(name, '_') >= 0 {
		return true
	}
	return hasPrefixFold(name, HeaderPrefix) ||
		(resign && (hasPrefixFold(name, "Webhook-") || hasPrefixFold(name, "Svix-")))
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// eventID is the provider's event id, or the derived dedupe key when the
// provider has none.
func eventID(ev *verify.Event) string {
	if ev.ID != "" {
		return ev.ID
	}
	return ev.Key
}

// forwardBody is the body sent to the app for one event.
func forwardBody(r *Route, ev *verify.Event, now time.Time) ([]byte, error) {
	if r.Forward.Format == FormatCloudEvents {
		return cloudEvent(r, ev, now)
	}
	return ev.Body, nil
}

// forward sends one verified event to the app and returns its answer.
// The outgoing request is detached from the sender's connection: if the
// sender goes away, the app's answer is still recorded, so a retry is
// answered as a duplicate instead of being delivered twice.
//
// split says the event is one part of the request body (a batch item):
// the sender's signature does not cover it and is not forwarded.
func (h *Handler) forward(ctx context.Context, in *http.Request, r *Route, ev *verify.Event, split bool) *answer {
	now := h.now()
	body, err := forwardBody(r, ev, now)
	if err != nil {
		return &answer{status: http.StatusBadGateway, err: refusal(http.StatusBadGateway, ReasonUnreachable, err)}
	}
	st := &forwardState{route: r, event: ev, now: now, body: body, resigned: split || r.Forward.Format == FormatCloudEvents}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.Timeout)
	defer cancel()
	ctx = context.WithValue(ctx, forwardStateKey{}, st)

	out := in.Clone(ctx)
	// The body is buffered: it goes out with Content-Length, never chunked
	// (several app servers answer 411 to chunked requests), and the
	// sender's trailers are dropped (they would arrive after the
	// verification and could carry any header).
	out.TransferEncoding = nil
	out.Trailer = nil
	out.ContentLength = int64(len(body))
	out.Header.Del("Content-Length")
	if len(body) == 0 {
		// A zero ContentLength with a non-nil Body means "unknown" to the
		// Transport, which would send it chunked.
		out.Body = http.NoBody
		out.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
	} else {
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}

	rec := &recorder{header: make(http.Header)}
	h.rp.ServeHTTP(rec, out)
	a := &answer{status: rec.status, header: rec.header, body: rec.body.Bytes(), err: st.err}
	if a.status == 0 {
		a.status = http.StatusOK
	}
	return a
}

// recorder is the ResponseWriter the ReverseProxy writes the app's answer to.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(p)
}

// bufferPool reuses the ReverseProxy's copy buffers instead of allocating
// 32 KiB per forward.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (bp *bufferPool) Get() []byte  { return *bp.p.Get().(*[]byte) }
func (bp *bufferPool) Put(b []byte) { bp.p.Put(&b) }
