package listen

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookguard/hookguard/internal/syncbuf"
	"github.com/hookguard/hookguard/internal/testpebble"
)

// issueTimeout bounds one ACME issuance against the local pebble.
const issueTimeout = 30 * time.Second

// acmeInstance is one hookguard process's worth of TLS: Certificates, the
// HTTPS listener serving an app with TLSConfig(), the HTTP listener serving
// HTTPHandler.
type acmeInstance struct {
	certs     *Certificates
	httpsAddr string
	logs      *syncbuf.Buffer
	cancel    context.CancelFunc

	mu         sync.Mutex
	challenges []string // "status path" of ACME HTTP-01 requests answered
}

// runACMEInstance starts Certificates with cfg on the given listeners (nil:
// new loopback ones), narrowed to one challenge type when only is set.
func runACMEInstance(t *testing.T, cfg TLSConfig, httpLn, httpsLn net.Listener, only string) *acmeInstance {
	t.Helper()
	var err error
	if httpLn == nil {
		if httpLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	if httpsLn == nil {
		if httpsLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	cfg.HTTPListen = httpLn.Addr().String()
	cfg.HTTPSListen = httpsLn.Addr().String()

	in := &acmeInstance{httpsAddr: httpsLn.Addr().String(), logs: &syncbuf.Buffer{}}
	in.certs, err = NewCertificates(cfg, tlsTestLogger(in.logs))
	if err != nil {
		t.Fatal(err)
	}
	switch only {
	case "http-01":
		in.certs.acme.disableTLSALPN01 = true
	case "tls-alpn-01":
		in.certs.acme.disableHTTP01 = true
	}

	// Listeners are bound before Start (see Start's doc).
	plain := in.certs.HTTPHandler(func(p string) bool { return p == "/hooks" })
	tlsServe(t, httpLn, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &tlsStatusRecorder{ResponseWriter: w, status: http.StatusOK}
		plain.ServeHTTP(rec, r)
		if strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
			in.mu.Lock()
			in.challenges = append(in.challenges, fmt.Sprint(rec.status, " ", r.URL.Path))
			in.mu.Unlock()
		}
	}), nil, in.logs)
	tlsServe(t, httpsLn, tlsEchoApp(), in.certs.TLSConfig(), in.logs)

	ctx, cancel := context.WithCancel(t.Context())
	in.cancel = cancel
	t.Cleanup(func() {
		cancel()
		select {
		case <-in.certs.done:
		case <-time.After(10 * time.Second):
			t.Error("certificate management still running after its context ended")
		}
		if t.Failed() {
			t.Logf("hookguard log on %s:\n%s", in.httpsAddr, in.logs)
		}
	})
	if err := in.certs.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return in
}

func (in *acmeInstance) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(issueTimeout)
	for {
		err := in.certs.Ready()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no certificate after %v: Ready() = %v", issueTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (in *acmeInstance) answeredChallenges() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.challenges...)
}

type tlsStatusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *tlsStatusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// postWebhook POSTs over HTTPS to the instance with a client that trusts
// only roots, and checks the chain, the name and HTTP/2. It returns the
// serial of the certificate served.
func postWebhook(t *testing.T, in *acmeInstance, roots *x509.CertPool) string {
	t.Helper()
	client := tlsPinnedClient(roots, in.httpsAddr)
	defer client.CloseIdleConnections()
	resp, err := client.Post("https://"+testpebble.Domain+"/hooks", "application/json", strings.NewReader(`{"event":"room_started"}`))
	if err != nil {
		t.Fatalf("POST over HTTPS: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != `HTTP/2.0 POST {"event":"room_started"}` {
		t.Fatalf("POST over HTTPS: %s %q, want 200 and the body echoed over HTTP/2.0", resp.Status, body)
	}
	st := resp.TLS
	if st.NegotiatedProtocol != "h2" || resp.ProtoMajor != 2 {
		t.Errorf("negotiated %q, proto %s; want h2", st.NegotiatedProtocol, resp.Proto)
	}
	if len(st.VerifiedChains) == 0 {
		t.Fatal("no verified chain")
	}
	leaf := st.VerifiedChains[0][0]
	if err := leaf.VerifyHostname(testpebble.Domain); err != nil {
		t.Errorf("leaf: %v", err)
	}
	chain := st.VerifiedChains[0]
	root := chain[len(chain)-1]
	if len(chain) < 3 || !strings.HasPrefix(root.Subject.CommonName, "Pebble Root CA") {
		t.Errorf("chain %v, want leaf, pebble intermediate(s), pebble root", chainSubjects(chain))
	}
	return leaf.SerialNumber.String()
}

func chainSubjects(chain []*x509.Certificate) []string {
	var s []string
	for _, c := range chain {
		s = append(s, c.Subject.CommonName)
	}
	return s
}

// TestACMEPebbleHTTP01 obtains a certificate from pebble through HTTP-01 on
// the plain HTTP listener, serves HTTPS with it, and restarts twice with
// the same storage: once with pebble up (no new order, no new account) and
// once with pebble gone (still serving).
func TestACMEPebbleHTTP01(t *testing.T) {
	p := testpebble.Start(t)
	storage := t.TempDir()
	cfg := TLSConfig{
		Domains: []string{testpebble.Domain},
		Email:   "ops@hookguard.test",
		CA:      p.DirectoryURL(),
		CARoot:  p.CARootPath(),
		Storage: storage,
	}
	first := runACMEInstance(t, cfg, p.HTTPListener, p.TLSListener, "http-01")
	if err := first.certs.Ready(); err == nil {
		t.Error("Ready() = nil before any certificate was obtained")
	}
	first.waitReady(t)
	roots := p.IssuanceRoots(t)
	serialFirst := postWebhook(t, first, roots)

	var served bool
	for _, c := range first.answeredChallenges() {
		served = served || strings.HasPrefix(c, "200 /.well-known/acme-challenge/")
	}
	if !served {
		t.Errorf("no HTTP-01 challenge answered by HTTPHandler: %v", first.answeredChallenges())
	}
	if !strings.Contains(first.logs.String(), `"msg":"tls: certificate obtained","domain":"localhost"`) {
		t.Errorf("log lacks the obtained certificate")
	}
	orders, accounts := p.Orders(), p.Accounts()
	if orders != 1 || accounts != 1 {
		t.Errorf("pebble saw %d orders and %d accounts, want 1 and 1", orders, accounts)
	}

	t.Run("restart reuses storage", func(t *testing.T) {
		second := runACMEInstance(t, cfg, nil, nil, "")
		second.waitReady(t)
		if got := postWebhook(t, second, roots); got != serialFirst {
			t.Errorf("serving serial %s after restart, want the stored %s", got, serialFirst)
		}
		if p.Orders() != orders || p.Accounts() != accounts {
			t.Errorf("restart asked pebble again: orders %d→%d, accounts %d→%d", orders, p.Orders(), accounts, p.Accounts())
		}
	})

	t.Run("restart with the CA down", func(t *testing.T) {
		p.Stop()
		third := runACMEInstance(t, cfg, nil, nil, "")
		third.waitReady(t)
		if got := postWebhook(t, third, roots); got != serialFirst {
			t.Errorf("serving serial %s with the CA down, want the stored %s", got, serialFirst)
		}
	})
}

// TestACMEPebbleTLSALPN01 obtains a certificate through TLS-ALPN-01,
// answered by the HTTPS listener itself.
func TestACMEPebbleTLSALPN01(t *testing.T) {
	p := testpebble.Start(t)
	in := runACMEInstance(t, TLSConfig{
		Domains: []string{testpebble.Domain},
		CA:      p.DirectoryURL(),
		CARoot:  p.CARootPath(),
		Storage: t.TempDir(),
	}, p.HTTPListener, p.TLSListener, "tls-alpn-01")
	in.waitReady(t)
	postWebhook(t, in, p.IssuanceRoots(t))
	if c := in.answeredChallenges(); len(c) != 0 {
		t.Errorf("HTTP-01 requests seen with only TLS-ALPN-01 enabled: %v", c)
	}
	// certmagic's (debug) line, through our zap→slog bridge.
	if !strings.Contains(in.logs.String(), `"msg":"served key authentication certificate","component":"certmagic","challenge":"tls-alpn-01"`) {
		t.Errorf("no TLS-ALPN-01 challenge answered by the HTTPS listener")
	}
}

// TestACMECADown: with the CA unreachable, Start still returns, Ready says
// which domain lacks a certificate, and the failure is logged with the
// domain and the reason.
func TestACMECADown(t *testing.T) {
	var lns [3]net.Listener // the instance's two, then the CA's
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = ln
	}
	deadCA := "https://" + lns[2].Addr().String() + "/dir"
	lns[2].Close() // nothing listens there now

	start := time.Now()
	in := runACMEInstance(t, TLSConfig{
		Domains: []string{"hooks.hookguard.test"},
		CA:      deadCA,
		Storage: t.TempDir(),
	}, lns[0], lns[1], "")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Start took %v with the CA down", d)
	}
	tlsWaitFor(t, 10*time.Second, "the failure to be logged", func() bool {
		return strings.Contains(in.logs.String(), `"msg":"tls: certificate not obtained; will retry","domain":"hooks.hookguard.test"`)
	})
	logs := in.logs.String()
	if !strings.Contains(logs, `"reason":`) || !strings.Contains(logs, "connection refused") {
		t.Errorf("failure logged without its reason:\n%s", logs)
	}
	err := in.certs.Ready()
	if err == nil || !strings.Contains(err.Error(), "hooks.hookguard.test") {
		t.Errorf("Ready() = %v, want an error naming the domain", err)
	}
}
