package main

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookguard/hookguard/verify"
)

// Credentials of the benchmark's LiveKit route.
const (
	apiKey    = "APIbenchKey"
	apiSecret = "bench-secret-0123456789abcdef0123456789"
	// eventSize is the size of every event body, as in the Go benchmarks.
	eventSize = 1024
)

// liveKitEvent returns a participant_joined event as livekit-server's
// protojson writes it, padded by the participant's metadata to n bytes.
func liveKitEvent(id string, at time.Time, n int) []byte {
	ts := strconv.FormatInt(at.Unix(), 10)
	head := `{"event":"participant_joined","room":{"sid":"RM_tYR4fbfmcGeh","name":"bench-room","emptyTimeout":300,"departureTimeout":20,` +
		`"creationTime":"` + ts + `","numParticipants":3,"numPublishers":2},` +
		`"participant":{"sid":"PA_2X7rqKcLh7Fa","identity":"user-48213","state":"ACTIVE","joinedAt":"` + ts + `",` +
		`"name":"Ada Lovelace","version":2,"permission":{"canSubscribe":true,"canPublish":true,"canPublishData":true},` +
		`"region":"eu-central","kind":"STANDARD","attributes":{"role":"speaker"},"metadata":"`
	tail := `"},"id":"` + id + `","createdAt":"` + ts + `"}`
	return []byte(head + strings.Repeat("m", max(0, n-len(head)-len(tail))) + tail)
}

// pool holds n complete, pre-signed HTTP/1.1 requests in one buffer, each a
// new LiveKit event with its own id: request i is buf[off[i]:off[i+1]].
type pool struct {
	buf []byte
	off []int
}

func (p *pool) len() int         { return len(p.off) - 1 }
func (p *pool) req(i int) []byte { return p.buf[p.off[i]:p.off[i+1]] }

// slice is requests [from, to) of p, sharing its buffer.
func (p *pool) slice(from, to int) *pool { return &pool{buf: p.buf, off: p.off[from : to+1]} }

// newPool signs n events on every core. Signing is the sender's cost and
// happens before a run starts, never during it.
func newPool(n int, idPrefix, path string, at time.Time) (*pool, error) {
	parts := make([][]byte, n)
	workers := runtime.GOMAXPROCS(0)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				r, err := signedRequest(idPrefix+strconv.Itoa(i), path, at)
				if err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
					return
				}
				parts[i] = r
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	total := 0
	for _, r := range parts {
		total += len(r)
	}
	p := &pool{buf: make([]byte, 0, total), off: make([]int, 0, n+1)}
	for i, r := range parts {
		p.off = append(p.off, len(p.buf))
		p.buf = append(p.buf, r...)
		parts[i] = nil
	}
	p.off = append(p.off, len(p.buf))
	return p, nil
}

// signedRequest is one raw HTTP/1.1 request as livekit-server sends it.
func signedRequest(id, path string, at time.Time) ([]byte, error) {
	body := liveKitEvent(id, at, eventSize)
	tok, err := verify.SignLiveKit(apiKey, []byte(apiSecret), body, at)
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: hookguard-bench\r\n"+
		"Content-Type: application/webhook+json\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n", path, tok, len(body))
	return append([]byte(head), body...), nil
}
