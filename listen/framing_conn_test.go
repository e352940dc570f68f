package listen

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookguard/hookguard/internal/syncbuf"
)

// testServer is an http.Server behind a Guard, on loopback. Its handler
// records each request it gets and answers 200 with the body, or 400
// when the body cannot be read.
type testServer struct {
	addr string
	logs *syncbuf.Buffer

	mu      sync.Mutex
	got     []string // "METHOD path body"
	rejects []string
}

// split limits the server's reads so that none crosses offset split of
// a connection's stream (0: no limit).
func startTestServer(t *testing.T, split int) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{addr: ln.Addr().String(), logs: &syncbuf.Buffer{}}
	g := &Guard{
		Logger: slog.New(slog.NewJSONHandler(ts.logs, nil)),
		OnReject: func(reason string) {
			ts.mu.Lock()
			ts.rejects = append(ts.rejects, reason)
			ts.mu.Unlock()
		},
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(ts.serveHTTP),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       5 * time.Second,
		ErrorLog:          slog.NewLogLogger(slog.DiscardHandler, slog.LevelDebug),
	}
	var inner net.Listener = ln
	if split > 0 {
		inner = &splitListener{Listener: ln, split: split}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(g.Listener(inner))
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ts
}

func (ts *testServer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	ts.mu.Lock()
	if err != nil {
		ts.got = append(ts.got, r.Method+" "+r.URL.Path+" (unreadable body)")
	} else {
		ts.got = append(ts.got, r.Method+" "+r.URL.Path+" "+string(b))
	}
	ts.mu.Unlock()
	if err != nil {
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	w.Write(b)
}

func (ts *testServer) requests() ([]string, []string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]string(nil), ts.got...), append([]string(nil), ts.rejects...)
}

// exchange writes in on a new connection and reads the answers until
// the server closes it. It returns their statuses and whether the
// server closed the connection (rather than the read timing out).
func exchange(t *testing.T, addr, in string) (statuses []int, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, in); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			var ne net.Error
			return statuses, !(errors.As(err, &ne) && ne.Timeout())
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
	}
}

type splitListener struct {
	net.Listener
	split int
}

func (l *splitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &splitConn{Conn: c, left: l.split}, nil
}

// splitConn ends a read at offset left of the stream.
type splitConn struct {
	net.Conn
	left int
}

func (c *splitConn) Read(p []byte) (int, error) {
	if c.left > 0 && len(p) > c.left {
		p = p[:c.left]
	}
	n, err := c.Conn.Read(p)
	c.left -= n
	return n, err
}

const first = "GET /first HTTP/1.1\r\nHost: a\r\n\r\n"
const last = "GET /last HTTP/1.1\r\nHost: a\r\n\r\n"

// TestGuardRefusesHead sends a valid request, one that breaks a rule in
// its head, then another valid one, on one connection: the first is
// answered, the second gets 400 from Go's server and never reaches the
// handler, the connection is closed, the third is not read.
func TestGuardRefusesHead(t *testing.T) {
	ts := startTestServer(t, 0)
	n := 0
	for _, tt := range refusalCases() {
		var s scanner
		s.scan([]byte(tt.in))
		if !s.inHead {
			continue
		}
		n++
		t.Run(tt.name, func(t *testing.T) {
			before, _ := ts.requests()
			statuses, closed := exchange(t, ts.addr, first+tt.in+last)
			if len(statuses) != 2 || statuses[0] != 200 || statuses[1] != 400 || !closed {
				t.Errorf("statuses %v (closed %v), want [200 400] and closed", statuses, closed)
			}
			got, rejects := ts.requests()
			if want := []string{"GET /first "}; strings.Join(got[len(before):], "|") != strings.Join(want, "|") {
				t.Errorf("handler got %q, want %q", got[len(before):], want)
			}
			if rejects[len(rejects)-1] != tt.reason {
				t.Errorf("OnReject got %q, want %q", rejects[len(rejects)-1], tt.reason)
			}
		})
	}
	if n < 30 {
		t.Errorf("only %d head cases", n)
	}
}

// TestGuardRefusesChunkedBody: a rule broken in a chunked body ends the
// body with an error; the connection is closed after the handler's
// answer.
func TestGuardRefusesChunkedBody(t *testing.T) {
	ts := startTestServer(t, 0)
	for _, tt := range refusalCases() {
		var s scanner
		s.scan([]byte(tt.in))
		if s.inHead {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			before, _ := ts.requests()
			statuses, closed := exchange(t, ts.addr, first+tt.in+last)
			if len(statuses) != 2 || statuses[0] != 200 || statuses[1] != 400 || !closed {
				t.Errorf("statuses %v (closed %v), want [200 400] and closed", statuses, closed)
			}
			got, rejects := ts.requests()
			if want := []string{"GET /first ", "POST / (unreadable body)"}; strings.Join(got[len(before):], "|") != strings.Join(want, "|") {
				t.Errorf("handler got %q, want %q", got[len(before):], want)
			}
			if rejects[len(rejects)-1] != tt.reason {
				t.Errorf("OnReject got %q, want %q", rejects[len(rejects)-1], tt.reason)
			}
		})
	}
}

// TestGuardRefusesAtEverySplit: wherever the server's reads split the
// stream, a smuggling head gets 400 and reaches no handler, and the
// request before it is answered.
func TestGuardRefusesAtEverySplit(t *testing.T) {
	const smuggle = "POST /smuggle HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"0\r\n\r\n" + "GET /hidden HTTP/1.1\r\nHost: a\r\n\r\n"
	in := first + smuggle
	for split := 1; split < len(in); split++ {
		ts := startTestServer(t, split)
		statuses, closed := exchange(t, ts.addr, in)
		got, rejects := ts.requests()
		if len(statuses) != 2 || statuses[0] != 200 || statuses[1] != 400 || !closed ||
			len(got) != 1 || got[0] != "GET /first " || len(rejects) != 1 {
			t.Fatalf("split at %d: statuses %v (closed %v), handler got %q, rejects %q", split, statuses, closed, got, rejects)
		}
	}
}

// TestGuardPassesValid: valid keep-alive and pipelined requests reach the
// handler as they were sent, however reads split them.
func TestGuardPassesValid(t *testing.T) {
	in := first + post + chunked + "POST /ten HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 10\r\n\r\n0123456789" + last
	want := "GET /first |POST /hooks {}|POST /hooks helloabcdefghijklmnopqrstuvwxyz|POST /ten 0123456789|GET /last "
	for _, split := range []int{0, 1, len(first) + 3, len(first+post) + 70, len(first+post) + 100} {
		ts := startTestServer(t, split)
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, in)
		br := bufio.NewReader(c)
		for i := range 5 {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("split %d: response %d: %v", split, i, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("split %d: response %d: %s", split, i, resp.Status)
			}
		}
		c.Close()
		got, rejects := ts.requests()
		if strings.Join(got, "|") != want || len(rejects) != 0 {
			t.Errorf("split %d: handler got %q, rejects %q", split, got, rejects)
		}
	}
}

// TestGuardLogsNoHeaderValue: the refusal is logged once, with the
// reason and the client's address, and without header values.
func TestGuardLogsNoHeaderValue(t *testing.T) {
	ts := startTestServer(t, 0)
	exchange(t, ts.addr, "POST / HTTP/1.1\r\nAuthorization: Bearer s3cret-token\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
	logs := ts.logs.String()
	if strings.Count(logs, "\n") != 1 || !strings.Contains(logs, `"reason":"`+ReasonContentLengthWithTE+`"`) ||
		!strings.Contains(logs, `"remote":"127.0.0.1:`) || !strings.Contains(logs, `"level":"WARN"`) {
		t.Errorf("log:\n%s", logs)
	}
	if strings.Contains(logs, "s3cret") || strings.Contains(logs, "Bearer") {
		t.Errorf("log shows a header value:\n%s", logs)
	}
}

// TestGuardHandlerContextNotCancelled: reading a refused head while the
// request before it is served does not look like the client leaving
// (its context is not cancelled).
func TestGuardHandlerContextNotCancelled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctxErr := make(chan error, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/first" {
			time.Sleep(100 * time.Millisecond) // the refused request is read meanwhile
			ctxErr <- r.Context().Err()
			return
		}
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
		}
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve((&Guard{Logger: slog.New(slog.DiscardHandler)}).Listener(ln))
	defer srv.Shutdown(context.Background())
	for _, bad := range []string{
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n",
	} {
		statuses, closed := exchange(t, ln.Addr().String(), first+bad)
		if err := <-ctxErr; err != nil {
			t.Errorf("the earlier request's context: %v, want not cancelled", err)
		}
		if len(statuses) != 2 || statuses[0] != 200 || statuses[1] != 400 || !closed {
			t.Errorf("statuses %v (closed %v)", statuses, closed)
		}
	}
}

func discardLog() *log.Logger { return slog.NewLogLogger(slog.DiscardHandler, slog.LevelDebug) }

func (c *splitConn) CloseWrite() error { return c.Conn.(*net.TCPConn).CloseWrite() }
