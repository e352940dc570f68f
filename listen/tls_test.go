package listen

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookguard/hookguard/internal/syncbuf"
)

func TestTLSConfigValidate(t *testing.T) {
	acme := TLSConfig{Domains: []string{"hooks.example.com"}}
	tests := []struct {
		name   string
		cfg    TLSConfig
		fields []string // keys the error must name; none: valid
	}{
		{"acme", acme, nil},
		{"acme full", TLSConfig{
			HTTPListen: "127.0.0.1:8080", HTTPSListen: "127.0.0.1:8443",
			Domains: []string{"hooks.example.com", "xn--bcher-kva.example", "192.0.2.1"},
			Email:   "ops@example.com", CA: "https://acme-staging-v02.api.letsencrypt.org/directory",
			CARoot: "/etc/roots.pem", Storage: "/var/lib/hookguard",
		}, nil},
		{"static", TLSConfig{CertFile: "c.pem", KeyFile: "k.pem"}, nil},
		{"nothing", TLSConfig{}, []string{"Domains"}},
		{"both", TLSConfig{Domains: []string{"a.example"}, CertFile: "c.pem", KeyFile: "k.pem"}, []string{"Domains"}},
		{"cert without key", TLSConfig{CertFile: "c.pem"}, []string{"KeyFile"}},
		{"key without cert", TLSConfig{KeyFile: "k.pem"}, []string{"CertFile"}},
		{"acme keys with static", TLSConfig{CertFile: "c.pem", KeyFile: "k.pem", Email: "a@b.example", Storage: "/x"},
			[]string{"Email", "Storage"}},
		{"empty domain", TLSConfig{Domains: []string{""}}, []string{"Domains[0]"}},
		{"wildcard", TLSConfig{Domains: []string{"*.example.com"}}, []string{"Domains[0]", "DNS-01"}},
		{"url as domain", TLSConfig{Domains: []string{"a.example", "https://hooks.example.com/"}}, []string{"Domains[1]"}},
		{"domain with port", TLSConfig{Domains: []string{"hooks.example.com:443"}}, []string{"Domains[0]"}},
		{"bad label", TLSConfig{Domains: []string{"-a.example"}}, []string{"Domains[0]"}},
		{"duplicate", TLSConfig{Domains: []string{"a.example", "A.example."}}, []string{"Domains[1]", "twice"}},
		{"email", TLSConfig{Domains: acme.Domains, Email: "ops at example"}, []string{"Email"}},
		{"ca not https", TLSConfig{Domains: acme.Domains, CA: "http://ca.example/dir"}, []string{"CA"}},
		{"ca not url", TLSConfig{Domains: acme.Domains, CA: "letsencrypt"}, []string{"CA"}},
		{"http_listen", TLSConfig{Domains: acme.Domains, HTTPListen: "80"}, []string{"HTTPListen"}},
		{"http_listen port", TLSConfig{Domains: acme.Domains, HTTPListen: ":http"}, []string{"HTTPListen"}},
		{"listen", TLSConfig{Domains: acme.Domains, HTTPSListen: "localhost"}, []string{"HTTPSListen"}},
		{"same port", TLSConfig{Domains: acme.Domains, HTTPListen: ":8443", HTTPSListen: "127.0.0.1:8443"}, []string{"HTTPListen", "8443"}},
		{"several at once", TLSConfig{Domains: []string{"*"}, Email: "x", CA: "ftp://x"}, []string{"Domains[0]", "Email", "CA"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := strings.Join(tt.cfg.Domains, ",")
			err := tt.cfg.Validate()
			if strings.Join(tt.cfg.Domains, ",") != before {
				t.Errorf("Validate changed Domains")
			}
			if len(tt.fields) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error naming %v", tt.fields)
			}
			if !errors.Is(err, ErrInvalidTLSConfig) {
				t.Errorf("errors.Is(%v, ErrInvalidTLSConfig) = false", err)
			}
			for _, f := range tt.fields {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("Validate() = %q, want it to name %q", err, f)
				}
			}
		})
	}
}

func TestNewCertificatesErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "roots.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		cfg   TLSConfig
		field string
	}{
		{"invalid", TLSConfig{CertFile: "c.pem"}, "KeyFile"},
		{"ca_root missing", TLSConfig{Domains: []string{"a.example"}, CARoot: filepath.Join(dir, "nope.pem")}, "CARoot"},
		{"ca_root not PEM", TLSConfig{Domains: []string{"a.example"}, CARoot: notPEM}, "CARoot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewCertificates(tt.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tt.field) || !errors.Is(err, ErrInvalidTLSConfig) {
				t.Fatalf("NewCertificates() = %v, want an ErrInvalidTLSConfig naming %s", err, tt.field)
			}
		})
	}
}

func TestStaticStartErrors(t *testing.T) {
	dir := t.TempDir()
	ca := newTLSTestCA(t)
	certPEM, keyPEM := ca.issue(t, "a.example")
	_, otherKey := ca.issue(t, "b.example")
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name      string
		cert, key string
		field     string
	}{
		{"cert missing", filepath.Join(dir, "nope.pem"), write("k1.pem", keyPEM), "CertFile"},
		{"key missing", write("c1.pem", certPEM), filepath.Join(dir, "nope.pem"), "KeyFile"},
		{"key mismatch", write("c2.pem", certPEM), write("k2.pem", otherKey), "CertFile"},
		{"garbage", write("c3.pem", "garbage"), write("k3.pem", keyPEM), "CertFile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewCertificates(TLSConfig{CertFile: tt.cert, KeyFile: tt.key}, tlsDiscardLogger())
			if err != nil {
				t.Fatal(err)
			}
			err = c.Start(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("Start() = %v, want an error naming %s", err, tt.field)
			}
			if !errors.Is(c.Ready(), ErrCertificateNotReady) {
				t.Errorf("Ready() = %v after a failed start", c.Ready())
			}
			<-c.done // nothing left running
		})
	}
}

func TestCertificatesHTTPHandler(t *testing.T) {
	isWebhook := func(p string) bool { return p == "/livekit" || p == "/tencent" }
	tests := []struct {
		name, listen   string
		method, target string
		status         int
		location       string // for redirects
		body           string // substring, for errors
	}{
		{"GET redirects", "127.0.0.1:8443", "GET", "http://hooks.example.com:8080/status?a=1&b=%2F", 308,
			"https://hooks.example.com:8443/status?a=1&b=%2F", ""},
		{"HEAD redirects", ":443", "HEAD", "http://hooks.example.com/", 308, "https://hooks.example.com/", ""},
		{"port 443 left out", ":443", "GET", "http://hooks.example.com:80/x", 308, "https://hooks.example.com/x", ""},
		{"IPv6 host", ":443", "GET", "http://[2001:db8::1]/x", 308, "https://[2001:db8::1]/x", ""},
		{"unknown challenge redirects", ":443", "GET", "http://hooks.example.com/.well-known/acme-challenge/abc", 308,
			"https://hooks.example.com/.well-known/acme-challenge/abc", ""},
		{"webhook POST", "127.0.0.1:8443", "POST", "http://hooks.example.com/livekit", 421, "",
			"send it to https://hooks.example.com:8443/livekit"},
		{"webhook GET", ":443", "GET", "http://hooks.example.com/tencent?x=1", 421, "",
			"HTTPS only: send it to https://hooks.example.com/tencent?x=1"},
		{"other POST not redirected", ":443", "POST", "http://hooks.example.com/other", 421, "",
			"https://hooks.example.com/other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, cfg := range []TLSConfig{
				{HTTPSListen: tt.listen, Domains: []string{"hooks.example.com"}, Storage: t.TempDir()},
				{HTTPSListen: tt.listen, CertFile: "c.pem", KeyFile: "k.pem"},
			} {
				c, err := NewCertificates(cfg, tlsDiscardLogger())
				if err != nil {
					t.Fatal(err)
				}
				rec := httptest.NewRecorder()
				c.HTTPHandler(isWebhook).ServeHTTP(rec, httptest.NewRequest(tt.method, tt.target, strings.NewReader("{}")))
				if rec.Code != tt.status {
					t.Fatalf("acme=%v: status %d, want %d; body %q", cfg.ACME(), rec.Code, tt.status, rec.Body)
				}
				if got := rec.Header().Get("Location"); got != tt.location {
					t.Errorf("acme=%v: Location %q, want %q", cfg.ACME(), got, tt.location)
				}
				if !strings.Contains(rec.Body.String(), tt.body) {
					t.Errorf("acme=%v: body %q, want it to contain %q", cfg.ACME(), rec.Body, tt.body)
				}
			}
		})
	}
	t.Run("nil isWebhookPath", func(t *testing.T) {
		c, err := NewCertificates(TLSConfig{CertFile: "c.pem", KeyFile: "k.pem"}, tlsDiscardLogger())
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		c.HTTPHandler(nil).ServeHTTP(rec, httptest.NewRequest("GET", "http://a.example/livekit", nil))
		if rec.Code != http.StatusPermanentRedirect {
			t.Errorf("status %d, want 308", rec.Code)
		}
	})
}

func TestCertificatesTLSConfig(t *testing.T) {
	for _, cfg := range []TLSConfig{
		{Domains: []string{"a.example"}, Storage: t.TempDir()},
		{CertFile: "c.pem", KeyFile: "k.pem"},
	} {
		c, err := NewCertificates(cfg, tlsDiscardLogger())
		if err != nil {
			t.Fatal(err)
		}
		tc := c.TLSConfig()
		want := []string{"h2", "http/1.1"}
		if cfg.ACME() {
			want = append(want, "acme-tls/1")
		}
		if tc.MinVersion != tls.VersionTLS12 || strings.Join(tc.NextProtos, " ") != strings.Join(want, " ") || tc.GetCertificate == nil {
			t.Errorf("acme=%v: MinVersion %x, NextProtos %q, GetCertificate set %v", cfg.ACME(), tc.MinVersion, tc.NextProtos, tc.GetCertificate != nil)
		}
		if _, err := tc.GetCertificate(&tls.ClientHelloInfo{ServerName: "a.example"}); !errors.Is(err, ErrCertificateNotReady) {
			t.Errorf("acme=%v: GetCertificate before Start = %v, want ErrCertificateNotReady", cfg.ACME(), err)
		}
		if err := c.Ready(); !errors.Is(err, ErrCertificateNotReady) {
			t.Errorf("acme=%v: Ready before Start = %v, want ErrCertificateNotReady", cfg.ACME(), err)
		}
	}
}

func TestDefaultStorage(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"XDG_DATA_HOME": "/data", "HOME": "/home/u"}, "/data/hookguard"},
		{map[string]string{"HOME": "/home/u"}, "/home/u/.local/share/hookguard"},
		{map[string]string{"HOME": "/"}, "/var/lib/hookguard"},
		{nil, "/var/lib/hookguard"},
	}
	for _, tt := range tests {
		if got := defaultStorage(func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("defaultStorage(%v) = %q, want %q", tt.env, got, tt.want)
		}
	}
}

// TestStaticCertificateReload replaces the files and calls Reload (the
// watcher polls too rarely to interfere): new connections get the new
// certificate, a kept-alive connection goes on with the old one, and a
// broken pair keeps the current one.
func TestStaticCertificateReload(t *testing.T) {
	ca := newTLSTestCA(t)
	f := newStaticFiles(t)
	certA, keyA := ca.issue(t, "static.test")
	f.write(t, certA, keyA)

	logs := &syncbuf.Buffer{}
	c, err := NewCertificates(TLSConfig{CertFile: f.cert, KeyFile: f.key}, tlsTestLogger(logs))
	if err != nil {
		t.Fatal(err)
	}
	c.static.poll = time.Hour
	ctx, cancel := context.WithCancel(t.Context())
	defer func() { cancel(); <-c.done }()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Ready(); err != nil {
		t.Fatalf("Ready() = %v after Start", err)
	}
	addr := tlsServeApp(t, c.TLSConfig(), logs)

	kept := ca.client(addr) // one keep-alive connection for the whole test
	defer kept.CloseIdleConnections()
	if got, reused := tlsGet(t, kept, "static.test"); got != pemSerial(certA) || reused {
		t.Fatalf("first request: serial %s (reused %v), want %s", got, reused, pemSerial(certA))
	}

	certB, keyB := ca.issue(t, "static.test")
	f.write(t, certB, keyB)
	if err := c.Reload(); err != nil {
		t.Fatalf("Reload() = %v", err)
	}
	if got := handshakeSerial(t, ca, addr); got != pemSerial(certB) {
		t.Errorf("new connection after Reload: serial %s, want %s", got, pemSerial(certB))
	}
	if got, reused := tlsGet(t, kept, "static.test"); got != pemSerial(certA) || !reused {
		t.Errorf("kept-alive connection after Reload: serial %s (reused %v), want %s on the same connection", got, reused, pemSerial(certA))
	}

	t.Run("broken pair keeps the current one", func(t *testing.T) {
		certC, _ := ca.issue(t, "static.test")
		for _, bad := range []struct{ name, cert, key string }{
			{"key mismatch", certC, keyA},
			{"garbage", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", keyB},
			{"empty key", certC, ""},
		} {
			f.write(t, bad.cert, bad.key)
			err := c.Reload()
			if err == nil || !errors.Is(err, ErrInvalidTLSConfig) || !strings.Contains(err.Error(), "File") {
				t.Errorf("%s: Reload() = %v, want an error naming the file", bad.name, err)
			}
			if got := handshakeSerial(t, ca, addr); got != pemSerial(certB) {
				t.Errorf("%s: serial %s, want the current %s", bad.name, got, pemSerial(certB))
			}
			if err := c.Ready(); err != nil {
				t.Errorf("%s: Ready() = %v", bad.name, err)
			}
		}
		if !strings.Contains(logs.String(), "keeping the current one") {
			t.Errorf("log lacks the failed reload:\n%s", logs)
		}
	})
}

// TestStaticCertificateWatch relies on the watcher alone.
func TestStaticCertificateWatch(t *testing.T) {
	ca := newTLSTestCA(t)
	f := newStaticFiles(t)
	certA, keyA := ca.issue(t, "static.test")
	f.write(t, certA, keyA)

	logs := &syncbuf.Buffer{}
	c, err := NewCertificates(TLSConfig{CertFile: f.cert, KeyFile: f.key}, tlsTestLogger(logs))
	if err != nil {
		t.Fatal(err)
	}
	c.static.poll = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	addr := tlsServeApp(t, c.TLSConfig(), logs)
	kept := ca.client(addr)
	defer kept.CloseIdleConnections()
	tlsGet(t, kept, "static.test")

	certB, keyB := ca.issue(t, "static.test")
	f.write(t, certB, keyB)
	tlsWaitFor(t, 5*time.Second, "the watcher to load the new pair", func() bool {
		return handshakeSerial(t, ca, addr) == pemSerial(certB)
	})
	if got, reused := tlsGet(t, kept, "static.test"); got != pemSerial(certA) || !reused {
		t.Errorf("kept-alive connection: serial %s (reused %v), want %s on the same connection", got, reused, pemSerial(certA))
	}

	// A broken pair is logged once and the current one kept. (Only the
	// certificate changes: the key file keeps keyB.)
	mark := len(logs.String())
	f.write(t, certA, keyB)
	tlsWaitFor(t, 5*time.Second, "the watcher to log the broken pair", func() bool {
		return strings.Contains(logs.String()[mark:], "keeping the current one")
	})
	time.Sleep(50 * time.Millisecond) // a few more polls
	if n := strings.Count(logs.String()[mark:], "keeping the current one"); n != 1 {
		t.Errorf("broken pair logged %d times, want once", n)
	}
	if got := handshakeSerial(t, ca, addr); got != pemSerial(certB) {
		t.Errorf("after a broken pair: serial %s, want %s", got, pemSerial(certB))
	}

	// Fixed again: picked up.
	certC, keyC := ca.issue(t, "static.test")
	f.write(t, certC, keyC)
	tlsWaitFor(t, 5*time.Second, "the watcher to load the fixed pair", func() bool {
		return handshakeSerial(t, ca, addr) == pemSerial(certC)
	})

	cancel()
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		t.Fatal("watcher still running after its context ended")
	}
}

// --- helpers shared with tls_acme_test.go ---

// tlsTestLogger logs JSON into buf (safe after the test ends, unlike t.Log).
func tlsTestLogger(buf *syncbuf.Buffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func tlsDiscardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// tlsServeApp serves a small app over HTTPS on a loopback port with tlsCfg,
// with every server timeout set, until the test ends.
func tlsServeApp(t *testing.T, tlsCfg *tls.Config, logs *syncbuf.Buffer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsServe(t, ln, tlsEchoApp(), tlsCfg, logs)
	return ln.Addr().String()
}

// tlsEchoApp echoes the request body, prefixed by the protocol.
func tlsEchoApp() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		io.WriteString(w, r.Proto+" "+r.Method+" ")
		w.Write(b)
	})
}

func tlsServe(t *testing.T, ln net.Listener, h http.Handler, tlsCfg *tls.Config, logs *syncbuf.Buffer) {
	t.Helper()
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       30 * time.Second,
		ErrorLog:          log.New(logs, "http: ", 0),
	}
	errc := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("server on %s: %v", ln.Addr(), err)
		}
	})
}

func tlsWaitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type tlsTestCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	next int64
	mu   sync.Mutex
}

func newTLSTestCA(t *testing.T) *tlsTestCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "hookguard test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tlsTestCA{cert: cert, key: key, pool: pool, next: 100}
}

// issue returns a new certificate (PEM, with a fresh serial) and its key.
func (ca *tlsTestCA) issue(t *testing.T, name string) (certPEM, keyPEM string) {
	t.Helper()
	ca.mu.Lock()
	ca.next++
	sn := ca.next
	ca.mu.Unlock()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(sn),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

// client is an HTTPS client trusting only ca, dialing addr whatever the URL.
func (ca *tlsTestCA) client(addr string) *http.Client {
	return tlsPinnedClient(ca.pool, addr)
}

func tlsPinnedClient(roots *x509.CertPool, addr string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: roots},
			ForceAttemptHTTP2: true,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, addr)
			},
		},
	}
}

// get does a GET on https://host/ and returns the server certificate's
// serial and whether the connection was reused.
func tlsGet(t *testing.T, c *http.Client, host string) (string, bool) {
	t.Helper()
	var reused bool
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET https://%s/: %v", host, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET https://%s/: %s", host, resp.Status)
	}
	return resp.TLS.PeerCertificates[0].SerialNumber.String(), reused
}

// handshakeSerial opens a new connection and returns the serial served.
func handshakeSerial(t *testing.T, ca *tlsTestCA, addr string) string {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{RootCAs: ca.pool, ServerName: "static.test"})
	if err != nil {
		t.Fatalf("handshake with %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func pemSerial(certPEM string) string {
	b, _ := pem.Decode([]byte(certPEM))
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		panic(err)
	}
	return cert.SerialNumber.String()
}

type staticFiles struct{ cert, key string }

func newStaticFiles(t *testing.T) staticFiles {
	dir := t.TempDir()
	return staticFiles{cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem")}
}

// write replaces both files the way a deployment tool does: write aside,
// then rename over.
func (f staticFiles) write(t *testing.T, certPEM, keyPEM string) {
	t.Helper()
	for _, file := range []struct{ path, content string }{{f.key, keyPEM}, {f.cert, certPEM}} {
		tmp := file.path + ".tmp"
		if err := os.WriteFile(tmp, []byte(file.content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file.path); err != nil {
			t.Fatal(err)
		}
	}
}

// The cause of a field error stays in the chain: a missing file is
// fs.ErrNotExist.
func TestFieldErrorUnwraps(t *testing.T) {
	dir := t.TempDir()
	_, err := NewCertificates(TLSConfig{Domains: []string{"a.example"}, CARoot: filepath.Join(dir, "nope.pem")}, nil)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "CARoot" {
		t.Fatalf("error %v is not a FieldError about CARoot", err)
	}
	if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, ErrInvalidTLSConfig) {
		t.Fatalf("errors.Is(%v, fs.ErrNotExist) and ErrInvalidTLSConfig: want both", err)
	}
}
