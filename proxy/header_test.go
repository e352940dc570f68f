package proxy

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hookguard/hookguard/verify"
)

// owned reports whether name, read as CGI/WSGI/Rack/PHP read it ('_' as
// '-', any case), is one hookguard sets or, on a re-signing route, one of
// the Standard Webhooks families.
func owned(name string, resign bool) bool {
	n := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
	return strings.HasPrefix(n, "x-hookguard-") || strings.HasPrefix(n, "x-forwarded-") || n == "forwarded" ||
		(resign && (strings.HasPrefix(n, "webhook-") || strings.HasPrefix(n, "svix-")))
}

// No spelling of an owned name survives into what the app receives, except
// the one value hookguard set itself.
func FuzzNormalizedHeaderDropsOwnedNames(f *testing.F) {
	for _, s := range []string{"X-Hookguard-Key-Id", "X_Hookguard_Key_Id", "x-HOOKGUARD_provider", "X-Forwarded_For",
		"Webhook-Signature", "webhook_id", "SVIX-SIGNATURE", "Forwarded", "X-Hookguard-", "Connection", "Authorization"} {
		f.Add(s, "spoofed", true)
	}
	f.Fuzz(func(t *testing.T, name, value string, resign bool) {
		r := &Route{Name: "/r", Path: "/r"}
		if resign {
			r.Forward.SigningKey = []byte("k")
		}
		in := &http.Request{Header: http.Header{name: {value}}, RemoteAddr: "192.0.2.1:5", Host: "h"}
		ev := &verify.Event{Provider: "p", ID: "id", Key: "k", KeyID: "key"}
		h := normalizedHeader(in, r, ev, false)
		for k, vv := range h {
			if !owned(k, resign) {
				continue
			}
			// What survives under an owned name is hookguard's own value.
			if k != http.CanonicalHeaderKey(k) || strings.Contains(k, "_") {
				t.Fatalf("incoming %q survives as %q", name, k)
			}
			for _, v := range vv {
				if v == value && value != "" && !hookguardSets(k, v, in, ev) {
					t.Fatalf("incoming %q=%q reached the app as %q", name, value, k)
				}
			}
		}
	})
}

// hookguardSets reports whether v is the value hookguard itself gives k.
func hookguardSets(k, v string, in *http.Request, ev *verify.Event) bool {
	switch k {
	case "X-Forwarded-For":
		return v == "192.0.2.1"
	case "X-Forwarded-Host":
		return v == in.Host
	case "X-Forwarded-Proto":
		return v == "http"
	case HeaderProvider:
		return v == ev.Provider
	case HeaderRoute:
		return v == "/r"
	case HeaderEventID:
		return v == ev.ID
	case HeaderKeyID:
		return v == ev.KeyID
	}
	return false
}

func TestNormalizedHeaderDropsHopByHop(t *testing.T) {
	in := &http.Request{Header: http.Header{
		"Connection":        {"keep-alive, X-Secret-Hop"},
		"X-Secret-Hop":      {"1"},
		"Keep-Alive":        {"timeout=5"},
		"Te":                {"trailers"},
		"Trailer":           {"X-Hookguard-Key-Id"},
		"Upgrade":           {"h2c"},
		"Transfer-Encoding": {"chunked"},
		"Content-Type":      {"application/json"},
		// Names as a hand-made request may have them: not canonical.
		"connection":          {"x-other-hop"},
		"X-Other-Hop":         {"2"},
		"proxy-authorization": {"Basic c2VjcmV0"},
	}, RemoteAddr: "192.0.2.1:5"}
	h := normalizedHeader(in, &Route{Name: "/r"}, &verify.Event{Provider: "p", ID: "id"}, false)
	for _, k := range []string{"Connection", "X-Secret-Hop", "Keep-Alive", "Te", "Trailer", "Upgrade", "Transfer-Encoding",
		"X-Other-Hop", "Proxy-Authorization"} {
		if _, ok := h[k]; ok {
			t.Errorf("%s reached the app", k)
		}
	}
	if h.Get("Content-Type") != "application/json" {
		t.Error("an end-to-end header was dropped")
	}
}
