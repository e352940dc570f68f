package proxy

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics counts webhooks for Prometheus. It is an Observer with its own
// registry (no global state). Create it with NewMetrics.
type Metrics struct {
	reg         *prometheus.Registry
	webhooks    *prometheus.CounterVec
	verifyDur   *prometheus.HistogramVec
	totalDur    *prometheus.HistogramVec
	upstream    *prometheus.CounterVec
	storeErrors *prometheus.CounterVec
	inFlight    prometheus.Gauge
	framing     *prometheus.CounterVec
	reloads     *prometheus.CounterVec
	stores      *storeCollector
	queue       *queueMetrics
}

// NewMetrics returns Metrics registered in a new registry, with the Go and
// process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookguard_webhooks_total",
			Help: "Webhook events (or refused requests) by route, provider, outcome and reason.",
		}, []string{"route", "provider", "outcome", "reason"}),
		verifyDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookguard_verify_duration_seconds",
			Help:    "Time spent verifying a request's signature.",
			Buckets: []float64{5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2},
		}, []string{"route", "provider"}),
		totalDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookguard_request_duration_seconds",
			Help:    "Time from receiving a webhook to answering it, by outcome.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12),
		}, []string{"route", "provider", "outcome"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookguard_upstream_responses_total",
			Help: "Answers of the app by status class (2xx, 3xx, 4xx, 5xx).",
		}, []string{"route", "class"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookguard_dedupe_store_errors_total",
			Help: "Events for which the dedupe store could not be used.",
		}, []string{"route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hookguard_forwards_in_flight",
			Help: "Events being forwarded to an app right now.",
		}),
		framing: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookguard_framing_rejected_total",
			Help: "Connections refused (400, closed) for ambiguous HTTP/1 framing, by reason: request smuggling attempts.",
		}, []string{"reason"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookguard_config_reloads_total",
			Help: "Config reloads (SIGHUP, or watch: true) by result: ok, unchanged, invalid, restart_required.",
		}, []string{"result"}),
		stores: newStoreCollector(),
		queue:  newQueueMetrics(),
	}
	m.reg.MustRegister(m.queue.collectors()...)
	m.reg.MustRegister(m.webhooks, m.verifyDur, m.totalDur, m.upstream, m.storeErrors, m.inFlight, m.stores, m.framing, m.reloads,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Observe counts one report.
func (m *Metrics) Observe(r Report) {
	m.webhooks.WithLabelValues(r.Route, r.Provider, r.Outcome, r.Reason).Inc()
	if r.Route == "" {
		return // unknown path: no per-route series
	}
	if r.Verify > 0 {
		m.verifyDur.WithLabelValues(r.Route, r.Provider).Observe(r.Verify.Seconds())
	}
	m.totalDur.WithLabelValues(r.Route, r.Provider, r.Outcome).Observe(r.Duration.Seconds())
	if r.UpstreamStatus != 0 {
		m.upstream.WithLabelValues(r.Route, strconv.Itoa(r.UpstreamStatus/100)+"xx").Inc()
	}
	if r.StoreError {
		m.storeErrors.WithLabelValues(r.Route).Inc()
	}
}

// FramingRejected counts a connection refused for ambiguous framing; it
// is a listen.ServerConfig.OnFramingReject.
func (m *Metrics) FramingRejected(reason string) { m.framing.WithLabelValues(reason).Inc() }

// ConfigReloaded counts a reload by result: ok, unchanged, invalid,
// restart_required.
func (m *Metrics) ConfigReloaded(result string) { m.reloads.WithLabelValues(result).Inc() }

// InFlight moves the in-flight gauge.
func (m *Metrics) InFlight(delta int) { m.inFlight.Add(float64(delta)) }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry exposes the registry, e.g. to gather in tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

var (
	_ Observer         = (*Metrics)(nil)
	_ InFlightObserver = (*Metrics)(nil)
)
