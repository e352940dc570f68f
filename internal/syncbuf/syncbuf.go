// Package syncbuf has a bytes.Buffer that goroutines (a child process's
// output copier, a server's logger) may write while a test reads it.
package syncbuf

import (
	"bytes"
	"strings"
	"sync"
	"time"
)

// Buffer is a bytes.Buffer guarded by a mutex. The zero value is ready.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns a copy of what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Reset empties the buffer.
func (b *Buffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// Await reports whether what was written contains sub, waiting up to
// within for it: a writer that buffers (hookguard's log) writes a line
// out a little after it was logged.
func (b *Buffer) Await(sub string, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for {
		if strings.Contains(b.String(), sub) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}
