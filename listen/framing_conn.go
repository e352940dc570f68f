package listen

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"time"
)

// After a refusal, Close lingers (RFC 9112 §9.6): it half-closes, then
// reads and drops what the client still sends, for up to lingerTime or
// lingerBytes, before closing; closing with unread data would reset the
// connection and could destroy the 400 before the client reads it.
const (
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 256 << 10
)

// What the server gets, from the offending byte on, instead of the
// stream. Each makes Go's server fail wherever the cut leaves it:
const (
	// refusedHead, in a head or a trailer: a NUL in a line, refused
	// whatever comes before it in the line (request line, field name or
	// value). For a head, Go answers 400 Bad Request with Connection:
	// close; for a trailer, the body read fails.
	refusedHead = "\x00\r\n\r\n"
	// refusedChunk, in a chunk-size line or after chunk data: a line
	// ending in a bare LF, or "\r\n" missing after the data. The body
	// read fails.
	refusedChunk = "x\n"
)

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
// never reaches the handler; a rule broken in a chunked body makes the
// body read fail (and the connection close after the handler's answer).
// Nothing after it is read as a request. Each refusal is logged once and reported to
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
	// isRefused is set on a refusal, for Close (which may run in another
	// goroutine than Read).
	isRefused atomic.Bool
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
	c.pending = refusedHead
	switch c.s.at {
	case stChunkSize, stChunkExt, stChunkSizeLF, stChunkDataCR, stChunkDataLF:
		c.pending = refusedChunk
	}
	m := copy(p[k:], c.pending)
	c.pending = c.pending[m:]
	return k + m, nil
}

// readRefused serves a read after a refusal: the rest of the
// substitute, then nothing. The connection is still read (and the bytes
// dropped) so that the server's deadlines, its background read while it
// answers an earlier request, and the client closing behave as before:
// an error here would cancel the request being answered.
func (c *conn) readRefused(p []byte) (int, error) {
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

// refused logs and reports the refusal, once.
func (c *conn) refused() {
	c.isRefused.Store(true)
	c.g.logger().LogAttrs(context.Background(), slog.LevelWarn, "http: request refused: ambiguous HTTP/1 framing",
		slog.String("reason", c.s.reason),
		slog.String("remote", addrString(c.RemoteAddr())),
		slog.String("local", addrString(c.LocalAddr())),
		slog.Int64("offset", c.s.badOff))
	if c.g.OnReject != nil {
		c.g.OnReject(c.s.reason)
	}
}

// Close closes the connection; after a refusal it lingers, in the
// background, and returns at once.
func (c *conn) Close() error {
	if !c.isRefused.Load() {
		return c.Conn.Close()
	}
	go func() {
		c.CloseWrite()
		c.Conn.SetReadDeadline(time.Now().Add(lingerTime))
		io.CopyN(io.Discard, c.Conn, lingerBytes)
		c.Conn.Close()
	}()
	return nil
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
