package dedupe_test

// Memory cost of the memory store holding many delivered keys, measured as
// the process's resident memory (VmRSS from /proc/self/status) and as live
// heap, before and after filling one store through Claim + Complete with
// the Record hookguard keeps for an app that answered 200 "ok".
//
//	go test -run='^$' -bench='^BenchmarkMemoryRSSPerKey$' -benchtime=1x ./dedupe/
//
// Target (issue 5): under 200 bytes of RSS per key at 1,000,000 keys.

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/dedupe"
)

// rssKeys is how many keys the benchmark keeps.
const rssKeys = 1_000_000

// procStatusKB reads a "Name:   123 kB" line of /proc/self/status.
func procStatusKB(tb testing.TB, name string) int64 {
	tb.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				tb.Fatalf("%s: %v", name, err)
			}
			return n
		}
	}
	tb.Fatalf("%s not in /proc/self/status", name)
	return 0
}

// settle collects garbage and returns freed pages to the OS, so that RSS
// counts live memory.
func settle() runtime.MemStats {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms
}

func BenchmarkMemoryRSSPerKey(b *testing.B) {
	ctx := context.Background()
	rec := dedupe.Record{Status: 200, ContentType: "text/plain; charset=utf-8", Body: []byte("ok")}
	for b.Loop() {
		keys := make([]byte, 0, 32)
		before := settle()
		rssBefore := procStatusKB(b, "VmRSS")

		m, err := dedupe.NewMemory(dedupe.MemoryConfig{Size: rssKeys, TTL: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for i := range rssKeys {
			// The key the proxy uses: route name, ":", LiveKit event id.
			keys = append(keys[:0], "/livekit:EV_"...)
			keys = strconv.AppendInt(keys, int64(i), 36)
			key := string(keys)
			res, err := m.Claim(ctx, key)
			if err != nil || res.State != dedupe.Claimed {
				b.Fatalf("claim %d: %v %v", i, res.State, err)
			}
			if err := m.Complete(ctx, key, res.Token, rec); err != nil {
				b.Fatal(err)
			}
		}
		fill := time.Since(start)

		after := settle()
		rssAfter := procStatusKB(b, "VmRSS")
		// Still kept: the first key is a duplicate.
		if res, err := m.Claim(ctx, "/livekit:EV_0"); err != nil || res.State != dedupe.Delivered {
			b.Fatalf("first key forgotten: %v %v", res.State, err)
		}
		rssPerKey := float64(rssAfter-rssBefore) * 1024 / rssKeys
		heapPerKey := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / rssKeys
		b.ReportMetric(rssPerKey, "RSS-B/key")
		b.ReportMetric(heapPerKey, "heap-B/key")
		b.ReportMetric(float64(fill.Nanoseconds())/rssKeys, "ns/claim+complete")
		b.Logf("%d keys: RSS %d -> %d kB (%.1f B/key), live heap %.1f B/key, filled in %v",
			rssKeys, rssBefore, rssAfter, rssPerKey, heapPerKey, fill.Round(time.Millisecond))
		m.Close()
		runtime.KeepAlive(m)
	}
}
