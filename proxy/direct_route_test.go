package proxy

import (
	"bufio"
	"bytes"
	"io"
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

// writeRequest writes what Request.Write writes, up to the order of the
// header fields: both outputs read back alike.
func TestWriteRequestReadsBackAsRequestWrite(t *testing.T) {
	cases := []struct {
		name   string
		host   string
		target string
		header http.Header
		body   string
		close  bool
	}{
		{"hookguard's forward", "app:8080", "http://app:8080/hooks/lk?x=1&y=%20",
			http.Header{"Content-Type": {"application/webhook+json"}, "Authorization": {"Bearer t"},
				"X-Hookguard-Event-Id": {"EV_1"}, "User-Agent": {""}, "X-Forwarded-For": {"192.0.2.1"}}, `{"id":"EV_1"}`, false},
		{"no User-Agent header", "app", "http://app/", http.Header{"Accept": {"*/*"}}, "", false},
		{"a User-Agent", "app", "http://app/p", http.Header{"User-Agent": {"  livekit/1.0  "}}, "x", false},
		{"values trimmed, several values", "app", "http://app/p", http.Header{"X-Multi": {" a ", "b\t"}}, "", false},
		{"excluded names", "app", "http://app/p", http.Header{"Host": {"evil"}, "Content-Length": {"99"},
			"Transfer-Encoding": {"chunked"}, "Trailer": {"X"}}, "abc", false},
		{"close", "app", "http://app/p", http.Header{}, "", true},
		{"close already said", "app", "http://app/p", http.Header{"Connection": {"close"}}, "", true},
		{"host from the URL", "", "http://app.internal:81/p", http.Header{}, "", false},
		{"IPv6 zone", "[fe80::1%25en0]:80", "http://[fe80::1%25en0]:80/p", http.Header{}, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := mustURL(t, tc.target)
			mk := func() *http.Request {
				return &http.Request{Method: http.MethodPost, URL: u, Host: tc.host, Header: tc.header.Clone(),
					ContentLength: int64(len(tc.body)), Close: tc.close, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
			}
			var mine bytes.Buffer
			bw := bufio.NewWriter(&mine)
			if err := writeRequest(bw, mk(), []byte(tc.body)); err != nil {
				t.Fatal(err)
			}
			bw.Flush()
			std := mk()
			std.Body = io.NopCloser(strings.NewReader(tc.body))
			if tc.body == "" {
				std.Body = http.NoBody
			}
			var theirs bytes.Buffer
			if err := std.Write(&theirs); err != nil {
				t.Fatal(err)
			}
			if a, b := fieldsSorted(mine.String()), fieldsSorted(theirs.String()); a != b {
				t.Fatalf("writeRequest:\n%q\nRequest.Write:\n%q", a, b)
			}
		})
	}
}
