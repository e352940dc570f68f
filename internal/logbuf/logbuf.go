// Package logbuf buffers log output so that a busy process does not make
// one write system call per log line. Lines are written out when the
// buffer fills, at every tick (by default 100 ms), and on Flush and Close:
// a process that closes its Writer when it stops (SIGTERM, the end of
// main) loses no line. Only a process killed outright (SIGKILL, a crash
// outside the goroutine that closes it) can lose the lines of the last
// tick.
package logbuf

import (
	"io"
	"sync"
	"time"
)

// Defaults for Config zero values.
const (
	DefaultInterval = 100 * time.Millisecond
	DefaultSize     = 64 << 10
)

// Config configures a Writer.
type Config struct {
	// Out receives the buffered bytes. Required.
	Out io.Writer
	// Interval is how long a line may wait in the buffer. If 0,
	// DefaultInterval.
	Interval time.Duration
	// Size is the buffer size: a write that would grow the buffer past it
	// writes the buffer out first. If 0, DefaultSize.
	Size int
	// Tick, when set, replaces the Interval ticker (for tests): each value
	// received writes the buffer out.
	Tick <-chan time.Time
}

// Writer is an io.Writer that buffers whole writes (a log handler writes
// one line per call) and writes them out in order. Safe for concurrent use.
type Writer struct {
	out  io.Writer
	size int

	mu  sync.Mutex // guards buf and closed
	buf []byte
	// spare is the buffer being written out (or the next one to fill);
	// two buffers let writers go on while one is written.
	spare  []byte
	closed bool

	wmu sync.Mutex // held while writing to out: keeps the order of flushes

	stop chan struct{}
	done chan struct{}
}

// New returns a Writer and starts the goroutine that writes it out at
// each tick; Close stops it.
func New(cfg Config) *Writer {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Size <= 0 {
		cfg.Size = DefaultSize
	}
	w := &Writer{
		out:   cfg.Out,
		size:  cfg.Size,
		buf:   make([]byte, 0, cfg.Size),
		spare: make([]byte, 0, cfg.Size),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	tick := cfg.Tick
	var ticker *time.Ticker
	if tick == nil {
		ticker = time.NewTicker(cfg.Interval)
		tick = ticker.C
	}
	go w.loop(tick, ticker)
	return w
}

func (w *Writer) loop(tick <-chan time.Time, ticker *time.Ticker) {
	defer close(w.done)
	if ticker != nil {
		defer ticker.Stop()
	}
	for {
		select {
		case <-tick:
			w.Flush()
		case <-w.stop:
			return
		}
	}
}

// Write buffers p. When p does not fit (or after Close), the buffer and
// then p are written out at once, and an error doing so is returned.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	if !w.closed && len(w.buf)+len(p) <= w.size {
		w.buf = append(w.buf, p...)
		w.mu.Unlock()
		return len(p), nil
	}
	w.mu.Unlock()

	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.mu.Lock()
	out := w.swap()
	w.mu.Unlock()
	var err error
	if len(out) > 0 {
		_, err = w.out.Write(out)
	}
	w.mu.Lock()
	w.recycle(out)
	w.mu.Unlock()
	if _, werr := w.out.Write(p); werr != nil {
		return 0, werr
	}
	return len(p), err
}

// Flush writes out what is buffered.
func (w *Writer) Flush() error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.mu.Lock()
	out := w.swap()
	w.mu.Unlock()
	if len(out) == 0 {
		return nil
	}
	_, err := w.out.Write(out)
	w.mu.Lock()
	w.recycle(out)
	w.mu.Unlock()
	return err
}

// swap takes the buffer to write out and gives writers the spare. Call
// with mu held.
func (w *Writer) swap() []byte {
	out := w.buf
	w.buf = w.spare[:0]
	w.spare = nil
	return out
}

// recycle keeps out, written, as the next spare. Call with mu held, and
// wmu held since the swap.
func (w *Writer) recycle(out []byte) {
	w.spare = out[:0]
}

// Close writes out what is buffered and stops the ticking goroutine.
// Later writes go through unbuffered. Close is idempotent.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	return w.Flush()
}
