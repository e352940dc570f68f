package admin

import (
	"crypto/subtle"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// ConsoleHeader must be sent, with the value "1", by every request that
// changes state (replay, drop, login, logout) and is authenticated by the
// console's cookie: a cross-site form cannot send a custom header, and a
// cross-site script cannot without a CORS preflight, which is never
// granted.
const ConsoleHeader = "X-Hookguard-Console"

// auth decides who may use the guarded endpoints: a request with the
// token as a bearer token, or with a session cookie from the console's
// login. Without a token everything is open, to loopback host names only.
type auth struct {
	token    []byte
	sessions *sessions
	log      *slog.Logger
}

// denial is why a request was refused.
type denial struct {
	status int
	msg    string
}

// check returns nil when r may go on, else why not.
func (a *auth) check(r *http.Request) *denial {
	if !safeMethod(r.Method) && crossSite(r) {
		return &denial{http.StatusForbidden, "cross-site request refused"}
	}
	if len(a.token) == 0 {
		// Open on loopback: refuse other host names, so that a web page
		// whose name is made to resolve to 127.0.0.1 (DNS rebinding)
		// cannot read or change the queue from the operator's browser.
		if !loopbackHost(r.Host) {
			return &denial{http.StatusForbidden, "without admin.token the admin listener answers loopback host names only (127.0.0.1, [::1], localhost)"}
		}
		return nil
	}
	if got, ok := bearer(r); ok {
		if subtle.ConstantTimeCompare([]byte(got), a.token) != 1 {
			return &denial{http.StatusUnauthorized, "admin token required (Authorization: Bearer <admin.token>)"}
		}
		return nil
	}
	if a.sessions.valid(r) {
		if !safeMethod(r.Method) && r.Header.Get(ConsoleHeader) != "1" {
			return &denial{http.StatusForbidden, "a change made with the console's cookie needs the header " + ConsoleHeader + ": 1"}
		}
		return nil
	}
	return &denial{http.StatusUnauthorized, "admin token required (Authorization: Bearer <admin.token>, or log in to the console)"}
}

// guard answers with the denial, as JSON, unless check lets r through.
func (a *auth) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := a.check(r); d != nil {
			if d.status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="hookguard admin"`)
			}
			writeError(w, d.status, d.msg)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// page guards a page for people: without a token or session it sends them
// to the login form.
func (a *auth) page(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := a.check(r); d != nil {
			if d.status == http.StatusUnauthorized {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			writeError(w, d.status, d.msg)
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

func safeMethod(m string) bool { return m == http.MethodGet || m == http.MethodHead }

// crossSite reports whether a browser says r comes from another site (or
// origin): by Sec-Fetch-Site, else by an Origin that is not r's host.
// Requests that are not from a browser (the CLI, curl) carry neither.
func crossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return true
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return false
	}
	u, err := url.Parse(o)
	return err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host)
}

// loopbackHost reports whether the Host header names loopback.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
