package queue

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkDiskEnqueue measures a durable Enqueue (fsync'd before it
// returns) alone and with 32 concurrent callers, through the store's commit
// loop and, for comparison, through bbolt's db.Batch with two delays.
// commits/op is the number of write transactions per Enqueue; bbolt
// fdatasyncs twice per commit (pages, then meta).
//
//	go test -run '^$' -bench BenchmarkDiskEnqueue -benchtime 2000x ./queue/
func BenchmarkDiskEnqueue(b *testing.B) {
	modes := []struct {
		name  string
		delay time.Duration // 0: the commit loop
	}{
		{"loop", 0},
		{"bbolt-batch-10ms", 10 * time.Millisecond},
		{"bbolt-batch-1ms", time.Millisecond},
	}
	for _, conc := range []int{1, 32} {
		for _, m := range modes {
			b.Run(fmt.Sprintf("conc=%d/%s", conc, m.name), func(b *testing.B) {
				d := openTestDisk(b, DiskConfig{Path: filepath.Join(b.TempDir(), "queue.db"), boltBatch: m.delay})
				benchEnqueue(b, d, conc)
			})
		}
	}
}

func benchEnqueue(b *testing.B, d *Disk, conc int) {
	body := make([]byte, 1024)
	var seq atomic.Int64
	ev := func() *Event {
		e := newEvent("/bench", strconv.FormatInt(seq.Add(1), 10))
		e.Body = body
		return e
	}
	before := d.commits.Load()
	b.ResetTimer()
	if conc == 1 {
		for range b.N {
			if _, err := d.Enqueue(context.Background(), ev()); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		// RunParallel starts GOMAXPROCS×p goroutines.
		b.SetParallelism(max(1, conc/max(1, testingProcs())))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := d.Enqueue(context.Background(), ev()); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.StopTimer()
	b.ReportMetric(float64(d.commits.Load()-before)/float64(b.N), "commits/op")
}

func testingProcs() int { return runtime.GOMAXPROCS(0) }
