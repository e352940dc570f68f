package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// rssPerKey starts a fresh hookguard remembering up to o.rssKeys events,
// sends it that many new events, and reports the growth of its RSS per key.
func rssPerKey(ctx context.Context, w io.Writer, dir, bin, appAddr string, o options) error {
	p, addr, admin, err := startHookguard(dir, bin, appAddr, "warn", o.rssKeys)
	if err != nil {
		return err
	}
	defer p.stop()
	warm, err := newPool(2000, "EV_rsswarm_", "/livekit", time.Now())
	if err != nil {
		return err
	}
	closedLoop(addr, warm, o.concurrency, 0, time.Minute, nil)
	time.Sleep(2 * time.Second)
	before := statusKB(p.pid(), "VmRSS")
	heap0 := metric(admin, "go_memstats_heap_inuse_bytes")
	fmt.Fprintf(w, "\ndedupe memory through the binary: sending %d new events (log level warn, --dedupe-size %d), %d connections\n",
		o.rssKeys, o.rssKeys, o.concurrency)
	const chunk = 100000
	sent, ok := 0, 0
	start := time.Now()
	for sent < o.rssKeys {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(chunk, o.rssKeys-sent)
		pl, err := newPool(n, fmt.Sprintf("EV_rss_%d_", sent), "/livekit", time.Now())
		if err != nil {
			return err
		}
		st := closedLoop(addr, pl, o.concurrency, 0, 10*time.Minute, nil)
		sent += st.sent
		ok += st.ok
		if st.sent < n || st.ok < st.sent {
			return fmt.Errorf("rss run: %d of %d sent, %d answered 200 (first error: %v)", st.sent, n, st.ok, st.firstErr)
		}
		fmt.Fprintf(os.Stderr, "  %d/%d events (%.0f req/s), RSS %s\n", sent, o.rssKeys, st.rps(), mib(statusKB(p.pid(), "VmRSS")))
	}
	elapsed := time.Since(start)
	time.Sleep(2 * time.Second)
	after := statusKB(p.pid(), "VmRSS")
	heap1 := metric(admin, "go_memstats_heap_inuse_bytes")
	fmt.Fprintf(w, "  %d events answered 200 in %v; RSS %s -> %s: %.0f B/key; heap in use %.0f B/key; peak RSS %s\n",
		ok, elapsed.Round(time.Second), mib(before), mib(after), float64(after-before)*1024/float64(ok),
		(heap1-heap0)/float64(ok), mib(statusKB(p.pid(), "VmHWM")))
	return nil
}

// metric reads one unlabelled gauge from hookguard's /metrics.
func metric(admin, name string) float64 {
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}
