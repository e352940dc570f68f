package admin

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookguard/hookguard/proxy"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func report(route, id, outcome, reason string, at time.Time) proxy.Report {
	return proxy.Report{Route: route, Provider: "livekit", EventID: id, Type: "room_started", Outcome: outcome, Reason: reason,
		Status: 200, UpstreamStatus: 200, Start: at, Duration: 1500 * time.Microsecond}
}

func TestRecorderKeepsTheLatestEvents(t *testing.T) {
	clk := newClock()
	r := NewRecorder(RecorderConfig{Size: 3, Now: clk.Now})
	if evs := r.Events(0, 0); len(evs) != 0 || r.LastSeq() != 0 {
		t.Fatalf("empty recorder: %v", evs)
	}
	for i := range 5 {
		r.Observe(report("/livekit", fmt.Sprintf("EV_%d", i), proxy.OutcomeForwarded, "", clk.Now()))
	}
	cases := []struct {
		name         string
		after        uint64
		limit        int
		wantFirst    string
		wantN        int
		wantFirstSeq uint64
	}{
		{"all kept, newest first", 0, 0, "EV_4", 3, 5},
		{"after a sequence", 3, 0, "EV_4", 2, 5},
		{"limited", 0, 1, "EV_4", 1, 5},
		{"nothing new", 5, 0, "", 0, 0},
		{"a sequence from before a restart", 99, 0, "", 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs := r.Events(c.after, c.limit)
			if len(evs) != c.wantN {
				t.Fatalf("%d events: %+v", len(evs), evs)
			}
			if c.wantN > 0 && (evs[0].EventID != c.wantFirst || evs[0].Seq != c.wantFirstSeq) {
				t.Fatalf("first %+v", evs[0])
			}
		})
	}
	e := r.Events(0, 1)[0]
	if e.Route != "/livekit" || e.Provider != "livekit" || e.Type != "room_started" || e.Status != 200 ||
		e.UpstreamStatus != 200 || e.DurationMS != 1.5 || !e.Time.Equal(clk.Now()) {
		t.Fatalf("event %+v", e)
	}
}

func TestRecorderClipsWhatSendersSend(t *testing.T) {
	r := NewRecorder(RecorderConfig{})
	long := strings.Repeat("é", 300) // 600 bytes
	r.Observe(report("/x", long, proxy.OutcomeRejected, proxy.ReasonStale, time.Time{}))
	e := r.Events(0, 0)[0]
	if len(e.EventID) > maxShown+len("…") || !strings.HasSuffix(e.EventID, "…") || !strings.HasPrefix(e.EventID, "éé") {
		t.Fatalf("clipped id %q (%d bytes)", e.EventID, len(e.EventID))
	}
	if e.Time.IsZero() {
		t.Fatal("a report without Start has no time")
	}
}

func TestRecorderCountsByRouteOutcomeAndReason(t *testing.T) {
	clk := newClock()
	r := NewRecorder(RecorderConfig{Now: clk.Now})
	for _, rep := range []proxy.Report{
		report("/livekit", "a", proxy.OutcomeForwarded, "", clk.Now()),
		report("/livekit", "a", proxy.OutcomeDuplicate, "", clk.Now()),
		report("/livekit", "b", proxy.OutcomeRejected, proxy.ReasonSignatureMismatch, clk.Now()),
		report("/livekit", "c", proxy.OutcomeRejected, proxy.ReasonStale, clk.Now()),
		report("/livekit", "d", proxy.OutcomeRejected, proxy.ReasonStale, clk.Now()),
		report("/livekit", "e", proxy.OutcomeUpstreamError, proxy.ReasonTimeout, clk.Now()),
		report("", "", proxy.OutcomeRejected, proxy.ReasonNotFound, clk.Now()),
	} {
		r.Observe(rep)
	}
	routes := r.Routes()
	if len(routes) != 2 || routes[0].Route != "" || routes[1].Route != "/livekit" {
		t.Fatalf("routes %+v", routes)
	}
	lk := routes[1]
	if lk.Total != 6 || lk.Provider != "livekit" || lk.Outcomes["forwarded"] != 1 || lk.Outcomes["duplicate"] != 1 ||
		lk.Outcomes["rejected"] != 3 || lk.Outcomes["upstream_error"] != 1 {
		t.Fatalf("counts %+v", lk)
	}
	if lk.Reasons["rejected"]["stale"] != 2 || lk.Reasons["rejected"]["signature_mismatch"] != 1 ||
		lk.Reasons["upstream_error"]["upstream_timeout"] != 1 || lk.Reasons["forwarded"] != nil {
		t.Fatalf("reasons %+v", lk.Reasons)
	}
}

func TestRecorderChart(t *testing.T) {
	clk := newClock() // 12:00:10: in the bucket 12:00:00–12:00:30
	r := NewRecorder(RecorderConfig{Now: clk.Now})
	r.Observe(report("/a", "1", proxy.OutcomeForwarded, "", clk.Now()))
	r.Observe(report("/a", "2", proxy.OutcomeRejected, proxy.ReasonStale, clk.Now()))
	clk.Add(time.Minute) // 12:01:10
	r.Observe(report("/a", "3", proxy.OutcomeForwarded, "", clk.Now()))
	r.Observe(report("/a", "4", "something new", "", clk.Now()))

	c := r.Chart()
	if c.BucketSeconds != 30 || len(c.Buckets) != chartBuckets || len(c.Outcomes) != len(chartOutcomes) {
		t.Fatalf("chart shape: %d s, %d buckets, %v", c.BucketSeconds, len(c.Buckets), c.Outcomes)
	}
	last := c.Buckets[len(c.Buckets)-1]
	if want := time.Date(2026, 3, 1, 12, 1, 0, 0, time.UTC); !last.Start.Equal(want) {
		t.Fatalf("last bucket starts %v, want %v", last.Start, want)
	}
	count := func(b ChartBucket, outcome string) uint32 {
		for i, o := range c.Outcomes {
			if o == outcome {
				return b.Counts[i]
			}
		}
		t.Fatalf("no column %q", outcome)
		return 0
	}
	if count(last, "forwarded") != 1 || count(last, "other") != 1 || count(last, "rejected") != 0 {
		t.Fatalf("last bucket %+v", last)
	}
	two := c.Buckets[len(c.Buckets)-3] // 12:00:00
	if count(two, "forwarded") != 1 || count(two, "rejected") != 1 {
		t.Fatalf("bucket of 12:00 %+v", two)
	}

	// 15 minutes later the old counts have left the window, and a bucket
	// reused by the ring starts from zero.
	clk.Add(15 * time.Minute)
	r.Observe(report("/a", "5", proxy.OutcomeDuplicate, "", clk.Now()))
	c = r.Chart()
	var total uint32
	for _, b := range c.Buckets {
		for _, n := range b.Counts {
			total += n
		}
	}
	if total != 1 || count(c.Buckets[len(c.Buckets)-1], "duplicate") != 1 {
		t.Fatalf("after 15 minutes: %d events in the chart", total)
	}
}

func TestRecorderConcurrentUse(t *testing.T) {
	r := NewRecorder(RecorderConfig{Size: 64})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				r.Observe(report("/r", fmt.Sprint(g, i), proxy.OutcomeForwarded, "", time.Now()))
				if i%50 == 0 {
					r.Events(0, 0)
					r.Routes()
					r.Chart()
				}
			}
		}()
	}
	wg.Wait()
	if r.LastSeq() != 4000 || r.Routes()[0].Total != 4000 || len(r.Events(0, 0)) != 64 {
		t.Fatalf("seq %d", r.LastSeq())
	}
}

// BenchmarkRecorderObserve is the cost the console adds to every webhook.
func BenchmarkRecorderObserve(b *testing.B) {
	r := NewRecorder(RecorderConfig{})
	rep := report("/livekit", "EV_bench", proxy.OutcomeForwarded, "", time.Now())
	b.ReportAllocs()
	for b.Loop() {
		r.Observe(rep)
	}
}

func BenchmarkRecorderObserveParallel(b *testing.B) {
	r := NewRecorder(RecorderConfig{})
	rep := report("/livekit", "EV_bench", proxy.OutcomeForwarded, "", time.Now())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Observe(rep)
		}
	})
}
