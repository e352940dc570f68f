package proxy

import (
	"net"
	"net/http"
	"net/textproto"
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
	h := make(http.Header, len(in.Header)+8)
	resign := r.Forward.SigningKey != nil
	for k, vv := range in.Header {
		if droppedIncoming(k, resign) {
			continue
		}
		h[k] = append([]string(nil), vv...)
	}
	for _, f := range in.Header["Connection"] {
		for _, name := range strings.Split(f, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, k := range hopByHop {
		h.Del(k)
	}
	if resigned {
		for _, k := range r.signatureHeaders {
			h.Del(k)
		}
	}
	setForwarded(h, in)

	h.Set(HeaderProvider, ev.Provider)
	h.Set(HeaderRoute, r.Name)
	h.Set(HeaderEventID, eventID(ev))
	if ev.Type != "" {
		h.Set(HeaderEventType, ev.Type)
	}
	if !ev.Time.IsZero() {
		h.Set(HeaderEventTime, ev.Time.UTC().Format(time.RFC3339Nano))
	}
	if ev.KeyID != "" {
		h.Set(HeaderKeyID, ev.KeyID)
	}
	if r.Forward.Format == FormatCloudEvents {
		h.Set("Content-Type", cloudEventsContentType)
	}
	return h
}

// setForwarded sets X-Forwarded-For to the peer's address and
// X-Forwarded-Host and -Proto to what the sender asked for, replacing any
// the sender sent (as httputil.ProxyRequest.SetXForwarded does).
func setForwarded(h http.Header, in *http.Request) {
	h.Del("Forwarded")
	if host, _, err := net.SplitHostPort(in.RemoteAddr); err == nil {
		h.Set("X-Forwarded-For", host)
	} else {
		h.Del("X-Forwarded-For")
	}
	h.Set("X-Forwarded-Host", in.Host)
	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	h.Set("X-Forwarded-Proto", proto)
}

// droppedIncoming reports whether an incoming header named name is removed
// before forwarding:
//   - any name with "_": CGI, WSGI, Rack and PHP read "_" as "-", so
//     X_Hookguard_Key_Id or X_Forwarded_For would merge with the header
//     hookguard sets (nginx drops them by default too);
//   - X-Hookguard-*, in any letter case: hookguard owns those names;
//   - on a re-signing route, every webhook-* and svix-* header, so the app
//     sees only hookguard's signature.
func droppedIncoming(name string, resign bool) bool {
	if strings.IndexByte(name, '_') >= 0 {
		return true
	}
	return hasPrefixFold(name, HeaderPrefix) ||
		(resign && (hasPrefixFold(name, "Webhook-") || hasPrefixFold(name, "Svix-")))
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
