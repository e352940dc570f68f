package logbuf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// sink records each write to out.
type sink struct {
	mu     sync.Mutex
	writes []string
	err    error
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	s.writes = append(s.writes, string(p))
	return len(p), nil
}

func (s *sink) all() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.writes, ""), len(s.writes)
}

func TestLinesWaitForTheTick(t *testing.T) {
	var out sink
	tick := make(chan time.Time)
	w := New(Config{Out: &out, Tick: tick})
	defer w.Close()
	for i := range 3 {
		fmt.Fprintf(w, "line %d\n", i)
	}
	if got, n := out.all(); n != 0 {
		t.Fatalf("written before the tick: %q", got)
	}
	tick <- time.Now()
	tick <- time.Now() // the first tick's flush has finished once this is taken
	got, n := out.all()
	if got != "line 0\nline 1\nline 2\n" || n != 1 {
		t.Fatalf("after a tick: %d writes %q, want the 3 lines in one", n, got)
	}
}

func TestTheTickerFlushesWithoutHelp(t *testing.T) {
	var out sink
	w := New(Config{Out: &out, Interval: 5 * time.Millisecond})
	defer w.Close()
	fmt.Fprintln(w, "hello")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if got, _ := out.all(); got == "hello\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a buffered line was never written out by the ticker")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCloseWritesEverythingAndThenWritesThrough(t *testing.T) {
	var out sink
	w := New(Config{Out: &out, Tick: make(chan time.Time)})
	fmt.Fprintln(w, "last words")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := out.all(); got != "last words\n" {
		t.Fatalf("after Close: %q", got)
	}
	fmt.Fprintln(w, "after")
	if got, _ := out.all(); got != "last words\nafter\n" {
		t.Fatalf("a write after Close was not written through: %q", got)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestFullBufferIsWrittenOutInOrder(t *testing.T) {
	var out sink
	w := New(Config{Out: &out, Size: 16, Tick: make(chan time.Time)})
	defer w.Close()
	var want bytes.Buffer
	for i := range 20 {
		line := fmt.Sprintf("%d\n", i)
		want.WriteString(line)
		w.Write([]byte(line))
	}
	big := strings.Repeat("x", 40) + "\n" // larger than the buffer
	want.WriteString(big)
	w.Write([]byte(big))
	fmt.Fprintln(w, "tail")
	want.WriteString("tail\n")
	w.Flush()
	got, n := out.all()
	if got != want.String() {
		t.Fatalf("got %q, want %q", got, want.String())
	}
	if n < 3 {
		t.Fatalf("%d writes for 21 lines through a 16-byte buffer: not written out when full", n)
	}
}

func TestWriteErrorsAreReported(t *testing.T) {
	out := sink{err: errors.New("disk full")}
	w := New(Config{Out: &out, Size: 8, Tick: make(chan time.Time)})
	w.Write([]byte("1234\n"))
	if _, err := w.Write([]byte("56789\n")); err == nil {
		t.Fatal("a failed write-out was not reported")
	}
	w.Write([]byte("x\n"))
	if err := w.Close(); err == nil {
		t.Fatal("Close did not report the failed write-out")
	}
}

func TestConcurrentWritersKeepWholeLines(t *testing.T) {
	var out sink
	w := New(Config{Out: &out, Size: 256, Interval: time.Millisecond})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				fmt.Fprintf(w, "g%d-%03d\n", g, i)
			}
		}()
	}
	wg.Wait()
	w.Close()
	got, _ := out.all()
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != 8*500 {
		t.Fatalf("%d lines, want %d", len(lines), 8*500)
	}
	last := map[byte]string{}
	for _, l := range lines {
		if len(l) != 6 || l[0] != 'g' {
			t.Fatalf("torn line %q", l)
		}
		if prev := last[l[1]]; prev >= l {
			t.Fatalf("goroutine %c's lines out of order: %q after %q", l[1], l, prev)
		}
		last[l[1]] = l
	}
}

func BenchmarkWrite(b *testing.B) {
	w := New(Config{Out: io.Discard})
	defer w.Close()
	line := []byte(`{"time":"2026-12-01T10:00:00.000Z","level":"INFO","msg":"webhook","route":"livekit"}` + "\n")
	b.ReportAllocs()
	for b.Loop() {
		w.Write(line)
	}
}
