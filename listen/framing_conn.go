package listen

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
)

// ErrRefused is what a guarded connection's Read returns, wrapped, once
// the rest of a chunked body it refused is asked for.
var ErrRefused = errors.New("listen: connection refused for ambiguous HTTP/1 framing")

// refusedHead is what the server gets instead of a head that breaks a
// rule, from wherever it is in the head: a line with a NUL byte, which
// Go's server refuses whatever comes before it (as a request line,
// a field name or a field value), answering 400 Bad Request with
// Connection: close.
const refusedHead = "\x00\r\n\r\n"

// Guard refuses HTTP/1.x requests whose framing a front proxy and Go's
// server could read differently, and so could smuggle a request past the
// front proxy or desynchronize a keep-alive connection (RFC 9112 §6.1,
// §11.2): Content-Length with Transfer-Encoding, Transfer-Encoding other
// than exactly "chunked" or on HTTP/1.0, duplicate Content-Length, bare
// LF or CR, obs-fold, malformed or oversized chunk framing (see the
// Reason constants). Go's server accepts several of these.
//
// A guarded connection follows the bytes the server reads and frames the
// requests as Go does, across keep-alive and pipelined requests. At the
// first request that breaks a rule, the server gets, from that request's
// head on, a head it answers with 400 Bad Request and Connection: close,
// so the requests before it are answered in order and the offending one
// never reaches the handler; a rule broken in a chunked body ends the
// body with an error (the handler sees a failed read). Nothing after it
// is read as a request. Each refusal is logged once and reported to
// OnReject.
//
// The zero value is ready to use.
type Guard struct {
	// Logger receives one line per refused connection: the reason, the
	// local and remote addresses, never a header. Nil: slog.Default().
	Logger *slog.Logger
	// OnReject, when set, is called once per refused connection with the
	// reason (one of the Reason constants), for metrics. It must be safe
	// for concurrent use. Nil: not called.
	OnReject func(reason string)
}

// Listener returns ln with every accepted connection guarded (Conn).
// Use it for plain HTTP; TLSListener for HTTPS.
func (g *Guard) Listener(ln net.Listener) net.Listener {
	return &guardedListener{Listener: ln, g: g}
}

// Conn guards c, a connection the server reads HTTP/1.x from.
func (g *Guard) Conn(c net.Conn) net.Conn {
	return &conn{Conn: c, g: g}
}

func (g *Guard) logger() *slog.Logger {
	if g.Logger != nil {
		return g.Logger
	}
	return slog.Default()
}

type guardedListener struct {
	net.Listener
	g *Guard
}

func (l *guardedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.g.Conn(c), nil
}

// conn is a guarded connection. Read is not safe for concurrent use
// (the server never reads a connection concurrently); the other methods
// are the underlying connection's.
type conn struct {
	net.Conn
	g *Guard
	s scanner
	// After a refusal: what the server still gets instead of the stream.
	pending string
}

func (c *conn) Read(p []byte) (int, error) {
	if c.s.state == stRefused {
		return c.readRefused(p)
	}
	n, err := c.Conn.Read(p)
	if n == 0 {
		return n, err
	}
	k := c.s.scan(p[:n])
	if k == n {
		return n, err
	}
	c.refused()
	if !c.s.inHead {
		if k == 0 {
			return 0, c.bodyErr()
		}
		return k, nil
	}
	c.pending = refusedHead
	m := copy(p[k:], c.pending)
	c.pending = c.pending[m:]
	return k + m, nil
}

// readRefused serves a read after a refusal. In a chunked body: an error,
// which the body reader reports. In a head: the rest of refusedHead, then
// nothing; the connection is still read (and the bytes dropped) so that
// the server's deadlines, its wait for the end of a request it is
// answering, and the client closing behave as before.
func (c *conn) readRefused(p []byte) (int, error) {
	if !c.s.inHead {
		return 0, c.bodyErr()
	}
	if c.pending != "" {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if _, err := c.Conn.Read(p); err != nil {
			return 0, err
		}
	}
}

func (c *conn) bodyErr() error {
	return &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(),
		Err: errors.Join(ErrRefused, io.ErrUnexpectedEOF)}
}

// refused logs and reports the refusal, once.
func (c *conn) refused() {
	c.g.logger().LogAttrs(context.Background(), slog.LevelWarn, "http: request refused: ambiguous HTTP/1 framing",
		slog.String("reason", c.s.reason),
		slog.String("remote", addrString(c.RemoteAddr())),
		slog.String("local", addrString(c.LocalAddr())),
		slog.Int64("offset", c.s.badOff))
	if c.g.OnReject != nil {
		c.g.OnReject(c.s.reason)
	}
}

// CloseWrite half-closes the connection when the underlying one can, as
// Go's server does before closing after some errors.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
