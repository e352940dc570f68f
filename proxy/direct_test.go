package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// do is doContext with a context that never ends, as a sync forward's.
func (c *directClient) do(addr string, deadline time.Time, out *http.Request, body []byte) (*http.Response, []byte, error) {
	return c.doContext(context.Background(), addr, deadline, out, body)
}

// directDialer dials TCP and counts the dials: a retry or a connection
// not reused shows as one more.
type directDialer struct {
	dials atomic.Int32
	// wrap, when set, is applied to the connection of dial number n
	// (from 1).
	wrap func(n int, c net.Conn) net.Conn
}

func (d *directDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	n := int(d.dials.Add(1))
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil || d.wrap == nil {
		return c, err
	}
	return d.wrap(n, c), nil
}

// newTestDirect returns a client dialing through a counting dialer, its
// idle connections closed at the end of the test.
func newTestDirect(t *testing.T, cfg directConfig) (*directClient, *directDialer) {
	t.Helper()
	d := &directDialer{}
	if cfg.Dial == nil {
		cfg.Dial = d.dial
	}
	c := newDirectClient(cfg)
	t.Cleanup(c.closeIdle)
	return c, d
}

// directRequest is a request as send builds it: POST, no User-Agent.
func directRequest(addr, target string) *http.Request {
	u, err := url.Parse("http://" + addr + target)
	if err != nil {
		panic(err)
	}
	return &http.Request{
		Method: http.MethodPost, URL: u, Host: addr,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"User-Agent": noUserAgent},
	}
}

// directPost posts body to addr's target within d.
func directPost(c *directClient, addr, target, body string, d time.Duration) (*http.Response, []byte, error) {
	return c.do(addr, time.Now().Add(d), directRequest(addr, target), []byte(body))
}

// idleLen is the number of idle connections c keeps for addr.
func idleLen(c *directClient, addr string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.idle[addr])
}

// mustAnswer posts body and fails the test unless the app answers 200
// with want.
func mustAnswer(t *testing.T, c *directClient, addr, body, want string) {
	t.Helper()
	resp, got, err := directPost(c, addr, "/hook", body, 5*time.Second)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	if resp.StatusCode != http.StatusOK || string(got) != want {
		t.Fatalf("answer %d %q, want 200 %q", resp.StatusCode, got, want)
	}
}

// rawApp is an upstream on a bare listener, for tests that need exact
// bytes on the wire: serve runs for each accepted connection, numbered
// from 1, in a goroutine of its own, and the connection is closed when it
// returns.
type rawApp struct {
	addr     string
	accepted atomic.Int32
	requests atomic.Int32 // read by readRawRequest
}

func newRawApp(t *testing.T, serve func(a *rawApp, n int, conn net.Conn, br *bufio.Reader)) *rawApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &rawApp{addr: ln.Addr().String()}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(a.accepted.Add(1))
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				serve(a, n, conn, bufio.NewReader(conn))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return a
}

// readRawRequest reads one request and its body from br, and counts it.
func (a *rawApp) readRawRequest(br *bufio.Reader) (*http.Request, []byte, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, nil, err
	}
	a.requests.Add(1)
	return req, body, nil
}

// answering is a rawApp serve function that reads requests one by one and
// writes answer(connection number, request number on it) after each.
func answering(answer func(conn, req int) string) func(*rawApp, int, net.Conn, *bufio.Reader) {
	return func(a *rawApp, n int, conn net.Conn, br *bufio.Reader) {
		for i := 1; ; i++ {
			if _, _, err := a.readRawRequest(br); err != nil {
				return
			}
			if _, err := io.WriteString(conn, answer(n, i)); err != nil {
				return
			}
		}
	}
}

// okAnswer is a keep-alive 200 with body.
func okAnswer(body string) string {
	return "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// echoApp is an httptest app answering each request with its body; it
// counts new connections.
func echoApp(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Write(body)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func TestDirectReusesOneConnection(t *testing.T) {
	srv, conns := echoApp(t)
	addr := srv.Listener.Addr().String()
	c, d := newTestDirect(t, directConfig{})
	for i := range 20 {
		mustAnswer(t, c, addr, "event "+strconv.Itoa(i), "event "+strconv.Itoa(i))
	}
	if n := d.dials.Load(); n != 1 {
		t.Errorf("%d dials for 20 sequential requests, want 1", n)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("the app accepted %d connections, want 1", n)
	}
	if n := idleLen(c, addr); n != 1 {
		t.Errorf("%d idle connections, want 1", n)
	}
}

func TestDirectConcurrentRequests(t *testing.T) {
	srv, _ := echoApp(t)
	addr := srv.Listener.Addr().String()
	const maxIdle = 3
	c, d := newTestDirect(t, directConfig{MaxIdle: maxIdle})
	var wg sync.WaitGroup
	errs := make(chan error, 8*50)
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				want := fmt.Sprintf("g%d-%d", g, i)
				resp, got, err := directPost(c, addr, "/hook", want, 10*time.Second)
				switch {
				case err != nil:
					errs <- err
				case resp.StatusCode != http.StatusOK || string(got) != want:
					errs <- fmt.Errorf("answer %d %q, want 200 %q", resp.StatusCode, got, want)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := idleLen(c, addr); n < 1 || n > maxIdle {
		t.Errorf("%d idle connections, want 1 to %d", n, maxIdle)
	}
	if n := d.dials.Load(); n > 8*50/2 {
		t.Errorf("%d dials for 400 requests from 8 goroutines: connections are not reused", n)
	}
}

// Each answer is followed by a second request: a connection that should
// not be reused but is would be answered on it by the app, which keeps
// every connection open.
func TestDirectReuseFollowsConnectionHeaders(t *testing.T) {
	for _, tc := range []struct {
		name       string
		answer     string
		close      func(*http.Request)
		wantReused bool
	}{
		{name: "keep-alive", answer: okAnswer("ok"), wantReused: true},
		{name: "answer says close", answer: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"},
		{name: "HTTP/1.0", answer: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"},
		{name: "HTTP/1.0 keep-alive", answer: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", wantReused: true},
		{name: "request Close", answer: okAnswer("ok"), close: func(r *http.Request) { r.Close = true }},
		{name: "request header", answer: okAnswer("ok"), close: func(r *http.Request) { r.Header.Set("Connection", "keep-alive, Close") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := newRawApp(t, answering(func(int, int) string { return tc.answer }))
			c, d := newTestDirect(t, directConfig{})
			for range 2 {
				out := directRequest(app.addr, "/hook")
				if tc.close != nil {
					tc.close(out)
				}
				resp, got, err := c.do(app.addr, time.Now().Add(5*time.Second), out, []byte("{}"))
				if err != nil || resp.StatusCode != http.StatusOK || string(got) != "ok" {
					t.Fatalf("answer %v %q %v, want 200 ok", resp, got, err)
				}
			}
			wantDials := int32(2)
			if tc.wantReused {
				wantDials = 1
			}
			if n := d.dials.Load(); n != wantDials {
				t.Errorf("%d dials for 2 requests, want %d", n, wantDials)
			}
			if n, want := idleLen(c, app.addr), int(2-wantDials); n != want {
				t.Errorf("%d idle connections, want %d", n, want)
			}
		})
	}
}

func TestDirectChunkedAnswerIsReadWhole(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range 3 {
			fmt.Fprintf(w, "part%d;", i)
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	c, d := newTestDirect(t, directConfig{})
	for range 2 {
		resp, got, err := directPost(c, addr, "/hook", "{}", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "part0;part1;part2;" || len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
			t.Fatalf("answer %q with transfer encoding %q, want the three parts, chunked", got, resp.TransferEncoding)
		}
		if resp.Body != http.NoBody {
			t.Errorf("Body is %T, want http.NoBody", resp.Body)
		}
	}
	if n := d.dials.Load(); n != 1 {
		t.Errorf("%d dials, want 1: a chunked answer read whole keeps the connection", n)
	}
}

func TestDirectCloseDelimitedAnswer(t *testing.T) {
	app := newRawApp(t, func(a *rawApp, n int, conn net.Conn, br *bufio.Reader) {
		if _, _, err := a.readRawRequest(br); err != nil {
			return
		}
		io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
		time.Sleep(20 * time.Millisecond) // the body in another segment
		io.WriteString(conn, "until the end")
	})
	c, _ := newTestDirect(t, directConfig{})
	mustAnswer(t, c, app.addr, "{}", "until the end")
	if n := idleLen(c, app.addr); n != 0 {
		t.Errorf("%d idle connections after an answer ended by close, want 0", n)
	}
}

func TestDirectSkipsInformationalAnswers(t *testing.T) {
	early := "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
	for _, tc := range []struct {
		name    string
		answer  string
		wantErr error
	}{
		{name: "100 then 200", answer: "HTTP/1.1 100 Continue\r\n\r\n" + early + okAnswer("final")},
		{name: "8 1xx", answer: strings.Repeat(early, 8) + okAnswer("final")},
		{name: "9 1xx", answer: strings.Repeat(early, 9) + okAnswer("final"), wantErr: errTooManyInformational},
		{name: "101", answer: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", wantErr: errUnexpectedSwitch},
		{name: "status 000", answer: "HTTP/1.1 000 Zero\r\nContent-Length: 0\r\n\r\n", wantErr: errInvalidStatus},
		{name: "status +99", answer: "HTTP/1.1 +99 Plus\r\nContent-Length: 0\r\n\r\n", wantErr: errInvalidStatus},
		{name: "status 600", answer: "HTTP/1.1 600 Beyond\r\nContent-Length: 0\r\n\r\n", wantErr: errInvalidStatus},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := newRawApp(t, answering(func(int, int) string { return tc.answer }))
			c, _ := newTestDirect(t, directConfig{})
			resp, got, err := directPost(c, app.addr, "/hook", "{}", 5*time.Second)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				if idleLen(c, app.addr) != 0 {
					t.Error("connection pooled after a refused answer")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK || string(got) != "final" || resp.Header.Get("Link") != "" {
				t.Fatalf("answer %d %q with header %v, want 200 final without the 1xx headers", resp.StatusCode, got, resp.Header)
			}
		})
	}
}

func TestDirectAnswerTooLarge(t *testing.T) {
	big := bytes.Repeat([]byte("a"), maxUpstreamResponse)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if r.URL.Query().Has("chunked") {
			w.(http.Flusher).Flush()
		} else {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		w.Write(big[:min(n, len(big))])
		if n > len(big) {
			w.Write([]byte("b"))
		}
	}))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	c, _ := newTestDirect(t, directConfig{})
	for _, target := range []string{"/?n=%d", "/?chunked&n=%d"} {
		resp, got, err := directPost(c, addr, fmt.Sprintf(target, maxUpstreamResponse), "{}", 5*time.Second)
		if err != nil || resp.StatusCode != http.StatusOK || len(got) != maxUpstreamResponse {
			t.Fatalf("%s: exactly 1 MiB: %d bytes, %v; want it all", target, len(got), err)
		}
		_, _, err = directPost(c, addr, fmt.Sprintf(target, maxUpstreamResponse+1), "{}", 5*time.Second)
		if !errors.Is(err, errResponseTooLarge) {
			t.Fatalf("%s: 1 MiB + 1: error %v, want %v", target, err, errResponseTooLarge)
		}
	}
}

// An answer too large is not read on: an app that announces (or streams)
// more and then stalls does not hold the request until the deadline.
func TestDirectAnswerTooLargeIsNotDrained(t *testing.T) {
	chunk := strings.Repeat("a", 64<<10)
	for _, tc := range []struct {
		name string
		head string
		part string // written again and again, up to 2 MiB
	}{
		{name: "content-length", head: "HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n", part: chunk},
		{name: "chunked", head: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", part: fmt.Sprintf("%x\r\n%s\r\n", len(chunk), chunk)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := newRawApp(t, func(a *rawApp, n int, conn net.Conn, br *bufio.Reader) {
				if _, _, err := a.readRawRequest(br); err != nil {
					return
				}
				io.WriteString(conn, tc.head)
				for range 32 {
					if _, err := io.WriteString(conn, tc.part); err != nil {
						return
					}
				}
				io.Copy(io.Discard, conn) // stalls until the client closes
			})
			c, _ := newTestDirect(t, directConfig{})
			start := time.Now()
			_, _, err := directPost(c, app.addr, "/hook", "{}", 10*time.Second)
			if !errors.Is(err, errResponseTooLarge) {
				t.Fatalf("error %v, want %v", err, errResponseTooLarge)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v: the rest of the answer was read until the deadline", d)
			}
		})
	}
}

func TestDirectAnswerHeaderTooLarge(t *testing.T) {
	app := newRawApp(t, answering(func(int, int) string {
		return "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("b", maxUpstreamHeader) + "\r\nContent-Length: 0\r\n\r\n"
	}))
	c, _ := newTestDirect(t, directConfig{})
	if _, _, err := directPost(c, app.addr, "/hook", "{}", 5*time.Second); !errors.Is(err, errUpstreamHeader) {
		t.Fatalf("error %v, want %v", err, errUpstreamHeader)
	}
}

// An app that sends two answers to one request: the second must not be
// read as the answer to the next request.
func TestDirectExtraBytesAfterAnswerCloseTheConnection(t *testing.T) {
	app := newRawApp(t, answering(func(conn, req int) string {
		if conn == 1 {
			return okAnswer("first") + okAnswer("extra")
		}
		return okAnswer("fresh")
	}))
	c, d := newTestDirect(t, directConfig{})
	mustAnswer(t, c, app.addr, "{}", "first")
	if n := idleLen(c, app.addr); n != 0 {
		t.Errorf("%d idle connections with an extra answer buffered, want 0", n)
	}
	mustAnswer(t, c, app.addr, "{}", "fresh")
	if n := d.dials.Load(); n != 2 {
		t.Errorf("%d dials, want 2", n)
	}
}

// The app closes a keep-alive connection after its answer; the next
// request, sent on it before the client can notice, is sent again on a new
// connection.
func TestDirectRetriesOnAConnectionTheAppClosed(t *testing.T) {
	closed := make(chan struct{})
	app := newRawApp(t, func(a *rawApp, n int, conn net.Conn, br *bufio.Reader) {
		if n == 1 {
			if _, _, err := a.readRawRequest(br); err == nil {
				io.WriteString(conn, okAnswer("first"))
			}
			conn.Close()
			close(closed)
			return
		}
		answering(func(int, int) string { return okAnswer("second") })(a, n, conn, br)
	})
	c, d := newTestDirect(t, directConfig{})
	mustAnswer(t, c, app.addr, "{}", "first")
	<-closed
	time.Sleep(20 * time.Millisecond) // the FIN reaches the client's socket
	mustAnswer(t, c, app.addr, "{}", "second")
	if n := d.dials.Load(); n != 2 {
		t.Errorf("%d dials, want 2 (one retry)", n)
	}
	if n := app.requests.Load(); n != 2 {
		t.Errorf("the app read %d requests, want 2: the first copy of the second went to a closed socket", n)
	}
	if n := idleLen(c, app.addr); n != 1 {
		t.Errorf("%d idle connections, want the new one", n)
	}
}

// The retry is on a new connection; when that fails too, it is not
// retried again.
func TestDirectRetriesOnlyOnce(t *testing.T) {
	closed := make(chan struct{})
	app := newRawApp(t, func(a *rawApp, n int, conn net.Conn, br *bufio.Reader) {
		a.readRawRequest(br)
		if n == 1 {
			io.WriteString(conn, okAnswer("first"))
			conn.Close()
			close(closed)
		}
		// Later connections: closed without an answer.
	})
	c, d := newTestDirect(t, directConfig{})
	mustAnswer(t, c, app.addr, "{}", "first")
	<-closed
	time.Sleep(20 * time.Millisecond)
	_, _, err := directPost(c, app.addr, "/hook", "{}", 5*time.Second)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("error %v, want %v", err, io.ErrUnexpectedEOF)
	}
	if n := d.dials.Load(); n != 2 {
		t.Errorf("%d dials, want 2: one retry, on a new connection, and no more", n)
	}
}

// brokenWriteConn fails its writes as a socket reset by the peer does,
// once broken is set.
type brokenWriteConn struct {
	net.Conn
	broken *atomic.Bool
}

func (c brokenWriteConn) Write(p []byte) (int, error) {
	if c.broken.Load() {
		return 0, &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}
	}
	return c.Conn.Write(p)
}

func TestDirectRetriesAFailedWriteOnAReusedConnection(t *testing.T) {
	app := newRawApp(t, answering(func(conn, req int) string { return okAnswer(fmt.Sprintf("conn %d", conn)) }))
	var broken atomic.Bool
	d := &directDialer{wrap: func(n int, c net.Conn) net.Conn {
		if n == 1 {
			return brokenWriteConn{Conn: c, broken: &broken}
		}
		return c
	}}
	c, _ := newTestDirect(t, directConfig{Dial: d.dial})
	mustAnswer(t, c, app.addr, "{}", "conn 1")
	broken.Store(true)
	mustAnswer(t, c, app.addr, "{}", "conn 2")
	if n := d.dials.Load(); n != 2 {
		t.Errorf("%d dials, want 2", n)
	}
}

// A new connection the app closes without answering is an error at once:
// the request is not sent again.
func TestDirectDoesNotRetryANewConnection(t *testing.T) {
	for _, tc := range []struct {
		name, partial string
	}{{name: "no answer"}, {name: "half an answer", partial: "HTTP/1.1 200 OK\r\nContent-Le"}} {
		t.Run(tc.name, func(t *testing.T) {
			app := newRawApp(t, func(a *rawApp, n int, conn net.Conn, br *bufio.Reader) {
				if _, _, err := a.readRawRequest(br); err == nil {
					io.WriteString(conn, tc.partial)
				}
			})
			c, d := newTestDirect(t, directConfig{})
			if _, _, err := directPost(c, app.addr, "/hook", "{}", 5*time.Second); err == nil {
				t.Fatal("no error, want one")
			} else if upstreamError(err).Status != http.StatusBadGateway {
				t.Errorf("error %v maps to %d, want 502", err, upstreamError(err).Status)
			}
			if n := d.dials.Load(); n != 1 {
				t.Errorf("%d dials, want 1", n)
			}
			if n := app.requests.Load(); n != 1 {
				t.Errorf("the app read %d requests, want 1", n)
			}
		})
	}
}

// Once a byte of the answer arrived on a reused connection, a failure is
// not retried: the app did answer.
func TestDirectDoesNotRetryABegunAnswer(t *testing.T) {
	for _, tc := range []struct{ name, partial string }{
		{name: "header cut", partial: "HTTP/1.1 200 OK\r\nX-A: 1\r\n"},
		{name: "body cut", partial: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := newRawApp(t, func(a *rawApp, n int, conn net.Conn, br *bufio.Reader) {
				if _, _, err := a.readRawRequest(br); err != nil {
					return
				}
				io.WriteString(conn, okAnswer("first"))
				if _, _, err := a.readRawRequest(br); err != nil {
					return
				}
				io.WriteString(conn, tc.partial) // then the connection closes
			})
			c, d := newTestDirect(t, directConfig{})
			mustAnswer(t, c, app.addr, "{}", "first")
			if _, _, err := directPost(c, app.addr, "/hook", "{}", 5*time.Second); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("error %v, want %v", err, io.ErrUnexpectedEOF)
			}
			if n := d.dials.Load(); n != 1 {
				t.Errorf("%d dials, want 1: a begun answer is not retried", n)
			}
		})
	}
}

func TestDirectTimeout(t *testing.T) {
	var slow atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body) // the server notices a closed connection only after the body
		if r.URL.Path == "/slow" {
			slow.Add(1)
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}
	}))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	c, d := newTestDirect(t, directConfig{})
	mustAnswer(t, c, addr, "{}", "") // the slow request goes on a reused connection
	start := time.Now()
	_, _, err := directPost(c, addr, "/slow", "{}", 200*time.Millisecond)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("error %v, want a timeout", err)
	}
	if s := upstreamError(err).Status; s != http.StatusGatewayTimeout {
		t.Errorf("the timeout maps to %d, want 504", s)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %v with a 200ms deadline", el)
	}
	if n := d.dials.Load(); n != 1 {
		t.Errorf("%d dials, want 1: a timeout is not retried", n)
	}
	srv.Close()
	if n := slow.Load(); n != 1 {
		t.Errorf("the app got the slow request %d times, want 1", n)
	}
}

func TestDirectDialErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, d := newTestDirect(t, directConfig{})
	_, _, err = directPost(c, addr, "/hook", "{}", 5*time.Second)
	if err == nil || isTimeout(err) {
		t.Fatalf("error %v, want a refused connection, not a timeout", err)
	}
	if s := upstreamError(err).Status; s != http.StatusBadGateway {
		t.Errorf("a refused dial maps to %d, want 502", s)
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q does not name the address", err)
	}
	// A deadline already passed: a timeout, with nothing dialed.
	d.dials.Store(0)
	_, _, err = c.do(addr, time.Now().Add(-time.Second), directRequest(addr, "/"), nil)
	if !isTimeout(err) || d.dials.Load() != 0 {
		t.Errorf("past deadline: error %v after %d dials, want a timeout and none", err, d.dials.Load())
	}
}

// recordingRawApp records the bytes of the first request on each
// connection and answers 200.
func recordingRawApp(t *testing.T) (*rawApp, func() string) {
	var mu sync.Mutex
	var got bytes.Buffer
	app := newRawApp(t, func(a *rawApp, n int, conn net.Conn, br *bufio.Reader) {
		var rec bytes.Buffer
		tee := bufio.NewReader(io.TeeReader(conn, &rec))
		if _, _, err := a.readRawRequest(tee); err != nil {
			return
		}
		mu.Lock()
		got.Write(rec.Bytes())
		mu.Unlock()
		io.WriteString(conn, okAnswer(""))
	})
	return app, func() string {
		mu.Lock()
		defer mu.Unlock()
		s := got.String()
		got.Reset()
		return s
	}
}

// fieldsSorted is a raw request with its header fields sorted: the order
// of fields with different names carries no meaning, and the direct
// client writes them in map order.
func fieldsSorted(raw string) string {
	head, body, ok := strings.Cut(raw, "\r\n\r\n")
	if !ok {
		return raw
	}
	lines := strings.Split(head, "\r\n")
	slices.Sort(lines[1:])
	return strings.Join(lines, "\r\n") + "\r\n\r\n" + body
}

func TestDirectRequestBytes(t *testing.T) {
	app, received := recordingRawApp(t)
	c, _ := newTestDirect(t, directConfig{MaxIdle: 1})
	for _, tc := range []struct {
		name   string
		body   string
		adjust func(*http.Request)
		want   string
	}{
		{
			name: "body and query",
			body: `{"id":1}`,
			adjust: func(r *http.Request) {
				r.Header["Content-Type"] = []string{"application/json"}
				r.Header["X-Hookguard-Route"] = []string{"/hooks/a"}
				r.ContentLength = 8
			},
			want: "POST /hooks/a?x=1&y=%20 HTTP/1.1\r\nHost: app.internal:8080\r\nContent-Length: 8\r\n" +
				"Content-Type: application/json\r\nX-Hookguard-Route: /hooks/a\r\n\r\n" + `{"id":1}`,
		},
		{
			name: "empty body",
			want: "POST /hooks/a?x=1&y=%20 HTTP/1.1\r\nHost: app.internal:8080\r\nContent-Length: 0\r\n\r\n",
		},
		{
			name: "caller framing ignored",
			body: "abc",
			adjust: func(r *http.Request) {
				r.ContentLength = -1
				r.TransferEncoding = []string{"chunked"}
				r.Trailer = http.Header{"X-Trailer": {"t"}}
			},
			want: "POST /hooks/a?x=1&y=%20 HTTP/1.1\r\nHost: app.internal:8080\r\nContent-Length: 3\r\n\r\nabc",
		},
		{
			name:   "tab and obs-text in a value",
			adjust: func(r *http.Request) { r.Header["X-V"] = []string{"a\tb\xff"} },
			want:   "POST /hooks/a?x=1&y=%20 HTTP/1.1\r\nHost: app.internal:8080\r\nContent-Length: 0\r\nX-V: a\tb\xff\r\n\r\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.closeIdle() // each request on a new connection: recorded from its start
			out := directRequest(app.addr, "/hooks/a?x=1&y=%20")
			out.Host = "app.internal:8080"
			if tc.adjust != nil {
				tc.adjust(out)
			}
			if _, _, err := c.do(app.addr, time.Now().Add(5*time.Second), out, []byte(tc.body)); err != nil {
				t.Fatal(err)
			}
			if got := received(); fieldsSorted(got) != fieldsSorted(tc.want) {
				t.Errorf("the app received\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestDirectRefusesInvalidHeaders(t *testing.T) {
	app, received := recordingRawApp(t)
	c, d := newTestDirect(t, directConfig{})
	for _, tc := range []struct {
		name    string
		adjust  func(*http.Request)
		wantErr error
	}{
		{"name with a space", func(r *http.Request) { r.Header["Bad Name"] = []string{"v"} }, errInvalidHeaderName},
		{"name with NUL", func(r *http.Request) { r.Header["X\x00"] = []string{"v"} }, errInvalidHeaderName},
		{"name with CRLF", func(r *http.Request) { r.Header["X\r\nX-Injected"] = []string{"1"} }, errInvalidHeaderName},
		{"name with a colon", func(r *http.Request) { r.Header["X:Y"] = []string{"v"} }, errInvalidHeaderName},
		{"empty name", func(r *http.Request) { r.Header[""] = []string{"v"} }, errInvalidHeaderName},
		{"value with CRLF", func(r *http.Request) { r.Header["X-Ok"] = []string{"a\r\nX-Injected: 1"} }, errInvalidHeaderValue},
		{"value with LF", func(r *http.Request) { r.Header["X-Ok"] = []string{"a\nX-Injected: 1"} }, errInvalidHeaderValue},
		{"value with NUL", func(r *http.Request) { r.Header["X-Ok"] = []string{"a\x00b"} }, errInvalidHeaderValue},
		{"value with DEL", func(r *http.Request) { r.Header["X-Ok"] = []string{"a\x7f"} }, errInvalidHeaderValue},
		{"second value", func(r *http.Request) { r.Header["X-Ok"] = []string{"fine", "\x01"} }, errInvalidHeaderValue},
		{"User-Agent value", func(r *http.Request) { r.Header["User-Agent"] = []string{"ua\r\nX-Injected: 1"} }, errInvalidHeaderValue},
		{"method", func(r *http.Request) { r.Method = "POST /x HTTP/1.1\r\nX-Injected: 1\r\n\r\nPOST" }, errInvalidMethod},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := directRequest(app.addr, "/hook")
			tc.adjust(out)
			_, _, err := c.do(app.addr, time.Now().Add(5*time.Second), out, []byte("{}"))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == errInvalidHeaderValue && strings.Contains(err.Error(), "Injected: 1") {
				t.Errorf("error %q quotes the value", err)
			}
		})
	}
	if n := d.dials.Load(); n != 0 {
		t.Errorf("%d dials for refused requests, want none", n)
	}
	// The same client, with a valid request, still works; nothing of the
	// refused ones reached the app.
	mustAnswer(t, c, app.addr, "{}", "")
	if got := received(); strings.Contains(got, "Injected") || strings.Count(got, "POST") != 1 {
		t.Errorf("the app received %q", got)
	}
}

// The header checks refuse exactly what http.Transport refuses, for every
// byte in a name and in a value.
func TestDirectHeaderChecksMatchTransport(t *testing.T) {
	errDialed := errors.New("dialed: the request was accepted")
	tr := &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return nil, errDialed }}
	t.Cleanup(tr.CloseIdleConnections)
	transportAccepts := func(h http.Header) bool {
		req, _ := http.NewRequest(http.MethodPost, "http://app.invalid/", nil)
		req.Header = h
		_, err := tr.RoundTrip(req)
		return errors.Is(err, errDialed)
	}
	for b := range 256 {
		for _, h := range []http.Header{
			{"X" + string([]byte{byte(b)}): {"v"}},
			{"X-V": {"a" + string([]byte{byte(b)}) + "b"}},
		} {
			ours := checkOutgoing(&http.Request{Header: h}) == nil
			if theirs := transportAccepts(h); ours != theirs {
				t.Errorf("header %q: accepted here %v, by http.Transport %v", h, ours, theirs)
			}
		}
	}
}

func TestDirectIdleTimeout(t *testing.T) {
	app := newRawApp(t, answering(func(conn, req int) string { return okAnswer(fmt.Sprintf("conn %d", conn)) }))
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	c, d := newTestDirect(t, directConfig{IdleTimeout: time.Minute, Now: func() time.Time { return now }})
	mustAnswer(t, c, app.addr, "{}", "conn 1")
	now = now.Add(time.Minute) // exactly the timeout: still reused
	mustAnswer(t, c, app.addr, "{}", "conn 1")
	now = now.Add(time.Minute + time.Second)
	mustAnswer(t, c, app.addr, "{}", "conn 2")
	if n := d.dials.Load(); n != 2 {
		t.Errorf("%d dials, want 2", n)
	}
	if n := idleLen(c, app.addr); n != 1 {
		t.Errorf("%d idle connections, want only the new one", n)
	}
}

func TestDirectCloseIdle(t *testing.T) {
	release := make(chan struct{})
	var closedConns atomic.Int32
	app := newRawApp(t, func(a *rawApp, n int, conn net.Conn, br *bufio.Reader) {
		defer closedConns.Add(1)
		for {
			req, _, err := a.readRawRequest(br)
			if err != nil {
				return // the client closed the connection
			}
			if req.URL.Path == "/held" {
				<-release
			}
			io.WriteString(conn, okAnswer(req.URL.Path))
		}
	})
	c, d := newTestDirect(t, directConfig{})
	mustAnswer(t, c, app.addr, "{}", "/hook")
	c.closeIdle()
	if n := idleLen(c, app.addr); n != 0 {
		t.Fatalf("%d idle connections after closeIdle", n)
	}
	waitUntil(t, func() bool { return closedConns.Load() == 1 }, "the app to see the idle connection closed")

	// A request in flight during closeIdle: its connection is closed when
	// it is done, not pooled.
	done := make(chan error)
	go func() {
		_, _, err := directPost(c, app.addr, "/held", "{}", 5*time.Second)
		done <- err
	}()
	waitUntil(t, func() bool { return app.requests.Load() == 2 }, "the held request to arrive")
	c.closeIdle()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := idleLen(c, app.addr); n != 0 {
		t.Errorf("%d idle connections: the connection in use during closeIdle was pooled", n)
	}
	waitUntil(t, func() bool { return closedConns.Load() == 2 }, "the app to see it closed")

	// Later requests are pooled again.
	mustAnswer(t, c, app.addr, "{}", "/hook")
	mustAnswer(t, c, app.addr, "{}", "/hook")
	if n := d.dials.Load(); n != 3 {
		t.Errorf("%d dials, want 3", n)
	}
}

// waitUntil polls cond for up to 5s.
func waitUntil(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stubConn is a connection that only records being closed.
type stubConn struct {
	net.Conn
	closed atomic.Bool
}

func (c *stubConn) Close() error                  { c.closed.Store(true); return nil }
func (c *stubConn) SetDeadline(t time.Time) error { return nil }

func TestDirectPoolIsLIFOAndBounded(t *testing.T) {
	c := newDirectClient(directConfig{MaxIdle: 2})
	conns := make([]*stubConn, 3)
	for i := range conns {
		conns[i] = &stubConn{}
		c.put(&directConn{conn: conns[i], addr: "app:80"})
	}
	if !conns[0].closed.Load() || conns[1].closed.Load() || conns[2].closed.Load() {
		t.Fatalf("closed %v %v %v, want only the oldest of three with MaxIdle 2",
			conns[0].closed.Load(), conns[1].closed.Load(), conns[2].closed.Load())
	}
	if pc := c.takeIdle("app:80"); pc == nil || pc.conn != conns[2] || !pc.reused {
		t.Fatalf("took %+v, want the most recently pooled, marked reused", pc)
	}
	if pc := c.takeIdle("app:80"); pc == nil || pc.conn != conns[1] {
		t.Fatalf("took %+v, want the next", pc)
	}
	if pc := c.takeIdle("app:80"); pc != nil {
		t.Fatalf("took %+v from an empty pool", pc)
	}
	if pc := c.takeIdle("other:80"); pc != nil {
		t.Fatalf("took %+v for another address", pc)
	}
}

// Whatever the app answers, the client returns an error or a final status
// with a body within the limit, and never panics.
func FuzzDirectAnswer(f *testing.F) {
	for _, s := range []string{
		okAnswer("ok"),
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffff\r\n",
		"HTTP/1.1 100 Continue\r\n\r\n" + okAnswer("ok"),
		strings.Repeat("HTTP/1.1 103 Early Hints\r\n\r\n", 9) + okAnswer("ok"),
		"HTTP/1.1 101 Switching Protocols\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nclose-delimited",
		"HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\nshort",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		"HTTP/1.1 000 x\r\n\r\n",
		"HTTP/1.1 999 x\r\n\r\n",
		"HTTP/1.1 -12 x\r\n\r\n",
		"HTTP/2 200\r\n\r\n",
		okAnswer("one") + okAnswer("two"),
		"",
		"\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, answer []byte) {
		var wg sync.WaitGroup
		dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
			client, app := net.Pipe()
			wg.Go(func() {
				defer app.Close()
				req, err := http.ReadRequest(bufio.NewReader(app))
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				app.Write(answer)
			})
			return client, nil
		}
		c := newDirectClient(directConfig{Dial: dial})
		resp, body, err := c.do("app:80", time.Now().Add(5*time.Second), directRequest("app:80", "/hook"), []byte("{}"))
		c.closeIdle() // unblocks an app still writing to a pooled connection
		wg.Wait()
		if err != nil {
			if isTimeout(err) {
				t.Fatalf("timeout on an answer that ends: %v", err)
			}
			return
		}
		if resp.StatusCode < 200 || resp.StatusCode > 599 || len(body) > maxUpstreamResponse || resp.Body != http.NoBody {
			t.Fatalf("answer %d with %d bytes, body %T", resp.StatusCode, len(body), resp.Body)
		}
	})
}
