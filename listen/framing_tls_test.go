package listen

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/internal/syncbuf"
)

// tlsTestServer serves HTTPS through Guard.TLSListener, offering h2,
// http/1.1 and acme-tls/1; its handler answers "<proto> tls=<bool>".
func tlsTestServer(t *testing.T, handshakeTimeout time.Duration) (addr string, pool *x509.CertPool, logs *syncbuf.Buffer, ln net.Listener) {
	t.Helper()
	cert, pool := selfSigned(t, "guard.test")
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1", "acme-tls/1"}}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs = &syncbuf.Buffer{}
	g := &Guard{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	ln = g.TLSListener(raw, cfg, handshakeTimeout)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, r.Proto+" tls="+map[bool]string{true: "true", false: "false"}[r.TLS != nil])
		}),
		TLSConfig:         cfg,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          discardLog(),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return raw.Addr().String(), pool, logs, ln
}

func TestTLSListenerProtocols(t *testing.T) {
	addr, pool, _, _ := tlsTestServer(t, 5*time.Second)
	for _, tt := range []struct {
		name string
		h2   bool
		want string
	}{
		{"h2", true, "HTTP/2.0 tls=true"},
		{"http/1.1", false, "HTTP/1.1 tls=true"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "guard.test"}, ForceAttemptHTTP2: tt.h2}
			if !tt.h2 {
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Post("https://"+addr+"/", "text/plain", strings.NewReader("x"))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != tt.want {
				t.Errorf("got %q, want %q", b, tt.want)
			}
		})
	}
}

// TestTLSListenerRefusesSmuggling: over TLS and HTTP/1.1 the guard works
// as over plain TCP.
func TestTLSListenerRefusesSmuggling(t *testing.T) {
	addr, pool, logs, _ := tlsTestServer(t, 5*time.Second)
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "guard.test", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, first+"POST /smuggle HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"+last)
	br := bufio.NewReader(c)
	var statuses []int
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			break
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
		if resp.StatusCode == 200 && string(b) != "HTTP/1.1 tls=true" {
			t.Errorf("first answer %q", b)
		}
	}
	if len(statuses) != 2 || statuses[0] != 200 || statuses[1] != 400 {
		t.Errorf("statuses %v, want [200 400]", statuses)
	}
	if !strings.Contains(logs.String(), ReasonContentLengthWithTE) {
		t.Errorf("log lacks the refusal:\n%s", logs)
	}
}

// TestTLSListenerOtherALPN: a connection for acme-tls/1 is handed to the
// server as the *tls.Conn, which closes it after the handshake (the
// challenge is answered by the certificate).
func TestTLSListenerOtherALPN(t *testing.T) {
	addr, pool, _, _ := tlsTestServer(t, 5*time.Second)
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "guard.test", NextProtos: []string{"acme-tls/1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "acme-tls/1" {
		t.Fatalf("negotiated %q", p)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("read %d, %v; want the server to close", n, err)
	}
}

// TestTLSListenerSlowHandshake: a client that never finishes its
// handshake holds up nobody, is dropped after the timeout, and Close
// ends handshakes under way.
func TestTLSListenerSlowHandshake(t *testing.T) {
	addr, pool, logs, ln := tlsTestServer(t, 300*time.Millisecond)
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "guard.test"}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + addr + "/")
	if err != nil {
		t.Fatalf("while a handshake stalls: %v", err)
	}
	resp.Body.Close()
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("stalled handshake: read %v, want EOF after the timeout", err)
	}
	if !strings.Contains(logs.String(), "TLS handshake error") {
		t.Errorf("log lacks the failed handshake:\n%s", logs)
	}

	stalled, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	time.Sleep(50 * time.Millisecond) // accepted, handshaking
	closed := make(chan error, 1)
	go func() { closed <- ln.Close() }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked by a handshake under way")
	}
	stalled.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := stalled.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after Close: read %v, want EOF", err)
	}
	if _, err := ln.Accept(); err == nil {
		t.Error("Accept after Close succeeded")
	}
}

// TestTLSListenerPlainHTTP: a plain HTTP request on the TLS port gets
// Go's answer.
func TestTLSListenerPlainHTTP(t *testing.T) {
	addr, _, _, _ := tlsTestServer(t, 5*time.Second)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, first)
	b, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(b), "HTTP/1.0 400 Bad Request") || !strings.Contains(string(b), "HTTPS server") {
		t.Errorf("got %q", b)
	}
}

func selfSigned(t *testing.T, name string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
