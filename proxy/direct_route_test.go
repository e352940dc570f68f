package proxy

import (
	"bufio"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestDirectAddrOnlyForPlainHTTP(t *testing.T) {
	for raw, want := range map[string]string{
		"http://127.0.0.1:8080/hook":    "127.0.0.1:8080",
		"http://app/hook":               "app:80",
		"http://[::1]:9000/":            "[::1]:9000",
		"http://[::1]/":                 "[::1]:80",
		"https://app:8443/hook":         "",
		"http://user:pass@app:8080/x":   "",
		"HTTP://127.0.0.1:8080/casing":  "127.0.0.1:8080", // url.Parse lower-cases the scheme
		"http://localhost:3000/?a=b&c=": "localhost:3000",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := directAddr(u); got != want {
			t.Errorf("directAddr(%s) = %q, want %q", raw, got, want)
		}
	}
}

// An app answering a status net/http's reader takes but no HTTP status is
// (000, 099, 600) is an upstream error, 502, not a panic writing it back.
func TestAppAnswerWithAnInvalidStatusIs502(t *testing.T) {
	for _, status := range []string{"000", "099", "600"} {
		t.Run(status, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						defer c.Close()
						if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
							c.Write([]byte("HTTP/1.1 " + status + " Odd\r\nContent-Length: 2\r\n\r\nok"))
						}
					}()
				}
			}()
			f := newFixture(t, func(c *Config) { c.Routes[0].Upstream = mustURL(t, "http://"+ln.Addr().String()) })
			got, _, answer := do(t, livekitRequest(t, f.front.URL+"/livekit", livekitBody("EV_status_"+status, "room_started", time.Now()), lkKey, lkSecret, time.Now()))
			if got != http.StatusBadGateway || !strings.Contains(answer, ReasonUnreachable) {
				t.Fatalf("app answered %s: hookguard answered %d %q, want 502 %s", status, got, answer, ReasonUnreachable)
			}
		})
	}
}
