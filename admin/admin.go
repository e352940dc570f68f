// Package admin serves hookguard's admin listener: /healthz, /readyz,
// /metrics, and the queue API (DESIGN "The queue API and CLI"). Everything
// but the health endpoints can be put behind a bearer token.
package admin

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
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
	// Token, when set, is required as "Authorization: Bearer <token>" by
	// everything but /healthz and /readyz. Empty: no token (the caller
	// allows that on loopback only).
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
	guard := func(h http.Handler) http.Handler { return requireToken(cfg.Token, h) }
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

// requireToken answers 401 unless the request carries token as a bearer
// token (compared in constant time). An empty token lets every request
// through.
func requireToken(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := bearer(r)
		if !ok || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hookguard admin"`)
			writeError(w, http.StatusUnauthorized, "admin token required (Authorization: Bearer <admin.token>)")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func bearer(r *http.Request) (string, bool) {
	v := r.Header.Get("Authorization")
	if len(v) < 7 || !strings.EqualFold(v[:7], "Bearer ") {
		return "", false
	}
	return strings.TrimSpace(v[7:]), true
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
