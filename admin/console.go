package admin

import (
	"embed"
	"io/fs"
	"net/http"
	"strconv"
	"time"
)

// The console's page, script and style: plain files, no build step, no
// CDN. The page draws everything from the JSON API with textContent (never
// innerHTML), so what senders put in event ids and types stays text.
//
//go:embed console
var consoleFiles embed.FS

// consoleCSP allows the page its own script, style and API, nothing
// inline and nothing from elsewhere.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// console serves GET / (the page), /login (its form), /console/static/...
// (script and style) and /console/api/... (what the page polls).
type console struct {
	events *Recorder
	queue  bool
	login  bool // a token is set: the page offers a logout
	now    func() time.Time
}

func (c *console) register(mux *http.ServeMux, a *auth) {
	static, _ := fs.Sub(consoleFiles, "console")
	mux.Handle("GET /{$}", a.page(htmlFile(static, "index.html")))
	mux.Handle("GET /login", htmlFile(static, "login.html"))
	mux.HandleFunc("POST /login", a.login)
	mux.Handle("POST /logout", a.guard(http.HandlerFunc(a.logout)))
	files := http.StripPrefix("/console/static/", http.FileServerFS(static))
	mux.Handle("GET /console/static/{file}", files)
	mux.Handle("GET /console/api/summary", a.guard(http.HandlerFunc(c.summary)))
	mux.Handle("GET /console/api/events", a.guard(http.HandlerFunc(c.eventList)))
}

// htmlFile serves one page of the console with its Content-Security-Policy.
func htmlFile(fsys fs.FS, name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.Header().Set("Content-Security-Policy", consoleCSP)
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(b)
	})
}

// Summary is GET /console/api/summary: the counters, the chart and what
// the page should show.
type Summary struct {
	Now   time.Time `json:"now"`
	Since time.Time `json:"since"`
	// Queue is whether a route has delivery: queue (the page then polls
	// /queue and /queue/dead).
	Queue bool `json:"queue"`
	// Login is whether an admin token is set (the page then offers to log
	// out).
	Login bool `json:"login"`
	// Kept is how many of the latest events the console keeps.
	Kept    int           `json:"kept"`
	LastSeq uint64        `json:"last_seq"`
	Routes  []RouteCounts `json:"routes"`
	Chart   Chart         `json:"chart"`
}

func (c *console) summary(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, Summary{Now: c.now(), Since: c.events.Since(), Queue: c.queue, Login: c.login,
		Kept: c.events.Size(), LastSeq: c.events.LastSeq(), Routes: c.events.Routes(), Chart: c.events.Chart()})
}

// EventList is GET /console/api/events[?after=SEQ][&limit=N]: the events
// after SEQ, newest first.
type EventList struct {
	LastSeq uint64  `json:"last_seq"`
	Events  []Event `json:"events"`
}

func (c *console) eventList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var after uint64
	var limit int
	var err error
	if v := q.Get("after"); v != "" {
		if after, err = strconv.ParseUint(v, 10, 64); err != nil {
			writeError(w, http.StatusBadRequest, "after: not a sequence number")
			return
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 0 {
			writeError(w, http.StatusBadRequest, "limit: not a count")
			return
		}
	}
	// LastSeq is read first: an event observed in between shows up in the
	// next poll, never is skipped.
	last := c.events.LastSeq()
	evs := c.events.Events(after, limit)
	for len(evs) > 0 && evs[0].Seq > last {
		evs = evs[1:]
	}
	writeJSON(w, http.StatusOK, EventList{LastSeq: last, Events: evs})
}
