package proxy

import (
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"github.com/hookguard/hookguard/verify"
)

// hopByHop are the headers of one connection (RFC 9110 §7.6.1), never
// forwarded.
var hopByHop = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// normalizedHeader is the header the app receives for ev: the sender's
// headers, without those of one connection, without any a sender could
// spoof (droppedIncoming), without the sender's signature when the body
// is not the sender's (resigned), plus hookguard's own. A sync forward
// sends it at once; a queue route stores it and sends it later, so both
// hand the app the same. Only the Standard Webhooks re-signature is added
// at sending.
func normalizedHeader(in *http.Request, r *Route, ev *verify.Event, resigned bool) http.Header {
	h := make(http.Header, len(in.Header)+10)
	resign := r.Forward.SigningKey != nil
	var connBuf [2][]string
	connection := connBuf[:0] // the Connection values, whatever the name's case
	for k, vv := range in.Header {
		if droppedIncoming(k, resign) {
			continue
		}
		// Go's server gives canonical names; a name that is not (from a
		// hand-made request) is made so, so that every rule below sees it.
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if ck == "Connection" {
			connection = append(connection, vv)
		}
		if isHopByHop(ck) {
			continue
		}
		if ck != k {
			h[ck] = append(h[ck][:len(h[ck]):len(h[ck])], vv...)
			continue
		}
		// The sender's value slices are shared, not copied: nothing
		// changes them, and every header hookguard sets gets its own.
		h[k] = vv
	}
	for _, vv := range connection {
		removeListed(h, vv)
	}
	if resigned {
		for _, k := range r.signatureHeaders {
			h.Del(k)
		}
	}
	// hookguard's own headers share one backing array (one allocation).
	vals := make([]string, 0, 10)
	set := func(k, v string) {
		vals = append(vals, v)
		h[k] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	if host, _, err := net.SplitHostPort(in.RemoteAddr); err == nil {
		set("X-Forwarded-For", host)
	}
	set("X-Forwarded-Host", in.Host)
	if in.TLS != nil {
		set("X-Forwarded-Proto", "https")
	} else {
		set("X-Forwarded-Proto", "http")
	}
	set(HeaderProvider, ev.Provider)
	set(HeaderRoute, r.Name)
	set(HeaderEventID, eventID(ev))
	if ev.Type != "" {
		set(HeaderEventType, ev.Type)
	}
	if !ev.Time.IsZero() {
		set(HeaderEventTime, ev.Time.UTC().Format(time.RFC3339Nano))
	}
	if ev.KeyID != "" {
		set(HeaderKeyID, ev.KeyID)
	}
	if r.Forward.Format == FormatCloudEvents {
		set("Content-Type", cloudEventsContentType)
	}
	return h
}

// removeHopByHop deletes the headers of one connection, and those the
// Connection header names, from a request's or a response's header.
func removeHopByHop(h http.Header) {
	removeListed(h, h["Connection"])
	for _, k := range hopByHop {
		delete(h, k) // canonical names
	}
}

// removeListed deletes the headers that the values of a Connection
// header name.
func removeListed(h http.Header, connection []string) {
	for _, f := range connection {
		for f != "" {
			var name string
			name, f, _ = strings.Cut(f, ",")
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
}

// isHopByHop reports whether the canonical name is one of hopByHop.
func isHopByHop(name string) bool { return slices.Contains(hopByHop, name) }

// droppedIncoming reports whether an incoming header named name is removed
// before forwarding:
//   - any name with "_": CGI, WSGI, Rack and PHP read "_" as "-", so
//     X_Hookguard_Key_Id or X_Forwarded_For would merge with the header
//     hookguard sets (nginx drops them by default too);
//   - X-Hookguard-*, in any letter case: hookguard owns those names;
//   - Forwarded and X-Forwarded-*: hookguard sets them from what it saw;
//   - on a re-signing route, every webhook-* and svix-* header, so the app
//     sees only hookguard's signature.
func droppedIncoming(name string, resign bool) bool {
	if strings.IndexByte(name, '_') >= 0 {
		return true
	}
	return hasPrefixFold(name, HeaderPrefix) || hasPrefixFold(name, "X-Forwarded-") || strings.EqualFold(name, "Forwarded") ||
		(resign && (hasPrefixFold(name, "Webhook-") || hasPrefixFold(name, "Svix-")))
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
