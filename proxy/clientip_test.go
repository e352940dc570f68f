package proxy

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
	cases := []struct {
		name    string
		remote  string
		xff     []string
		fwd     string
		trusted []netip.Prefix
		want    string
	}{
		{"no proxies trusted: header ignored", "127.0.0.1:5000", []string{"203.0.113.9"}, "", nil, "127.0.0.1"},
		{"untrusted peer: header ignored", "198.51.100.7:5000", []string{"203.0.113.9"}, "", trusted, "198.51.100.7"},
		{"trusted peer: client from header", "10.1.2.3:5000", []string{"203.0.113.9"}, "", trusted, "203.0.113.9"},
		{"chain of trusted hops", "127.0.0.1:5000", []string{"203.0.113.9, 10.0.0.5"}, "", trusted, "203.0.113.9"},
		{"spoofed leftmost entry is not believed", "10.1.2.3:5000", []string{"192.0.2.1, 198.51.100.50"}, "", trusted, "198.51.100.50"},
		{"several header lines", "10.1.2.3:5000", []string{"192.0.2.1", "203.0.113.9"}, "", trusted, "203.0.113.9"},
		{"garbage hop stops at the last believed address", "10.1.2.3:5000", []string{"203.0.113.9, nonsense"}, "", trusted, "10.1.2.3"},
		{"all hops trusted", "10.1.2.3:5000", []string{"10.9.9.9"}, "", trusted, "10.9.9.9"},
		{"Forwarded header", "10.1.2.3:5000", nil, `for=192.0.2.60;proto=https, for="[2001:db8::1]:4711"`, trusted, "2001:db8::1"},
		{"IPv4-mapped peer", "[::ffff:10.1.2.3]:5000", []string{"203.0.113.9"}, "", trusted, "203.0.113.9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if tc.fwd != "" {
				r.Header.Set("Forwarded", tc.fwd)
			}
			if got := clientIP(r, tc.trusted); got.String() != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// FuzzClientIP: any headers from any peer give no panic, and the address
// is the peer unless the peer is trusted.
func FuzzClientIP(f *testing.F) {
	f.Add("10.1.2.3:5000", "203.0.113.9, 10.0.0.5", `for=192.0.2.60`)
	f.Add("198.51.100.7:1", "x", `for="[::1`)
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, remote, xff, fwd string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{}}
		r.Header.Set("X-Forwarded-For", xff)
		r.Header.Set("Forwarded", fwd)
		got := clientIP(r, trusted)
		peer := peerAddr(remote)
		if !isTrusted(peer, trusted) && got != peer {
			t.Fatalf("untrusted peer %v, but address %v was taken from headers", peer, got)
		}
		if clientIP(r, nil) != peer {
			t.Fatal("without trusted proxies the peer address must be used")
		}
	})
}
