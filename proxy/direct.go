package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Limits and defaults of the direct client.
const (
	directBufferSize         = 4 << 10 // each of a connection's bufio.Reader and bufio.Writer
	directMaxInformational   = 8       // 1xx answers skipped before the final one
	directDefaultMaxIdle     = 64
	directDefaultIdleTimeout = 90 * time.Second
	// directPeekAfter is how long a connection sits idle before it is
	// checked (idleUnusable) ahead of its next request.
	directPeekAfter = time.Second
	// maxUpstreamHeader bounds the bytes read from the connection until
	// the header of the final answer is read, 1xx answers included.
	maxUpstreamHeader = 1 << 20
)

var (
	errInvalidMethod        = errors.New("invalid method")
	errInvalidHeaderName    = errors.New("invalid header name")
	errInvalidHeaderValue   = errors.New("invalid header value")
	errTooManyInformational = errors.New("more than 8 informational (1xx) answers")
	errUnexpectedSwitch     = errors.New("unexpected 101 Switching Protocols")
	errInvalidStatus        = errors.New("answer status outside 200-599")
	errUpstreamHeader       = errors.New("upstream response header larger than 1 MiB")
	errCancelled            = errors.New("request cancelled")
	errIdleUnusable         = errors.New("idle connection closed by the app, or holding bytes nobody asked for")
)

// directClient is a synchronous HTTP/1.1 client for plain-http upstreams
// reached without a proxy. The app's answer is read whole before hookguard
// replies anyway, so the client writes the request and reads the answer on
// a pooled keep-alive connection in the calling goroutine: no goroutine per
// connection or per request, no channel hand-offs, and the deadline is the
// connection's own (no context or timer per request; only a dial gets a
// context). Everything else (https, a proxy from the environment) keeps
// http.Transport.
//
// Its rules:
//
//   - The request is written by writeRequest as Request.Write would write
//     it, always with a Content-Length (never chunked, no trailers), in one
//     flush. A method or header name
//     that is not a token and a header value with a control character
//     other than HTAB are refused before anything is sent, as
//     http.Transport refuses them.
//
//   - One deadline covers the dial, the write and the read. A timeout is an
//     error whose net.Error Timeout() is true.
//
//   - 1xx answers are skipped, at most 8; a 101 is an error (no upgrade is
//     ever asked for), and so is a final status outside 200-599. The
//     header, 1xx answers included, is read within maxUpstreamHeader bytes
//     and the body by readAnswer, within maxUpstreamResponse; the rest of a
//     body too large is not read, the connection is closed.
//
//   - A connection goes back to the pool (per address, most recently used
//     first, at most MaxIdle) only after an answer read whole, when neither
//     side asked to close and nothing follows the answer in the buffer. An
//     idle connection older than IdleTimeout is closed, not reused.
//
//   - An app may close an idle connection just as it is reused; http.Transport
//     sees that with its background read, this client cannot. So a request
//     on a reused connection whose write fails, or whose answer fails with
//     EOF, ECONNRESET or EPIPE before any byte of it arrived, is sent again
//     once on a newly dialed connection, if the deadline has not passed. A
//     new connection, a timeout, or an answer already begun is never
//     retried. The retry is safe for hookguard because delivery is
//     at-least-once anyway: the alternative, a 502, makes the sender retry
//     the same event, and the app may have received it either way.
//
//   - A connection idle for directPeekAfter or longer is peeked at before
//     it carries a request (idleUnusable, one non-blocking recv): closed,
//     reset, or holding bytes nobody asked for (an unsolicited 408) and it
//     is replaced by a new one, before anything is written. Connections
//     reused sooner, as under load, are not peeked at: a close that races
//     with the request is found by the retry above.
//
// It is safe for concurrent use; a connection is used by one goroutine at a
// time.
type directClient struct {
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	maxIdle     int
	idleTimeout time.Duration
	now         func() time.Time

	mu   sync.Mutex
	idle map[string][]*directConn // by address, most recently used last
	gen  uint64                   // bumped by closeIdle; a connection from before is not pooled again
}

// directConfig configures a directClient; the zero value is ready to use.
type directConfig struct {
	Dial        func(ctx context.Context, network, addr string) (net.Conn, error) // nil: (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	MaxIdle     int                                                               // idle connections kept per address; 0: 64
	IdleTimeout time.Duration                                                     // an idle connection older than this is closed, not reused; 0: 90s
	Now         func() time.Time                                                  // nil: time.Now (used for idle ages; deadlines use real time)
}

// newDirectClient returns a client configured by cfg, defaults filled in.
func newDirectClient(cfg directConfig) *directClient {
	c := &directClient{
		dial:        cfg.Dial,
		maxIdle:     cfg.MaxIdle,
		idleTimeout: cfg.IdleTimeout,
		now:         cfg.Now,
		idle:        make(map[string][]*directConn),
	}
	if c.dial == nil {
		c.dial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	if c.maxIdle <= 0 {
		c.maxIdle = directDefaultMaxIdle
	}
	if c.idleTimeout <= 0 {
		c.idleTimeout = directDefaultIdleTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// doContext sends out with body to addr ("host:port") and returns the
// app's whole answer, all before deadline (the zero time: none). The
// caller sets out's Method, URL, Host and Header; doContext sets its
// ContentLength from body, and clears TransferEncoding and Trailer. The
// Response's Body is already read and closed (http.NoBody); its StatusCode
// and Header are the final answer's.
//
// When ctx is done, the exchange in progress fails at once and ctx's error
// is returned (a connection interrupted so is closed, never pooled). A ctx
// that cannot be done costs nothing.
func (c *directClient) doContext(ctx context.Context, addr string, deadline time.Time, out *http.Request, body []byte) (*http.Response, []byte, error) {
	resp, answer, err := c.roundTrip(ctx, addr, deadline, out, body)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			err = cerr
		}
		return nil, nil, fmt.Errorf("upstream %s: %w", addr, err)
	}
	return resp, answer, nil
}

// roundTrip is doContext without the address in its errors.
func (c *directClient) roundTrip(ctx context.Context, addr string, deadline time.Time, out *http.Request, body []byte) (*http.Response, []byte, error) {
	if err := checkOutgoing(out); err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if expired(deadline) {
		return nil, nil, os.ErrDeadlineExceeded
	}
	pc := c.takeIdle(addr)
	if pc == nil {
		var err error
		if pc, err = c.dialConn(ctx, addr, deadline); err != nil {
			return nil, nil, err
		}
	}
	resp, answer, stale, err := c.exchange(ctx, pc, deadline, out, body)
	if stale && !expired(deadline) && ctx.Err() == nil {
		if pc, err = c.dialConn(ctx, addr, deadline); err != nil {
			return nil, nil, err
		}
		resp, answer, _, err = c.exchange(ctx, pc, deadline, out, body)
	}
	return resp, answer, err
}

// aLongTimeAgo is a deadline that has passed: set on a connection, it
// makes its I/O in progress fail at once.
var aLongTimeAgo = time.Unix(1, 0)

// watch makes ctx's end interrupt pc's exchange: pc.cancelled is set, then
// its deadline moved to aLongTimeAgo (send checks the flag after setting
// its own deadline, so a cancellation just before is not lost). The
// returned stop must be called before pc is pooled; when it returns
// false, the interruption ran or is running and pc must be closed.
func (pc *directConn) watch(ctx context.Context) (stop func() bool) {
	pc.cancelled.Store(false)
	if ctx.Done() == nil {
		return func() bool { return true }
	}
	return context.AfterFunc(ctx, func() {
		pc.cancelled.Store(true)
		pc.conn.SetDeadline(aLongTimeAgo)
	})
}

// exchange sends out on pc and reads the answer, then pools pc or closes
// it. stale reports a failure that an app closing the reused connection
// explains: the write failed, or the answer failed before its first byte
// with an error of a closed connection.
func (c *directClient) exchange(ctx context.Context, pc *directConn, deadline time.Time, out *http.Request, body []byte) (resp *http.Response, answer []byte, stale bool, err error) {
	stop := pc.watch(ctx)
	if err = pc.send(deadline, out, body); err != nil {
		stop()
		pc.close()
		stale := pc.reused && (errors.Is(err, errIdleUnusable) || pc.meter.werr != nil && !isTimeout(pc.meter.werr))
		return nil, nil, stale, err
	}
	if resp, err = pc.receive(out); err != nil {
		stop()
		pc.close()
		return nil, nil, pc.reused && pc.meter.read == 0 && closedByPeer(err), err
	}
	// readAnswer closes the body; the body's own Close would read the rest
	// of an answer too large, until the deadline. The connection is closed
	// instead.
	pc.body.r = resp.Body
	resp.Body = &pc.body
	answer, err = readAnswer(resp)
	resp.Body, pc.body.r = http.NoBody, nil
	// Ended just as the answer was read whole: the answer stands, the
	// connection (its deadline moved, or about to be) is not pooled.
	interrupted := !stop()
	if err != nil {
		pc.close()
		return nil, nil, false, err
	}
	if interrupted || resp.Close || out.Close || saysClose(out.Header) || pc.br.Buffered() > 0 {
		pc.close()
	} else {
		c.put(pc)
	}
	return resp, answer, false, nil
}

// directConn is one connection of a directClient, with its buffers.
type directConn struct {
	conn      net.Conn
	addr      string
	meter     connMeter // between conn and the buffers
	br        *bufio.Reader
	bw        *bufio.Writer
	body      undrainedBody // the answer's body while it is read
	gen       uint64        // the client's generation when dialed
	idleSince time.Time
	reused    bool          // taken from the pool for the current request
	idleFor   time.Duration // how long it was idle before, when reused
	cancelled atomic.Bool   // set when the current request's context ended
}

// send writes out, with body, in one flush, after setting the deadline for
// the whole exchange.
func (pc *directConn) send(deadline time.Time, out *http.Request, body []byte) error {
	pc.meter.read, pc.meter.werr = 0, nil
	if err := pc.conn.SetDeadline(deadline); err != nil {
		return err
	}
	if pc.cancelled.Load() {
		return errCancelled
	}
	if pc.reused && pc.idleFor >= directPeekAfter && idleUnusable(pc.conn) {
		return errIdleUnusable
	}
	out.ContentLength = int64(len(body))
	out.TransferEncoding, out.Trailer = nil, nil
	if err := writeRequest(pc.bw, out, body); err != nil {
		return err
	}
	return pc.bw.Flush()
}

// receive reads the header of the final answer to out, skipping 1xx
// answers, within maxUpstreamHeader bytes.
func (pc *directConn) receive(out *http.Request) (*http.Response, error) {
	pc.meter.limit = maxUpstreamHeader
	defer func() { pc.meter.limit = -1 }()
	for informational := 0; ; {
		resp, err := http.ReadResponse(pc.br, out)
		if err != nil {
			return nil, err
		}
		switch code := resp.StatusCode; {
		case code == http.StatusSwitchingProtocols:
			return nil, errUnexpectedSwitch
		case code >= 100 && code < 200:
			if informational++; informational > directMaxInformational {
				return nil, errTooManyInformational
			}
			continue
		case code < 200 || code > 599:
			return nil, fmt.Errorf("%w: %d", errInvalidStatus, code)
		}
		return resp, nil
	}
}

// close closes the connection; it is never used again.
func (pc *directConn) close() { pc.conn.Close() }

// connMeter is a connection as its buffers see it: it counts the bytes
// read (to tell whether an answer began), fails reads past limit (when
// not negative), and keeps the last write error (to tell a failed
// connection from a request Write refused).
type connMeter struct {
	conn  net.Conn
	read  int64
	limit int64
	werr  error
}

// Read reads from the connection, counting, within the limit.
func (m *connMeter) Read(p []byte) (int, error) {
	if m.limit >= 0 {
		left := m.limit - m.read
		if left <= 0 {
			return 0, errUpstreamHeader
		}
		if int64(len(p)) > left {
			p = p[:left]
		}
	}
	n, err := m.conn.Read(p)
	m.read += int64(n)
	return n, err
}

// Write writes to the connection and keeps its error.
func (m *connMeter) Write(p []byte) (int, error) {
	n, err := m.conn.Write(p)
	if err != nil {
		m.werr = err
	}
	return n, err
}

// undrainedBody is an answer's body whose Close does nothing: the
// connection is pooled only after the body was read to its end, and closed
// otherwise.
type undrainedBody struct{ r io.Reader }

// Read reads the body.
func (b *undrainedBody) Read(p []byte) (int, error) { return b.r.Read(p) }

// Close does nothing: what is left of the body stays unread.
func (b *undrainedBody) Close() error { return nil }
