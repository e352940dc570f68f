package proxy

import (
	"bufio"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// idleClock is a client clock the test moves forward, so that a pooled
// connection looks idle for as long as the test says.
type idleClock struct{ offset atomic.Int64 }

func (c *idleClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *idleClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// An app that, after answering on a connection, sends an unsolicited 408
// on it and closes it: the next request, after the connection sat idle
// long enough to be peeked at, gets its own answer on a new connection,
// never the 408.
func TestDirectIdleConnectionWithUnaskedBytesIsReplaced(t *testing.T) {
	app := newRawApp(t, func(a *rawApp, n int, conn net.Conn, br *bufio.Reader) {
		if _, _, err := a.readRawRequest(br); err != nil {
			return
		}
		io.WriteString(conn, okAnswer("answer "+string(rune('0'+n))))
		if n == 1 {
			time.Sleep(30 * time.Millisecond)
			io.WriteString(conn, "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		}
		// Connection 2 stays open for the next request.
		for {
			if _, _, err := a.readRawRequest(br); err != nil {
				return
			}
			io.WriteString(conn, okAnswer("answer "+string(rune('0'+n))))
		}
	})
	var clock idleClock
	c, d := newTestDirect(t, directConfig{Now: clock.now})
	mustAnswer(t, c, app.addr, "", "answer 1")
	time.Sleep(100 * time.Millisecond) // the 408 arrives on the idle connection
	clock.advance(2 * directPeekAfter)
	mustAnswer(t, c, app.addr, "", "answer 2")
	if n := d.dials.Load(); n != 2 {
		t.Fatalf("%d dials, want 2 (the spoiled connection replaced once)", n)
	}
}

// A quiet connection idle for longer than directPeekAfter passes the peek
// and is reused: the check must not cost a connection per request.
func TestDirectQuietIdleConnectionIsReused(t *testing.T) {
	srv, conns := echoApp(t)
	addr := srv.Listener.Addr().String()
	var clock idleClock
	c, d := newTestDirect(t, directConfig{Now: clock.now})
	for i := range 5 {
		mustAnswer(t, c, addr, "ping", "ping")
		if i < 4 {
			clock.advance(2 * directPeekAfter)
		}
	}
	if n := d.dials.Load(); n != 1 || conns.Load() != 1 {
		t.Fatalf("%d dials (%d connections at the app) for 5 requests 2 s apart, want 1", n, conns.Load())
	}
}

// A connection the app closed while it sat idle is found by the peek: the
// request goes on a new connection, and nothing was written on the old
// one.
func TestDirectIdleConnectionClosedByTheAppIsReplacedBeforeWriting(t *testing.T) {
	var secondOnFirst atomic.Int32
	app := newRawApp(t, func(a *rawApp, n int, conn net.Conn, br *bufio.Reader) {
		if _, _, err := a.readRawRequest(br); err != nil {
			return
		}
		io.WriteString(conn, okAnswer("fine"))
		if n == 1 {
			conn.(*net.TCPConn).CloseWrite() // the app's keep-alive timeout
			conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			if b, _ := br.Peek(1); len(b) > 0 {
				secondOnFirst.Add(1)
			}
			return
		}
		for {
			if _, _, err := a.readRawRequest(br); err != nil {
				return
			}
			io.WriteString(conn, okAnswer("fine"))
		}
	})
	var clock idleClock
	c, d := newTestDirect(t, directConfig{Now: clock.now})
	mustAnswer(t, c, app.addr, "", "fine")
	time.Sleep(50 * time.Millisecond)
	clock.advance(2 * directPeekAfter)
	mustAnswer(t, c, app.addr, "", "fine")
	if n := d.dials.Load(); n != 2 {
		t.Fatalf("%d dials, want 2", n)
	}
	time.Sleep(600 * time.Millisecond)
	if secondOnFirst.Load() != 0 {
		t.Fatal("the second request was written on the connection the app had closed")
	}
}
