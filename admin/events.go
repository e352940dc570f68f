package admin

import (
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hookguard/hookguard/proxy"
)

// Recorder keeps what the console shows of the webhooks: the latest
// reports, counters per route, outcome and reason since it was made, and
// per-bucket counts by outcome for the chart. It keeps a Report's fields
// only: never a body, a header or a secret. It is a proxy.Observer, safe
// for concurrent use; Observe takes one mutex and allocates nothing once a
// route's counters exist. Create it with NewRecorder.
type Recorder struct {
	now   func() time.Time
	since time.Time

	mu      sync.Mutex
	ring    []record // ring[(seq-1) % len(ring)]
	seq     uint64   // of the latest record; 0: none yet
	counts  map[countKey]uint64
	buckets [chartBuckets]bucket
}

// RecorderConfig configures a Recorder.
type RecorderConfig struct {
	// Size is how many of the latest events are kept. Zero: 500.
	Size int
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
}

// The chart's window: chartBuckets buckets of chartBucket each (15
// minutes).
const (
	chartBucket  = 30 * time.Second
	chartBuckets = 30
)

// chartOutcomes are the outcomes the chart counts, in the order it stacks
// them; anything else is counted as "other".
var chartOutcomes = [...]string{
	proxy.OutcomeForwarded, proxy.OutcomeQueued, proxy.OutcomeDuplicate, proxy.OutcomeRejected,
	proxy.OutcomeAppRejected, proxy.OutcomeUpstreamError, proxy.OutcomeBusy, "other",
}

type record struct {
	seq uint64
	at  time.Time // when it was observed, if the report has no Start
	rep proxy.Report
}

type countKey struct{ route, provider, outcome, reason string }

type bucket struct {
	slot   int64 // unix time / chartBucket of the bucket's start
	counts [len(chartOutcomes)]uint32
}

// NewRecorder returns an empty Recorder.
func NewRecorder(cfg RecorderConfig) *Recorder {
	if cfg.Size <= 0 {
		cfg.Size = 500
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Recorder{now: cfg.Now, since: cfg.Now(), ring: make([]record, cfg.Size), counts: map[countKey]uint64{}}
}

// Observe records one report.
func (r *Recorder) Observe(rep proxy.Report) {
	now := r.now()
	slot := now.UnixNano() / int64(chartBucket)
	oi := outcomeIndex(rep.Outcome)
	r.mu.Lock()
	r.seq++
	r.ring[(r.seq-1)%uint64(len(r.ring))] = record{seq: r.seq, at: now, rep: rep}
	r.counts[countKey{rep.Route, rep.Provider, rep.Outcome, rep.Reason}]++
	b := &r.buckets[slot%chartBuckets]
	if b.slot != slot {
		*b = bucket{slot: slot}
	}
	b.counts[oi]++
	r.mu.Unlock()
}

func outcomeIndex(outcome string) int {
	for i, o := range chartOutcomes[:len(chartOutcomes)-1] {
		if o == outcome {
			return i
		}
	}
	return len(chartOutcomes) - 1
}

// Event is one webhook event as the console shows it.
type Event struct {
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Route    string    `json:"route"`
	Provider string    `json:"provider"`
	EventID  string    `json:"event_id"`
	Type     string    `json:"type"`
	Outcome  string    `json:"outcome"`
	Reason   string    `json:"reason"`
	// Status is what the sender was answered; UpstreamStatus what the app
	// answered (0: it was not asked).
	Status         int     `json:"status"`
	UpstreamStatus int     `json:"upstream_status"`
	DurationMS     float64 `json:"duration_ms"`
}

// maxShown bounds the length of an event id or type as shown: they come
// from senders.
const maxShown = 200

// Events returns the kept events with a sequence number above after, newest
// first, at most limit (0: all kept).
func (r *Recorder) Events(after uint64, limit int) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := min(r.seq-after, r.seq, uint64(len(r.ring)))
	if after > r.seq {
		n = 0 // a sequence from before a restart
	}
	if limit > 0 {
		n = min(n, uint64(limit))
	}
	out := make([]Event, 0, n)
	for seq := r.seq; seq > r.seq-n; seq-- {
		out = append(out, event(r.ring[(seq-1)%uint64(len(r.ring))]))
	}
	return out
}

func event(rec record) Event {
	rep := rec.rep
	at := rep.Start
	if at.IsZero() {
		at = rec.at
	}
	return Event{Seq: rec.seq, Time: at, Route: rep.Route, Provider: rep.Provider,
		EventID: clip(rep.EventID), Type: clip(rep.Type), Outcome: rep.Outcome, Reason: rep.Reason,
		Status: rep.Status, UpstreamStatus: rep.UpstreamStatus,
		DurationMS: float64(rep.Duration.Microseconds()) / 1000}
}

// clip shortens s to at most maxShown bytes, on a rune boundary.
func clip(s string) string {
	if len(s) <= maxShown {
		return s
	}
	i := maxShown
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// RouteCounts are one route's counters since the recorder was made.
type RouteCounts struct {
	// Route is the route's name or path; "" for requests that matched no
	// route.
	Route    string `json:"route"`
	Provider string `json:"provider"`
	Total    uint64 `json:"total"`
	// Outcomes counts events by outcome.
	Outcomes map[string]uint64 `json:"outcomes"`
	// Reasons counts, for each outcome that has reasons (rejected,
	// upstream_error, ...), its events by reason.
	Reasons map[string]map[string]uint64 `json:"reasons"`
}

// Routes returns the counters of every route seen, sorted by route.
func (r *Recorder) Routes() []RouteCounts {
	r.mu.Lock()
	byRoute := map[string]*RouteCounts{}
	for k, n := range r.counts {
		rc := byRoute[k.route]
		if rc == nil {
			rc = &RouteCounts{Route: k.route, Outcomes: map[string]uint64{}, Reasons: map[string]map[string]uint64{}}
			byRoute[k.route] = rc
		}
		if rc.Provider == "" {
			rc.Provider = k.provider
		}
		rc.Total += n
		rc.Outcomes[k.outcome] += n
		if k.reason != "" {
			if rc.Reasons[k.outcome] == nil {
				rc.Reasons[k.outcome] = map[string]uint64{}
			}
			rc.Reasons[k.outcome][k.reason] += n
		}
	}
	r.mu.Unlock()
	out := make([]RouteCounts, 0, len(byRoute))
	for _, rc := range byRoute {
		out = append(out, *rc)
	}
	slices.SortFunc(out, func(a, b RouteCounts) int {
		switch {
		case a.Route < b.Route:
			return -1
		case a.Route > b.Route:
			return 1
		}
		return 0
	})
	return out
}

// Chart is the count of events by outcome per bucket of the last 15
// minutes, oldest bucket first; the last one is the current, partial one.
type Chart struct {
	BucketSeconds int `json:"bucket_seconds"`
	// Outcomes names the columns of every bucket's Counts, in stacking
	// order.
	Outcomes []string      `json:"outcomes"`
	Buckets  []ChartBucket `json:"buckets"`
}

// ChartBucket is one bar of the chart.
type ChartBucket struct {
	Start  time.Time `json:"start"`
	Counts []uint32  `json:"counts"`
}

// Chart returns the chart's buckets as of now.
func (r *Recorder) Chart() Chart {
	now := r.now()
	cur := now.UnixNano() / int64(chartBucket)
	c := Chart{BucketSeconds: int(chartBucket / time.Second), Outcomes: chartOutcomes[:], Buckets: make([]ChartBucket, 0, chartBuckets)}
	r.mu.Lock()
	defer r.mu.Unlock()
	for slot := cur - chartBuckets + 1; slot <= cur; slot++ {
		cb := ChartBucket{Start: time.Unix(0, slot*int64(chartBucket)), Counts: make([]uint32, len(chartOutcomes))}
		if b := r.buckets[slot%chartBuckets]; b.slot == slot {
			copy(cb.Counts, b.counts[:])
		}
		c.Buckets = append(c.Buckets, cb)
	}
	return c
}

// Since is when the recorder was made: its counters start there.
func (r *Recorder) Since() time.Time { return r.since }

// LastSeq is the sequence number of the latest event (0: none yet).
func (r *Recorder) LastSeq() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seq
}

// Size is how many events are kept.
func (r *Recorder) Size() int { return len(r.ring) }

var _ proxy.Observer = (*Recorder)(nil)
