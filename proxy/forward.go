package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
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

// answer is the app's complete response to one forwarded event.
type answer struct {
	status int
	header http.Header
	body   []byte
	err    *Error // non-nil: no answer from the app (502 or 504)
}

func (a *answer) ok() bool { return a.err == nil && a.status >= 200 && a.status < 300 }

// noUserAgent keeps the Transport from sending its own User-Agent when the
// sender sent none (as httputil.ReverseProxy does). Never modified.
var noUserAgent = []string{""}

// eventID is the provider's event id, or the derived dedupe key when the
// provider has none.
func eventID(ev *verify.Event) string {
	if ev.ID != "" {
		return ev.ID
	}
	return ev.Key
}

// forwardBody is the body sent to the app for one event.
func forwardBody(r *Route, ev *verify.Event, now func() time.Time) ([]byte, error) {
	if r.Forward.Format == FormatCloudEvents {
		return cloudEvent(r, ev, now())
	}
	return ev.Body, nil
}

// forward sends one verified event to the app and returns its answer.
// ctx is detached from the sender's connection (context.WithoutCancel):
// if the sender goes away, the app's answer is still recorded, so a retry
// is answered as a duplicate instead of being delivered twice.
//
// split says the event is one part of the request body (a batch item):
// the sender's signature does not cover it and is not forwarded.
func (h *Handler) forward(ctx context.Context, in *http.Request, r *Route, ev *verify.Event, split bool) *answer {
	body, err := forwardBody(r, ev, h.now)
	if err != nil {
		return &answer{status: http.StatusBadGateway, err: refusal(http.StatusBadGateway, ReasonUnreachable, err)}
	}
	header := normalizedHeader(in, r, ev, split || r.Forward.Format == FormatCloudEvents)
	return h.send(ctx, r, header, in.URL.RawQuery, body)
}

// send posts body with header (normalized; send owns it from now on) and
// the sender's rawQuery to r's upstream within r's timeout (and ctx), and
// returns the app's whole answer: through the direct client when the route
// has a directAddr (a plain-http upstream, no proxy), else straight to the
// Transport. The answer is read whole before anything is sent back, so a
// reset mid-answer is an upstream error and never half a 2xx, and a
// reverse proxy's streaming would go unused.
//
// The body goes out with Content-Length, never chunked (several app
// servers answer 411 to chunked requests), and without trailers.
func (h *Handler) send(ctx context.Context, r *Route, header http.Header, rawQuery string, body []byte) *answer {
	if key := r.Forward.SigningKey; key != nil {
		// Signed now, at sending: receivers refuse old timestamps, and a
		// queued event may be sent long after it arrived.
		now := h.now()
		id := header.Get(HeaderEventID)
		header.Set(verify.HeaderWebhookID, id)
		header.Set(verify.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
		header.Set(verify.HeaderWebhookSignature, verify.SignStandard(key, id, now, body))
	}
	if _, ok := header["User-Agent"]; !ok {
		header["User-Agent"] = noUserAgent
	}
	out := &http.Request{
		Method:        http.MethodPost,
		URL:           r.target(rawQuery),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header,
		ContentLength: int64(len(body)),
		Host:          r.Upstream.Host,
	}
	if r.directAddr != "" {
		// The route's timeout (or ctx's deadline, if sooner) is the
		// connection's deadline; a ctx that can end (a queue delivery's,
		// at shutdown) interrupts the exchange. A sync forward's ctx is
		// detached from the sender and never ends.
		deadline := time.Now().Add(r.Timeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		resp, answerBody, err := h.direct.doContext(ctx, r.directAddr, deadline, out, body)
		if err != nil {
			return failedAnswer(err)
		}
		return appAnswer(resp, answerBody)
	}
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	out = out.WithContext(ctx)
	if len(body) == 0 {
		// A zero ContentLength with a non-nil Body means "unknown" to the
		// Transport, which would send it chunked.
		out.Body = http.NoBody
		out.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
	} else {
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}

	resp, err := h.transport.RoundTrip(out)
	if err != nil {
		return failedAnswer(err)
	}
	answerBody, err := readAnswer(resp)
	if err != nil {
		return failedAnswer(err)
	}
	return appAnswer(resp, answerBody)
}

// appAnswer is the answer the app gave, read whole: its status and body,
// its header without those of one connection and without Content-Length
// (set again for what is sent back). A status outside 200-599 is no
// answer (502): net/http's reader takes any three digits, and a status
// below 100 could not even be written back.
func appAnswer(resp *http.Response, body []byte) *answer {
	if resp.StatusCode < 200 || resp.StatusCode > 599 {
		return failedAnswer(fmt.Errorf("%w: %d", errInvalidStatus, resp.StatusCode))
	}
	removeHopByHop(resp.Header)
	resp.Header.Del("Content-Length")
	return &answer{status: resp.StatusCode, header: resp.Header, body: body}
}

// failedAnswer is an answer the app did not give: 504 if it timed out,
// else 502, decided once by upstreamError.
func failedAnswer(err error) *answer {
	ue := upstreamError(err)
	return &answer{status: ue.Status, err: ue}
}

// readAnswer reads the app's whole answer, at most maxUpstreamResponse:
// into one buffer of its Content-Length when it gives one, else growing.
func readAnswer(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	if resp.ContentLength > maxUpstreamResponse {
		return nil, errResponseTooLarge
	}
	if resp.ContentLength >= 0 {
		// The Transport's body reader stops at Content-Length and reports
		// a shorter body as io.ErrUnexpectedEOF.
		buf, err := readExactly(resp.Body, resp.ContentLength)
		if err != nil {
			return nil, fmt.Errorf("reading upstream response: %w", err)
		}
		return buf, nil
	}
	w := bytes.NewBuffer(make([]byte, 0, 512))
	if _, err := w.ReadFrom(io.LimitReader(resp.Body, maxUpstreamResponse+1)); err != nil {
		return nil, fmt.Errorf("reading upstream response: %w", err)
	}
	if w.Len() > maxUpstreamResponse {
		return nil, errResponseTooLarge
	}
	return w.Bytes(), nil
}

// target is the upstream URL with the sender's query after the
// upstream's own.
func (r *Route) target(rawQuery string) *url.URL {
	if rawQuery == "" {
		return r.Upstream // the Transport does not change it
	}
	u := *r.Upstream
	if u.RawQuery == "" {
		u.RawQuery = rawQuery
	} else {
		u.RawQuery = u.RawQuery + "&" + rawQuery
	}
	return &u
}
