package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// rawConn is one keep-alive HTTP/1.1 connection that writes pre-formatted
// requests and reads the answers with net/http's parser. It spends far less
// CPU than an http.Client, which matters on a 2-core machine where the load
// generator competes with what it measures.
type rawConn struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
}

// do sends req and returns the answer's status. A connection the server
// closed is dialled again once.
func (k *rawConn) do(req []byte) (int, error) {
	for attempt := 0; ; attempt++ {
		status, err := k.try(req)
		if err == nil || attempt == 1 {
			return status, err
		}
	}
}

func (k *rawConn) try(req []byte) (int, error) {
	if k.c == nil {
		c, err := net.DialTimeout("tcp", k.addr, 5*time.Second)
		if err != nil {
			return 0, err
		}
		k.c = c
		if k.br == nil {
			k.br = bufio.NewReaderSize(c, 16<<10)
		} else {
			k.br.Reset(c)
		}
	}
	k.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := k.c.Write(req); err != nil {
		k.close()
		return 0, err
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		k.close()
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		k.close()
	}
	return resp.StatusCode, err
}

func (k *rawConn) close() {
	if k.c != nil {
		k.c.Close()
		k.c = nil
	}
}

// runStats is what one run measured.
type runStats struct {
	sent, ok, errors int
	elapsed          time.Duration
	lat              []time.Duration // of the requests answered 200, sorted
	firstErr         error
	exhausted        bool // the pool ran out before the time did
}

// merge adds the requests of o to s.
func (s *runStats) merge(o *runStats) {
	s.sent += o.sent
	s.ok += o.ok
	s.errors += o.errors
	s.elapsed += o.elapsed
	s.lat = append(s.lat, o.lat...)
	slices.Sort(s.lat)
	if s.firstErr == nil {
		s.firstErr = o.firstErr
	}
}

func (s *runStats) rps() float64 { return float64(s.ok) / s.elapsed.Seconds() }

func (s *runStats) quantile(q float64) time.Duration {
	if len(s.lat) == 0 {
		return 0
	}
	i := int(q * float64(len(s.lat)))
	return s.lat[min(i, len(s.lat)-1)]
}

// closedLoop sends the pool's requests to addr with conc connections, each
// sending its next request when the previous one is answered, for at most
// d and at most the pool's size. The first warm requests, sent for warm,
// are not counted; onStart, when not nil, runs between the warm-up and the
// measured run.
func closedLoop(addr string, p *pool, conc int, warm, d time.Duration, onStart func()) *runStats {
	var next atomic.Int64
	lat := make([]time.Duration, p.len())
	status := make([]int16, p.len())
	var (
		mu       sync.Mutex
		firstErr error
		errs     atomic.Int64
	)
	worker := func(stop time.Time, record bool, wg *sync.WaitGroup, k *rawConn) {
		defer wg.Done()
		for time.Now().Before(stop) {
			i := int(next.Add(1) - 1)
			if i >= p.len() {
				return
			}
			t0 := time.Now()
			st, err := k.do(p.req(i))
			if !record {
				continue
			}
			lat[i] = time.Since(t0)
			status[i] = int16(st)
			if err != nil || st != http.StatusOK {
				errs.Add(1)
				mu.Lock()
				if firstErr == nil {
					if err == nil {
						err = errors.New(http.StatusText(st))
					}
					firstErr = err
				}
				mu.Unlock()
			}
		}
	}
	conns := make([]*rawConn, conc)
	for i := range conns {
		conns[i] = &rawConn{addr: addr}
	}
	defer func() {
		for _, k := range conns {
			k.close()
		}
	}()
	if warm > 0 {
		var wg sync.WaitGroup
		stop := time.Now().Add(warm)
		for _, k := range conns {
			wg.Add(1)
			go worker(stop, false, &wg, k)
		}
		wg.Wait()
	}
	startIdx := int(next.Load())
	if onStart != nil {
		onStart()
	}
	var wg sync.WaitGroup
	start := time.Now()
	stop := start.Add(d)
	for _, k := range conns {
		wg.Add(1)
		go worker(stop, true, &wg, k)
	}
	wg.Wait()
	elapsed := time.Since(start)
	end := min(int(next.Load()), p.len())
	s := &runStats{elapsed: elapsed, exhausted: int(next.Load()) >= p.len(), firstErr: firstErr}
	for i := startIdx; i < end; i++ {
		if status[i] == 0 && lat[i] == 0 {
			continue // taken after the stop, not sent
		}
		s.sent++
		if status[i] == http.StatusOK {
			s.ok++
			s.lat = append(s.lat, lat[i])
		}
	}
	s.errors = int(errs.Load())
	slices.Sort(s.lat)
	return s
}

// openLoop sends the pool's requests to addr at a fixed rate, whatever the
// answers, through up to conc connections. Latency runs from the moment a
// request was due, so a queue building up counts (no coordinated
// omission).
func openLoop(addr string, p *pool, rate float64, conc int) *runStats {
	n := p.len()
	type job struct {
		i   int
		due time.Time
	}
	jobs := make(chan job, n)
	lat := make([]time.Duration, n)
	status := make([]int16, n)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := &rawConn{addr: addr}
			defer k.close()
			for j := range jobs {
				st, err := k.do(p.req(j.i))
				lat[j.i] = time.Since(j.due)
				status[j.i] = int16(st)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		jobs <- job{i: i, due: due}
	}
	close(jobs)
	wg.Wait()
	s := &runStats{sent: n, elapsed: time.Since(start), firstErr: firstErr}
	for i := range n {
		if status[i] == http.StatusOK {
			s.ok++
			s.lat = append(s.lat, lat[i])
		} else {
			s.errors++
		}
	}
	slices.Sort(s.lat)
	return s
}
