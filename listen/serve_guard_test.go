package listen_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookguard/hookguard/internal/syncbuf"
	"github.com/hookguard/hookguard/listen"
)

// TestServeRefusesSmuggling: a server from NewServer, run by Serve,
// answers a request with both Content-Length and Transfer-Encoding with
// 400 and closes the connection; the handler never sees it; the refusal
// goes to the configured logger and OnFramingReject.
func TestServeRefusesSmuggling(t *testing.T) {
	var handled, rejected atomic.Int32
	logs := &syncbuf.Buffer{}
	srv := listen.NewServer(listen.ServerConfig{
		Handler:         http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handled.Add(1) }),
		Logger:          slog.New(slog.NewJSONHandler(logs, nil)),
		OnFramingReject: func(reason string) { rejected.Add(1) },
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, time.Second) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST /hooks HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body) // to the end of the connection
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !resp.Close || err != nil {
		t.Errorf("%s (close %v, read %v), want 400 and the connection closed", resp.Status, resp.Close, err)
	}
	if handled.Load() != 0 || rejected.Load() != 1 {
		t.Errorf("handled %d, rejected %d; want 0, 1", handled.Load(), rejected.Load())
	}
	if !strings.Contains(logs.String(), listen.ReasonContentLengthWithTE) {
		t.Errorf("log lacks the refusal:\n%s", logs)
	}
}
