// Package admin serves hookguard's admin listener: /healthz, /readyz,
// /metrics, the queue API (DESIGN "The queue API and CLI") and the console
// at /. Everything but the health endpoints can be put behind a token,
// sent as a bearer token or through the console's login form.
package admin

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/hookguard/hookguard/queue"
)

// ReadyCheck is one condition of /readyz.
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// Config configures the admin handler.
type Config struct {
	// Metrics serves /metrics. Nil: no /metrics.
	Metrics http.Handler
	// MetricsOpen serves /metrics without the token (for scrapers that
	// cannot send one). False: behind the token when one is set.
	MetricsOpen bool
	// Checks are /readyz's conditions.
	Checks []ReadyCheck
	// Queue serves the queue API. Nil: no queue routes, the API answers
	// 404.
	Queue queue.Admin
	// Events, when set, is what the console at / shows. Nil: no console.
	Events *Recorder
	// Token, when set, is required by everything but /healthz and
	// /readyz, as "Authorization: Bearer <token>" or as the session
	// cookie the console's login form sets. Empty: no token (the caller
	// allows that on loopback only), and only loopback host names are
	// answered.
	Token string
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
	// Logger receives one line per queue action. Nil: slog.Default().
	Logger *slog.Logger
}

// New returns the admin handler.
func New(cfg Config) http.Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	mux := http.NewServeMux()
	a := &auth{token: []byte(cfg.Token), sessions: newSessions(cfg.Now), log: cfg.Logger}
	guard := a.guard
	if cfg.Metrics != nil {
		if cfg.MetricsOpen {
			mux.Handle("GET /metrics", cfg.Metrics)
		} else {
			mux.Handle("GET /metrics", guard(cfg.Metrics))
		}
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { ready(w, r, cfg.Checks) })
	q := &queueAPI{q: cfg.Queue, now: cfg.Now, log: cfg.Logger}
	q.register(mux, guard)
	if cfg.Events != nil {
		c := &console{events: cfg.Events, queue: cfg.Queue != nil, login: cfg.Token != "", now: cfg.Now}
		c.register(mux, a)
	}
	return securityHeaders(mux)
}

func ready(w http.ResponseWriter, r *http.Request, checks []ReadyCheck) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	var failed []string
	for _, c := range checks {
		if err := c.Check(ctx); err != nil {
			failed = append(failed, c.Name+": "+err.Error())
		}
	}
	if len(failed) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		for _, f := range failed {
			fmt.Fprintln(w, "not ready:", f)
		}
		return
	}
	fmt.Fprintln(w, "ready")
}

// securityHeaders sets what every admin answer carries: no sniffing, no
// framing, no caching of queue data.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}
