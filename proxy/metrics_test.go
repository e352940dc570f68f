package proxy

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsObserveCountsEachSeries(t *testing.T) {
	m := NewMetrics()
	fwd := Report{Route: "lk", Provider: "livekit", Outcome: OutcomeForwarded, Status: 200, UpstreamStatus: 204,
		Verify: 5 * time.Microsecond, Duration: time.Millisecond}
	for range 3 {
		m.Observe(fwd)
	}
	bad := Report{Route: "lk", Provider: "livekit", Outcome: OutcomeRejected, Reason: ReasonSignatureMismatch, Status: 401,
		Verify: time.Microsecond, Duration: time.Millisecond}
	m.Observe(bad)
	down := Report{Route: "lk", Provider: "livekit", Outcome: OutcomeAppRejected, Status: 503, UpstreamStatus: 503,
		Duration: time.Millisecond, StoreError: true}
	m.Observe(down)
	m.Observe(Report{Outcome: OutcomeRejected, Reason: ReasonNotFound, Status: 404})
	m.Observe(Report{Route: "other", Provider: "livekit", Outcome: OutcomeForwarded, UpstreamStatus: 200, Duration: time.Millisecond})

	counts := []struct {
		name string
		got  float64
		want float64
	}{
		{"forwarded", testutil.ToFloat64(m.webhooks.WithLabelValues("lk", "livekit", OutcomeForwarded, "")), 3},
		{"rejected", testutil.ToFloat64(m.webhooks.WithLabelValues("lk", "livekit", OutcomeRejected, ReasonSignatureMismatch)), 1},
		{"unknown path", testutil.ToFloat64(m.webhooks.WithLabelValues("", "", OutcomeRejected, ReasonNotFound)), 1},
		{"other route", testutil.ToFloat64(m.webhooks.WithLabelValues("other", "livekit", OutcomeForwarded, "")), 1},
		{"2xx on lk", testutil.ToFloat64(m.upstream.WithLabelValues("lk", "2xx")), 3},
		{"5xx on lk", testutil.ToFloat64(m.upstream.WithLabelValues("lk", "5xx")), 1},
		{"2xx on other", testutil.ToFloat64(m.upstream.WithLabelValues("other", "2xx")), 1},
		{"store errors", testutil.ToFloat64(m.storeErrors.WithLabelValues("lk")), 1},
	}
	for _, c := range counts {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	// Histograms: verify timed for the 4 verified reports of lk, total
	// for its 5, none for the unknown path.
	if n := testutil.CollectAndCount(m.verifyDur); n != 1 {
		t.Errorf("%d verify series, want 1 (lk; other was not timed)", n)
	}
	if n := testutil.CollectAndCount(m.totalDur); n != 4 {
		t.Errorf("%d duration series, want 4 (lk × 3 outcomes, other)", n)
	}
}

func BenchmarkMetricsObserve(b *testing.B) {
	m := NewMetrics()
	r := Report{Route: "lk", Provider: "livekit", Outcome: OutcomeForwarded, Status: 200, UpstreamStatus: 200,
		Verify: 5 * time.Microsecond, Duration: time.Millisecond}
	b.ReportAllocs()
	for b.Loop() {
		m.Observe(r)
	}
}
