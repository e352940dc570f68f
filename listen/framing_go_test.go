package listen

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestGoServerWithoutGuard records what Go's server does, unguarded,
// with each stream the guard refuses, and pins the cases that are the
// reason for the guard: Go serves them. If a Go release starts refusing
// one, this test says so (the guard stays harmless).
func TestGoServerWithoutGuard(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	// Paths the handler got, with the error reading the body: io.EOF
	// or io.ErrUnexpectedEOF when the input ended before the body did
	// (Go took the framing so far).
	served := map[string]error{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		mu.Lock()
		served[r.URL.Path] = err
		mu.Unlock()
	}), ReadHeaderTimeout: 2 * time.Second, ErrorLog: discardLog()}
	go srv.Serve(ln)
	defer srv.Close()

	goAccepts := map[string]bool{}
	for i, tt := range refusalCases() {
		path := "/c" + string(rune('A'+i/26)) + string(rune('a'+i%26))
		in := strings.Replace(tt.in, " / ", " "+path+" ", 1) + last
		sendAndClose(t, ln.Addr().String(), in)
		var s scanner
		s.scan([]byte(tt.in))
		mu.Lock()
		err, ok := served[path]
		mu.Unlock()
		goAccepts[tt.name] = ok && (s.inHead || err == nil || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF))
	}
	var accepted, refused []string
	for name, ok := range goAccepts {
		if ok {
			accepted = append(accepted, name)
		} else {
			refused = append(refused, name)
		}
	}
	sort.Strings(accepted)
	sort.Strings(refused)
	t.Logf("Go serves:\n  %s", strings.Join(accepted, "\n  "))
	t.Logf("Go refuses:\n  %s", strings.Join(refused, "\n  "))
	for _, name := range []string{
		"content-length and chunked", "chunked and content-length", "Chunked", "CHUNKED",
		"transfer-encoding on 1.0", "two equal content-lengths", "bare lf ends the request line",
		"bare lf ends a field line", "bare lf ends the head", "obs-fold", "obs-fold of transfer-encoding",
		"HTTP/1.2", "chunk size with trailing space", "control byte in a chunk extension",
		"bare lf ends the message", "bare lf in the trailer",
		"long chunk extension", "chunk size 2^31",
	} {
		if !goAccepts[name] {
			t.Errorf("Go's server now refuses %q", name)
		}
	}
}

// sendAndClose writes in on a new connection, half-closes it and reads
// until the server closes it.
func sendAndClose(t *testing.T, addr, in string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	io.WriteString(c, in)
	c.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, c)
}
