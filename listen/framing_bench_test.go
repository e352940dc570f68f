package listen

import (
	"strings"
	"testing"
)

// webhook is a typical signed webhook request: a 380-byte head and a
// 600-byte JSON body.
var webhook = []byte("POST /livekit HTTP/1.1\r\nHost: hooks.example.com\r\nUser-Agent: Go-http-client/1.1\r\n" +
	"Content-Length: 600\r\nAuthorization: eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + strings.Repeat("x", 160) + "\r\n" +
	"Content-Type: application/webhook+json\r\nAccept-Encoding: gzip\r\n\r\n" + strings.Repeat("{}", 300))

// BenchmarkScanner is the guard's cost per request on the hot path.
func BenchmarkScanner(b *testing.B) {
	b.Run("content-length", func(b *testing.B) { benchScan(b, webhook) })
	chunkedHook := []byte(strings.Replace(string(webhook[:strings.Index(string(webhook), "\r\n\r\n")+4]),
		"Content-Length: 600", "Transfer-Encoding: chunked", 1) + "258\r\n" + strings.Repeat("{}", 300) + "\r\n0\r\n\r\n")
	b.Run("chunked", func(b *testing.B) { benchScan(b, chunkedHook) })
}

func benchScan(b *testing.B, req []byte) {
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	var s scanner
	for b.Loop() {
		if s.scan(req) != len(req) {
			b.Fatal(s.reason)
		}
	}
}
