package admin

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// sessionCookie is the console's cookie. Its value is a random session id
// known to this process only, never the token.
const sessionCookie = "hookguard_console"

const (
	// sessionTTL is how long a login lasts.
	sessionTTL = 12 * time.Hour
	// maxSessions bounds the sessions kept; past it the one that expires
	// first is ended.
	maxSessions = 1000
)

// sessions are the console's logins, in memory: a restart logs everyone
// out. They are kept by the SHA-256 of their id, so a lookup's timing says
// nothing about the ids.
type sessions struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[[sha256.Size]byte]time.Time // expiry
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{now: now, m: map[[sha256.Size]byte]time.Time{}}
}

// start makes a session and returns its id and expiry.
func (s *sessions) start() (string, time.Time) {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	id := base64.RawURLEncoding.EncodeToString(b)
	now := s.now()
	exp := now.Add(sessionTTL)
	s.mu.Lock()
	defer s.mu.Unlock()
	var first [sha256.Size]byte
	var firstExp time.Time
	for k, e := range s.m {
		if !now.Before(e) {
			delete(s.m, k)
		} else if firstExp.IsZero() || e.Before(firstExp) {
			first, firstExp = k, e
		}
	}
	if len(s.m) >= maxSessions {
		delete(s.m, first)
	}
	s.m[sha256.Sum256([]byte(id))] = exp
	return id, exp
}

// valid reports whether r carries the cookie of a live session.
func (s *sessions) valid(r *http.Request) bool {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return false
	}
	k := sha256.Sum256([]byte(c.Value))
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.m[k]
	if ok && !s.now().Before(exp) {
		delete(s.m, k)
		return false
	}
	return ok
}

// end ends r's session, if it has one.
func (s *sessions) end(r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.mu.Lock()
		delete(s.m, sha256.Sum256([]byte(c.Value)))
		s.mu.Unlock()
	}
}

// maxLoginBody bounds the login form.
const maxLoginBody = 4 << 10

// login checks the token posted by the login form and starts a session.
// It needs the console's header (so a cross-site form cannot log a browser
// in) and answers 204 with the cookie, or 401; a refusal is logged without
// what was posted.
func (a *auth) login(w http.ResponseWriter, r *http.Request) {
	if len(a.token) == 0 {
		writeError(w, http.StatusNotFound, "no admin.token: the console needs no login")
		return
	}
	if crossSite(r) || r.Header.Get(ConsoleHeader) != "1" {
		writeError(w, http.StatusForbidden, "log in from the console's own page (header "+ConsoleHeader+": 1)")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "unreadable form")
		return
	}
	got := r.PostForm.Get("token")
	if subtle.ConstantTimeCompare([]byte(got), a.token) != 1 {
		a.log.Warn("console: login refused: wrong admin token", "remote", r.RemoteAddr)
		writeError(w, http.StatusUnauthorized, "wrong admin token")
		return
	}
	id, exp := a.sessions.start()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", Expires: exp,
		MaxAge: int(sessionTTL / time.Second), HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	a.log.Info("console: logged in", "remote", r.RemoteAddr)
	w.WriteHeader(http.StatusNoContent)
}

// logout ends the session and clears the cookie. It is guarded: with the
// cookie it needs the console's header like any change.
func (a *auth) logout(w http.ResponseWriter, r *http.Request) {
	a.sessions.end(r)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}
