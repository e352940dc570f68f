package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/admin"
	"github.com/hookguard/hookguard/proxy"
)

func TestObserversGiveEveryReportToAll(t *testing.T) {
	m := proxy.NewMetrics()
	obs := withConsole(m, time.Now)
	rec := consoleEvents(obs)
	if rec == nil {
		t.Fatal("no console recorder in the observer")
	}
	obs.Observe(proxy.Report{Route: "/lk", Provider: "livekit", EventID: "EV_1", Outcome: proxy.OutcomeForwarded, Status: 200})
	if evs := rec.Events(0, 0); len(evs) != 1 || evs[0].EventID != "EV_1" {
		t.Fatalf("recorder: %+v", evs)
	}
	if got := gauge(t, m, "hookguard_webhooks_total"); got != 1 {
		t.Fatalf("metrics: %v webhooks", got)
	}
	// The in-flight gauge still moves through the fan-out.
	fo, ok := obs.(proxy.InFlightObserver)
	if !ok {
		t.Fatal("the fan-out lost InFlightObserver")
	}
	fo.InFlight(1)
	fo.InFlight(1)
	fo.InFlight(-1)
	if got := gauge(t, m, "hookguard_forwards_in_flight"); got != 1 {
		t.Fatalf("in flight %v, want 1", got)
	}
	if consoleEvents(m) != nil {
		t.Fatal("found a recorder in the metrics")
	}
}

// gauge sums the values of the metric name (a counter or a gauge).
func gauge(t *testing.T, m *proxy.Metrics, name string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, x := range mf.GetMetric() {
			sum += x.GetCounter().GetValue() + x.GetGauge().GetValue()
		}
	}
	return sum
}

// hookguard serve: the webhooks sent show up in the console's API.
func TestServeConsoleShowsTheWebhooks(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer app.Close()
	cfg := "routes:\n  - path: /lk\n    provider: livekit\n    upstream: " + app.URL + "\n    secrets:\n      devkey: livekit-secret-with-at-least-32-chars\n"
	base, adminURL, _, stop := startServe(t, cfg, mapEnv(nil))
	defer stop()
	if s := postSigned(t, base, "/lk", "livekit-secret-with-at-least-32-chars", "EV_console_ok"); s != 200 {
		t.Fatalf("genuine: %d", s)
	}
	if s := postSigned(t, base, "/lk", "not-the-secret-but-as-long-as-it-0000", "EV_console_forged"); s != 401 {
		t.Fatalf("forged: %d", s)
	}
	if s, page := get(t, adminURL+"/"); s != 200 || !strings.Contains(page, "hookguard console") {
		t.Fatalf("GET /: %d", s)
	}
	_, body := get(t, adminURL+"/console/api/events")
	var list admin.EventList
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Events) != 2 {
		t.Fatalf("events: %s", body)
	}
	forged, ok := list.Events[0], list.Events[1]
	if ok.EventID != "EV_console_ok" || ok.Outcome != "forwarded" || forged.Reason != "signature_mismatch" || forged.Status != 401 {
		t.Fatalf("events %+v", list.Events)
	}
	_, body = get(t, adminURL+"/console/api/summary")
	var sum admin.Summary
	if err := json.Unmarshal([]byte(body), &sum); err != nil || len(sum.Routes) != 1 || sum.Routes[0].Total != 2 || sum.Queue {
		t.Fatalf("summary: %s", body)
	}
}
