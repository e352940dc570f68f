package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/hookguard/hookguard/admin"
	"github.com/hookguard/hookguard/dedupe"
	"github.com/hookguard/hookguard/queue"
)

// readiness holds what /readyz reports beyond the checks of components.
type readiness struct {
	listening atomic.Bool
}

// adminSettings are the admin section, validated: where it listens ("off":
// nowhere), its token, and whether /metrics is open.
type adminSettings struct {
	listen      string
	token       string
	metricsOpen bool
}

// checkAdmin validates the admin section: off loopback a token is
// required, since the queue API can replay and drop events.
func checkAdmin(cfg *fileConfig, e env) (adminSettings, error) {
	s := adminSettings{listen: defaultAdminListen}
	ac := cfg.Admin
	if ac == nil {
		return s, nil
	}
	if ac.Listen != "" {
		s.listen = ac.Listen
	}
	switch ac.Metrics {
	case "", "token":
	case "open":
		s.metricsOpen = true
	default:
		return s, fmt.Errorf("%w: admin.metrics: %q (want token or open)", errConfig, ac.Metrics)
	}
	if ac.Token != "" {
		t, err := resolveSecret(ac.Token, e)
		if err != nil {
			return s, fmt.Errorf("%w: admin.token: %w", errConfig, err)
		}
		if len(t) < 16 {
			return s, fmt.Errorf("%w: admin.token: at least 16 characters", errConfig)
		}
		s.token = t
	}
	if s.listen != "off" && s.token == "" && !loopback(s.listen) {
		return s, fmt.Errorf("%w: admin.token: required when admin.listen (%s) is not a loopback address: the queue API and the console can replay and drop events", errConfig, s.listen)
	}
	return s, nil
}

// loopback reports whether addr (host:port) listens on loopback only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (rt *runtime) adminHandler() http.Handler {
	checks := []admin.ReadyCheck{{Name: "listeners", Check: func(context.Context) error {
		if !rt.ready.listening.Load() {
			return errors.New("not listening")
		}
		return nil
	}}}
	if p, ok := rt.stores.shared.(dedupe.Pinger); ok {
		checks = append(checks, admin.ReadyCheck{Name: "dedupe_store", Check: p.Ping})
	}
	if p, ok := rt.queue.(queue.Pinger); ok {
		checks = append(checks, admin.ReadyCheck{Name: "queue_store", Check: p.Ping})
	}
	if rt.certs != nil {
		checks = append(checks, admin.ReadyCheck{Name: "certificates", Check: func(context.Context) error { return rt.certs.Ready() }})
	}
	cfg := admin.Config{Metrics: rt.metrics.Handler(), MetricsOpen: rt.admin.metricsOpen, Checks: checks,
		Token: rt.admin.token, Events: consoleEvents(rt.observer), Now: rt.now, Logger: rt.log}
	if rt.queue != nil {
		cfg.Queue = rt.queue
	}
	return admin.New(cfg)
}

// healthcheck asks the admin listener's /readyz and fails unless it
// answers 200. It needs no shell, so a container image can use it.
func healthcheck(ctx context.Context, args []string, stdout io.Writer) error {
	url := "http://" + defaultAdminListen + "/readyz"
	if len(args) > 0 {
		url = args[0]
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Fprint(stdout, string(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d", url, resp.StatusCode)
	}
	return nil
}
