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
	"net/url"
	"strconv"
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
	// HeaderQueueID, on the answer to the sender of a queued event, is the
	// event's id in the queue (for `hookguard queue` and the console).
	HeaderQueueID = "X-Hookguard-Queue-Id"
)

// maxUpstreamResponse bounds the app's answer kept in memory. A larger
// answer counts as an upstream error.
const maxUpstreamResponse = 1 << 20

var errResponseTooLarge = errors.New("upstream response larger than 1 MiB")

// forwardState travels with one outgoing request through the ReverseProxy
// hooks, and records what happened.
type forwardState struct {
	route    *Route
	now      time.Time
	header   http.Header // the normalized header (normalizedHeader)
	rawQuery string      // the sender's query, after the upstream's
	body     []byte      // what is sent to the app
	err      *Error      // set by the ErrorHandler: the app was not reached or answered badly
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

// rewrite points the outgoing request at the route's upstream with the
// normalized header prepared for it, and signs it when the route re-signs.
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
		out.URL.RawQuery = st.rawQuery
	case st.rawQuery == "":
		out.URL.RawQuery = up.RawQuery
	default:
		out.URL.RawQuery = up.RawQuery + "&" + st.rawQuery
	}
	out.Host = ""
	out.Header = st.header
	if key := st.route.Forward.SigningKey; key != nil {
		// Signed now, at sending: receivers refuse old timestamps, and a
		// queued event may be sent long after it arrived.
		id := st.header.Get(HeaderEventID)
		st.header.Set(verify.HeaderWebhookID, id)
		st.header.Set(verify.HeaderWebhookTimestamp, strconv.FormatInt(st.now.Unix(), 10))
		st.header.Set(verify.HeaderWebhookSignature, verify.SignStandard(key, id, st.now, st.body))
	}
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
	header := normalizedHeader(in, r, ev, split || r.Forward.Format == FormatCloudEvents)
	return h.send(context.WithoutCancel(ctx), r, header, in.URL.RawQuery, body)
}

// send posts body with header (normalized) and the sender's rawQuery to
// r's upstream within r's timeout (and ctx), and returns the app's whole
// answer.
func (h *Handler) send(ctx context.Context, r *Route, header http.Header, rawQuery string, body []byte) *answer {
	st := &forwardState{route: r, now: h.now(), header: header, rawQuery: rawQuery, body: body}
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	ctx = context.WithValue(ctx, forwardStateKey{}, st)

	// The body is buffered: it goes out with Content-Length, never chunked
	// (several app servers answer 411 to chunked requests), and no
	// trailers (the sender's would arrive after the verification and could
	// carry any header).
	out := &http.Request{
		Method:     http.MethodPost,
		URL:        &url.URL{Path: r.Path},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     header,
		Host:       r.Upstream.Host,
	}
	out = out.WithContext(ctx)
	out.ContentLength = int64(len(body))
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
