package admin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/hookguard/hookguard/queue"
)

// queueAPI serves the queue API over a queue.Admin.
type queueAPI struct {
	q   queue.Admin
	now func() time.Time
	log *slog.Logger
}

// apiTimeout bounds one store call of the API.
const apiTimeout = 10 * time.Second

func (a *queueAPI) register(mux *http.ServeMux, guard func(http.Handler) http.Handler) {
	handle := func(pattern string, f http.HandlerFunc) { mux.Handle(pattern, guard(a.available(f))) }
	handle("GET /queue", a.status)
	handle("GET /queue/dead", a.deadList)
	handle("GET /queue/dead/{id}", a.deadOne)
	handle("POST /queue/dead/{id}/replay", a.replay)
	handle("DELETE /queue/dead/{id}", a.drop)
}

// available answers 404 when no route uses the queue.
func (a *queueAPI) available(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.q == nil {
			writeError(w, http.StatusNotFound, "no route has delivery: queue")
			return
		}
		f(w, r)
	}
}

// RouteStatus is one route's line of GET /queue.
type RouteStatus struct {
	Route                string  `json:"route"`
	Waiting              int     `json:"waiting"`
	Retrying             int     `json:"retrying"`
	Dead                 int     `json:"dead"`
	OldestWaitingSeconds float64 `json:"oldest_waiting_seconds"`
}

// Status is GET /queue.
type Status struct {
	Routes []RouteStatus `json:"routes"`
}

// DeadLetter is one line of GET /queue/dead.
type DeadLetter struct {
	ID           string    `json:"id"`
	Route        string    `json:"route"`
	EventID      string    `json:"event_id"`
	Type         string    `json:"type"`
	Provider     string    `json:"provider"`
	Attempts     int       `json:"attempts"`
	LastStatus   int       `json:"last_status"`
	LastError    string    `json:"last_error"`
	FirstAttempt time.Time `json:"first_attempt"`
	LastAttempt  time.Time `json:"last_attempt"`
	EnqueuedAt   time.Time `json:"enqueued_at"`
	DeadAt       time.Time `json:"dead_at"`
}

// Attempt is one delivery attempt of GET /queue/dead/{id}.
type Attempt struct {
	At         time.Time `json:"at"`
	Status     int       `json:"status"`
	Error      string    `json:"error"`
	DurationMS float64   `json:"duration_ms"`
}

// Answer is the app's last answer to a dead letter.
type Answer struct {
	Status      int    `json:"status"`
	ContentType string `json:"content_type"`
	// Body is the start of the app's answer (at most 4 KiB), as text.
	Body string `json:"body"`
}

// DeadLetterDetail is GET /queue/dead/{id}: the summary, the attempt
// history and the app's last answer. The webhook's own body is never shown.
type DeadLetterDetail struct {
	DeadLetter
	History []Attempt `json:"history"`
	Answer  *Answer   `json:"answer,omitempty"`
}

func (a *queueAPI) status(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), apiTimeout)
	defer cancel()
	stats, err := a.q.Stats(ctx)
	if err != nil {
		storeError(w, err)
		return
	}
	now := a.now()
	out := Status{Routes: make([]RouteStatus, 0, len(stats))}
	for _, s := range stats {
		out.Routes = append(out.Routes, RouteStatus{Route: s.Route, Waiting: s.Waiting(), Retrying: s.Retrying,
			Dead: s.Dead, OldestWaitingSeconds: s.OldestAge(now).Seconds()})
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *queueAPI) deadList(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), apiTimeout)
	defer cancel()
	list, err := a.q.DeadLetters(ctx, r.URL.Query().Get("route"), 0)
	if err != nil {
		storeError(w, err)
		return
	}
	out := struct {
		Dead []DeadLetter `json:"dead"`
	}{Dead: make([]DeadLetter, 0, len(list))}
	for _, d := range list {
		out.Dead = append(out.Dead, deadLetter(d))
	}
	writeJSON(w, http.StatusOK, out)
}

func deadLetter(d queue.DeadLetter) DeadLetter {
	return DeadLetter{ID: d.ID, Route: d.Route, EventID: d.EventID, Type: d.Type, Provider: d.Provider,
		Attempts: d.Attempts, LastStatus: d.LastStatus, LastError: d.LastError,
		FirstAttempt: d.FirstAttempt, LastAttempt: d.LastAttempt, EnqueuedAt: d.EnqueuedAt, DeadAt: d.DeadAt}
}

func (a *queueAPI) deadOne(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), apiTimeout)
	defer cancel()
	ev, err := a.q.DeadLetter(ctx, r.PathValue("id"))
	if err != nil {
		storeError(w, err)
		return
	}
	out := DeadLetterDetail{DeadLetter: deadLetter(ev.Summary())}
	for _, at := range ev.History {
		out.History = append(out.History, Attempt{At: at.At, Status: at.Status, Error: at.Error,
			DurationMS: float64(at.Duration.Microseconds()) / 1000})
	}
	if ans := ev.Answer; ans != nil {
		out.Answer = &Answer{Status: ans.Status, ContentType: ans.ContentType, Body: string(ans.Body)}
	}
	writeJSON(w, http.StatusOK, out)
}

// replay puts one dead letter back in the queue, or with id "all" every
// dead letter of the route given by ?route=.
func (a *queueAPI) replay(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), apiTimeout)
	defer cancel()
	id := r.PathValue("id")
	if id == "all" {
		route := r.URL.Query().Get("route")
		if route == "" {
			writeError(w, http.StatusBadRequest, "replay all needs ?route=")
			return
		}
		n, err := a.q.ReplayAll(ctx, route)
		a.log.Info("queue: dead letters replayed", "route", route, "count", n, "remote", r.RemoteAddr)
		if err != nil {
			storeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]int{"replayed": n})
		return
	}
	if err := a.q.Replay(ctx, id); err != nil {
		storeError(w, err)
		return
	}
	a.log.Info("queue: dead letter replayed", "id", id, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, map[string]int{"replayed": 1})
}

func (a *queueAPI) drop(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), apiTimeout)
	defer cancel()
	id := r.PathValue("id")
	if err := a.q.Drop(ctx, id); err != nil {
		storeError(w, err)
		return
	}
	a.log.Info("queue: dead letter dropped", "id", id, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, map[string]int{"dropped": 1})
}

// storeError maps the queue's errors to statuses.
func storeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, queue.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such dead letter")
	case errors.Is(err, queue.ErrFull):
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "queue full: the replay would exceed queue.max_events")
	default:
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "queue store unavailable: "+err.Error())
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
