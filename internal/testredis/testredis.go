// Package testredis gives tests a Redis server: the one named by
// HOOKGUARD_TEST_REDIS_URL, or a throwaway redis-server started on a free
// loopback port and stopped when the test ends.
//
// Without either, tests that need Redis are skipped, or fail when CI=true.
package testredis

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookguard/hookguard/internal/freeport"
	"github.com/hookguard/hookguard/internal/syncbuf"
)

// EnvURL names the variable holding the URL of a Redis server for tests.
// Tests share that server: they must use keys of their own and not flush it.
const EnvURL = "HOOKGUARD_TEST_REDIS_URL"

// startTimeout bounds how long a started redis-server may take to answer.
const startTimeout = 10 * time.Second

// URL returns the URL of a Redis server for t: $HOOKGUARD_TEST_REDIS_URL when
// set, else that of a server started for t by Start.
func URL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return Start(t).URL()
}

// Server is a redis-server process owned by one test. It keeps nothing on
// disk: after Stop and Start it is up again on the same address, empty.
type Server struct {
	bin  string
	dir  string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd     // nil while stopped
	done chan struct{} // closed when cmd has exited
}

// Start starts a redis-server from PATH on a free loopback port, waits until
// it answers PING, and stops it when t ends. It ignores
// $HOOKGUARD_TEST_REDIS_URL: a test that stops the server needs its own.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		unavailable(t, "testredis: no redis-server on PATH")
	}
	s := &Server{bin: bin, dir: t.TempDir()}
	t.Cleanup(s.Stop)
	// Another process may take the free port before redis-server binds it:
	// try a few.
	for attempt := 0; ; attempt++ {
		s.port = freePort(t)
		err := s.start()
		if err == nil {
			return s
		}
		if attempt == 2 {
			t.Fatalf("testredis: %v", err)
		}
	}
}

// URL returns the server's URL, redis://127.0.0.1:<port>/0.
func (s *Server) URL() string {
	return "redis://" + s.Addr() + "/0"
}

// Addr returns the server's address, 127.0.0.1:<port>.
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// Stop kills the server (as a crash would) and waits until it has exited.
// Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Start starts a stopped server again on the same address, empty, and waits
// until it answers. Starting a running server does nothing. It returns an
// error rather than failing a test so that any goroutine may call it.
func (s *Server) Start() error {
	if err := s.start(); err != nil {
		return fmt.Errorf("testredis: restart: %w", err)
	}
	return nil
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	out := &syncbuf.Buffer{}
	cmd := exec.Command(s.bin,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
	)
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()

	deadline := time.Now().Add(startTimeout)
	for {
		if ping(s.Addr()) == nil {
			s.cmd, s.done = cmd, done
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("redis-server on port %d exited: %s", s.port, out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("redis-server on port %d did not answer within %v: %s", s.port, startTimeout, out.String())
		}
	}
}

// ping sends PING to addr and expects +PONG.
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	port, err := freeport.Port()
	if err != nil {
		t.Fatalf("testredis: free port: %v", err)
	}
	return port
}

// unavailable skips t, or fails it when CI=true, since CI must run every test.
func unavailable(t testing.TB, msg string) {
	t.Helper()
	msg += "; set " + EnvURL + " or install redis-server"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
