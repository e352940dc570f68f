package proxy

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hookguard/hookguard/queue"
	"github.com/prometheus/client_golang/prometheus"
)

// queueMetrics are the queue's figures: attempts and enqueue latency as
// they happen (queue.Observer), counts per route read from the store when
// scraped.
type queueMetrics struct {
	attempts *prometheus.CounterVec
	enqueue  *prometheus.HistogramVec
	enqueues *prometheus.CounterVec
	stats    *queueCollector
}

func newQueueMetrics() *queueMetrics {
	return &queueMetrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookguard_queue_delivery_attempts_total",
			Help: "Deliveries from the queue to the app, by result: delivered, retry, dead, interrupted.",
		}, []string{"route", "result"}),
		enqueue: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookguard_queue_enqueue_duration_seconds",
			Help:    "Time to store an event durably (fsync'd, or acknowledged by Redis) before the sender is answered.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12),
		}, []string{"route"}),
		enqueues: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookguard_queue_enqueues_total",
			Help: "Enqueue calls by result: stored, duplicate, full, error.",
		}, []string{"route", "result"}),
		stats: newQueueCollector(),
	}
}

func (q *queueMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{q.attempts, q.enqueue, q.enqueues, q.stats}
}

// ObserveEnqueue implements queue.Observer.
func (m *Metrics) ObserveEnqueue(route string, d time.Duration, res queue.Enqueued, err error) {
	result := "stored"
	switch {
	case errors.Is(err, queue.ErrFull):
		result = "full"
	case err != nil:
		result = "error"
	case res.Duplicate:
		result = "duplicate"
	}
	m.queue.enqueues.WithLabelValues(route, result).Inc()
	if err == nil {
		m.queue.enqueue.WithLabelValues(route).Observe(d.Seconds())
	}
}

// ObserveAttempt implements queue.Observer.
func (m *Metrics) ObserveAttempt(route string, result queue.Result, d time.Duration) {
	m.queue.attempts.WithLabelValues(route, result.String()).Inc()
}

// WatchQueue exports the per-route counts of the queue's store.
func (m *Metrics) WatchQueue(a queue.Admin) { m.queue.stats.set(a) }

// queueCollector reads queue.Admin.Stats when scraped.
type queueCollector struct {
	waiting, retrying, dead, oldest *prometheus.Desc

	mu    sync.Mutex
	admin queue.Admin
	now   func() time.Time
}

func newQueueCollector() *queueCollector {
	return &queueCollector{
		waiting: prometheus.NewDesc("hookguard_queue_waiting",
			"Queued events waiting for, or in, their delivery.", []string{"route"}, nil),
		retrying: prometheus.NewDesc("hookguard_queue_retrying",
			"Queued events waiting for a retry after a failed attempt.", []string{"route"}, nil),
		dead: prometheus.NewDesc("hookguard_queue_dead",
			"Dead letters: events the app refused or that ran out of retries.", []string{"route"}, nil),
		oldest: prometheus.NewDesc("hookguard_queue_oldest_waiting_seconds",
			"Age of the oldest event not yet delivered nor dead.", []string{"route"}, nil),
		now: time.Now,
	}
}

func (c *queueCollector) set(a queue.Admin) {
	c.mu.Lock()
	c.admin = a
	c.mu.Unlock()
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.waiting
	ch <- c.retrying
	ch <- c.dead
	ch <- c.oldest
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	a := c.admin
	c.mu.Unlock()
	if a == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	stats, err := a.Stats(ctx)
	if err != nil {
		return // the scrape goes on; readiness reports the store
	}
	now := c.now()
	for _, s := range stats {
		ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(s.Waiting()), s.Route)
		ch <- prometheus.MustNewConstMetric(c.retrying, prometheus.GaugeValue, float64(s.Retrying), s.Route)
		ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(s.Dead), s.Route)
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, s.OldestAge(now).Seconds(), s.Route)
	}
}

var _ queue.Observer = (*Metrics)(nil)
