package proxy

import (
	"sync"

	"github.com/hookguard/hookguard/dedupe"
	"github.com/prometheus/client_golang/prometheus"
)

// storeCollector exports the counts of every route's dedupe store that
// reports them (dedupe.StatsReporter), read when scraped.
type storeCollector struct {
	kept, evicted, evictedInWindow *prometheus.Desc

	mu     sync.Mutex
	stores map[string]dedupe.StatsReporter // by route name
}

func newStoreCollector() *storeCollector {
	return &storeCollector{
		kept: prometheus.NewDesc("hookguard_dedupe_keys",
			"Delivered event keys remembered by the route's memory store.", []string{"route"}, nil),
		evicted: prometheus.NewDesc("hookguard_dedupe_evictions_total",
			"Keys the route's memory store forgot for room before they expired.", []string{"route"}, nil),
		evictedInWindow: prometheus.NewDesc("hookguard_dedupe_evictions_in_window_total",
			"Evicted keys still inside the provider's replay window: a replay of one is delivered again. "+
				"Any increase means the route's dedupe size is too small for its traffic.", []string{"route"}, nil),
		stores: make(map[string]dedupe.StatsReporter),
	}
}

// set replaces the stores watched with those of routes.
func (c *storeCollector) set(routes []Route) {
	stores := make(map[string]dedupe.StatsReporter)
	for _, r := range routes {
		if sr, ok := r.Store.(dedupe.StatsReporter); ok {
			stores[r.Name] = sr
		}
	}
	c.mu.Lock()
	c.stores = stores
	c.mu.Unlock()
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.kept
	ch <- c.evicted
	ch <- c.evictedInWindow
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for route, s := range c.stores {
		st := s.Stats()
		ch <- prometheus.MustNewConstMetric(c.kept, prometheus.GaugeValue, float64(st.Kept), route)
		ch <- prometheus.MustNewConstMetric(c.evicted, prometheus.CounterValue, float64(st.Evicted), route)
		ch <- prometheus.MustNewConstMetric(c.evictedInWindow, prometheus.CounterValue, float64(st.EvictedInWindow), route)
	}
}

// WatchStores exports the dedupe counts of routes' stores (those that
// report them), replacing any routes watched before.
func (m *Metrics) WatchStores(routes []Route) { m.stores.set(routes) }
