package listen

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// TLSListener returns a listener for HTTPS that guards HTTP/1.x above
// TLS. It completes the handshake of each connection ln accepts, with
// config and within handshakeTimeout (zero: no limit), in a goroutine of
// its own, so that a slow handshake never holds up Accept; then Accept
// returns the connection:
//
//   - as the *tls.Conn itself when the client chose, by ALPN, a protocol
//     other than HTTP/1.1: "h2", which has its own framing, or
//     "acme-tls/1" (TLS-ALPN-01 challenges, answered by config during the
//     handshake), so that http.Server handles them as before;
//   - otherwise guarded (see Guard), still reporting its TLS state
//     (ConnectionState), so that http.Request.TLS is set.
//
// Serve it with http.Server.Serve, not ServeTLS; the server's TLSConfig
// should offer the same protocols as config (Serve configures HTTP/2
// when it lists "h2"). Failed handshakes are logged at Debug, as Go's
// server logs them to its ErrorLog; a client speaking plain HTTP gets
// Go's answer, 400 and "Client sent an HTTP request to an HTTPS server.".
// Close stops accepting and ends the handshakes under way.
func (g *Guard) TLSListener(ln net.Listener, config *tls.Config, handshakeTimeout time.Duration) net.Listener {
	ctx, cancel := context.WithCancel(context.Background())
	l := &tlsListener{
		inner:   ln,
		config:  config,
		timeout: handshakeTimeout,
		g:       g,
		ctx:     ctx,
		cancel:  cancel,
		ready:   make(chan net.Conn),
		ended:   make(chan struct{}),
	}
	go l.acceptLoop()
	return l
}

type tlsListener struct {
	inner   net.Listener
	config  *tls.Config
	timeout time.Duration
	g       *Guard

	ctx    context.Context // done once Close is called
	cancel context.CancelFunc
	ready  chan net.Conn // handshakes done, for Accept
	ended  chan struct{} // closed when acceptLoop has returned
	err    error         // why it did; written before ended is closed

	handshakes sync.WaitGroup
	closeOnce  sync.Once
	closeErr   error
}

func (l *tlsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.ended:
		return nil, l.err
	}
}

func (l *tlsListener) Close() error {
	l.closeOnce.Do(func() {
		l.cancel()
		l.closeErr = l.inner.Close()
		<-l.ended
		l.handshakes.Wait()
	})
	return l.closeErr
}

func (l *tlsListener) Addr() net.Addr { return l.inner.Addr() }

// acceptLoop accepts until the inner listener fails for good. On a
// temporary failure (out of file descriptors) it waits as http.Server
// does: 5 ms, doubling up to 1 s.
func (l *tlsListener) acceptLoop() {
	defer close(l.ended)
	var delay time.Duration
	for {
		raw, err := l.inner.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Temporary() && l.ctx.Err() == nil {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				l.g.logger().LogAttrs(l.ctx, slog.LevelError, "http: Accept error; retrying",
					slog.String("error", err.Error()), slog.Duration("retry_in", delay))
				t := time.NewTimer(delay)
				select {
				case <-t.C:
				case <-l.ctx.Done():
					t.Stop()
				}
				continue
			}
			l.err = err
			return
		}
		delay = 0
		l.handshakes.Add(1)
		go l.handshake(raw)
	}
}

func (l *tlsListener) handshake(raw net.Conn) {
	defer l.handshakes.Done()
	tc := tls.Server(raw, l.config)
	if l.timeout > 0 {
		tc.SetDeadline(time.Now().Add(l.timeout))
	}
	if err := tc.HandshakeContext(l.ctx); err != nil {
		reason := err.Error()
		var re tls.RecordHeaderError
		if errors.As(err, &re) && re.Conn != nil && recordHeaderLooksLikeHTTP(re.RecordHeader) {
			io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
			reason = "client sent an HTTP request to an HTTPS server"
		}
		l.g.logger().LogAttrs(l.ctx, slog.LevelDebug, "http: TLS handshake error",
			slog.String("remote", addrString(raw.RemoteAddr())), slog.String("reason", reason))
		raw.Close()
		return
	}
	if l.timeout > 0 {
		tc.SetDeadline(time.Time{})
	}
	var c net.Conn = tc
	if p := tc.ConnectionState().NegotiatedProtocol; p == "" || p == "http/1.1" {
		c = &tlsConn{conn: conn{Conn: tc, g: l.g}, tls: tc}
	}
	select {
	case l.ready <- c:
	case <-l.ctx.Done():
		c.Close()
	}
}

// recordHeaderLooksLikeHTTP is net/http's test for a plain HTTP request
// sent to a TLS port.
func recordHeaderLooksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

// tlsConn is a guarded HTTP/1.x connection over TLS.
type tlsConn struct {
	conn
	tls *tls.Conn
}

// ConnectionState is the TLS state, for http.Request.TLS.
func (c *tlsConn) ConnectionState() tls.ConnectionState { return c.tls.ConnectionState() }

var (
	_ net.Listener = (*tlsListener)(nil)
	_ net.Listener = (*guardedListener)(nil)
	_ net.Conn     = (*conn)(nil)
	_ net.Conn     = (*tlsConn)(nil)
)
