package proxy

import (
	"net/http"
	"strconv"
	"sync"

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
	// The handles of the series Observe counts in, looked up once each:
	// WithLabelValues hashes its labels and takes a lock on every call.
	series    sync.Map // seriesKey → *series
	verifies  sync.Map // [2]string{route, provider} → prometheus.Observer
	upstreams sync.Map // upstreamKey → prometheus.Counter
}

type seriesKey struct{ route, provider, outcome, reason string }

// series are the handles for one seriesKey: the webhook counter, and for
// a known route its duration histogram.
type series struct {
	webhooks prometheus.Counter
	total    prometheus.Observer
}

type upstreamKey struct {
	route string
	class int // status / 100
}

// upstreamClasses are the class labels of hookguard_upstream_responses_total.
var upstreamClasses = [...]string{"0xx", "1xx", "2xx", "3xx", "4xx", "5xx"}

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
	s := m.seriesOf(seriesKey{r.Route, r.Provider, r.Outcome, r.Reason})
	s.webhooks.Inc()
	if r.Route == "" {
		return // unknown path: no per-route series
	}
	if r.Verify > 0 {
		m.verifyOf(r.Route, r.Provider).Observe(r.Verify.Seconds())
	}
	s.total.Observe(r.Duration.Seconds())
	if r.UpstreamStatus != 0 {
		m.upstreamOf(r.Route, r.UpstreamStatus).Inc()
	}
	if r.StoreError {
		m.storeErrors.WithLabelValues(r.Route).Inc()
	}
}

func (m *Metrics) seriesOf(k seriesKey) *series {
	if s, ok := m.series.Load(k); ok {
		return s.(*series)
	}
	s := &series{webhooks: m.webhooks.WithLabelValues(k.route, k.provider, k.outcome, k.reason)}
	if k.route != "" {
		s.total = m.totalDur.WithLabelValues(k.route, k.provider, k.outcome)
	}
	got, _ := m.series.LoadOrStore(k, s)
	return got.(*series)
}

func (m *Metrics) verifyOf(route, provider string) prometheus.Observer {
	k := [2]string{route, provider}
	if o, ok := m.verifies.Load(k); ok {
		return o.(prometheus.Observer)
	}
	got, _ := m.verifies.LoadOrStore(k, m.verifyDur.WithLabelValues(route, provider))
	return got.(prometheus.Observer)
}

func (m *Metrics) upstreamOf(route string, status int) prometheus.Counter {
	k := upstreamKey{route, status / 100}
	if c, ok := m.upstreams.Load(k); ok {
		return c.(prometheus.Counter)
	}
	class := strconv.Itoa(k.class) + "xx"
	if k.class >= 0 && k.class < len(upstreamClasses) {
		class = upstreamClasses[k.class]
	}
	got, _ := m.upstreams.LoadOrStore(k, m.upstream.WithLabelValues(route, class))
	return got.(prometheus.Counter)
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
