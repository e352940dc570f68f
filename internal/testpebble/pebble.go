// Package testpebble runs Let's Encrypt's pebble ACME test server (Debian
// package "pebble", binary /usr/bin/pebble) for tests.
//
// Start binds two loopback listeners for the code under test, writes a pebble
// configuration whose challenge ports (httpPort for HTTP-01, tlsPort for
// TLS-ALPN-01) are theirs, serves pebble's own HTTPS with a certificate
// generated for the test, and waits until the ACME directory answers.
//
// Pebble resolves the names it validates with the system resolver, so Domain
// ("localhost", answered by /etc/hosts) reaches the listeners on 127.0.0.1.
package testpebble

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookguard/hookguard/internal/freeport"
	"github.com/hookguard/hookguard/internal/syncbuf"
)

// Domain is the loopback name pebble can validate: pebble resolves it with
// the system resolver (/etc/hosts) to 127.0.0.1, where the listeners are.
const Domain = "localhost"

// DefaultBinary is where Debian's package installs pebble. The environment
// variable PEBBLE_BIN overrides it; otherwise "pebble" is looked up in PATH
// when DefaultBinary is absent.
const DefaultBinary = "/usr/bin/pebble"

// startTimeout bounds how long Start waits for pebble's directory.
const startTimeout = 10 * time.Second

// Pebble is a running pebble process.
type Pebble struct {
	// HTTPListener and TLSListener are bound on 127.0.0.1; pebble validates
	// HTTP-01 challenges on HTTPListener's port and TLS-ALPN-01 challenges on
	// TLSListener's port. The caller serves on them (the plain HTTP and the
	// HTTPS listener of the code under test); they are closed at cleanup.
	HTTPListener, TLSListener net.Listener

	dir        string
	caPath     string
	caPool     *x509.CertPool
	acmeAddr   string
	mgmtAddr   string
	cmd        *exec.Cmd
	out        *syncbuf.Buffer
	exited     chan struct{}
	stopOnce   sync.Once
	httpClient *http.Client
}

// Start runs pebble for the duration of the test. When the binary is absent
// the test is skipped, or fails if the environment variable CI is "true".
func Start(t testing.TB) *Pebble {
	t.Helper()
	bin := binary()
	if bin == "" {
		msg := "pebble ACME test server not installed (apt-get install pebble, or set PEBBLE_BIN)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	p := &Pebble{dir: t.TempDir(), out: &syncbuf.Buffer{}}
	var err error
	p.HTTPListener, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.HTTPListener.Close() })
	p.TLSListener, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.TLSListener.Close() })
	if err := p.writeServerCert(); err != nil {
		t.Fatal(err)
	}
	p.httpClient = &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.caPool}},
	}
	t.Cleanup(p.httpClient.CloseIdleConnections)

	// pebble cannot report a port it chose itself, so pick free ones; if
	// another process takes one meanwhile, pebble exits and we try again.
	for attempt := 1; ; attempt++ {
		err = p.start(bin)
		if err == nil {
			break
		}
		p.Stop()
		if attempt == 3 {
			t.Fatalf("starting pebble: %v\n%s", err, p.out.String())
		}
		p.out.Reset()
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("pebble output:\n%s", p.out.String())
		}
	})
	return p
}

func binary() string {
	if b := os.Getenv("PEBBLE_BIN"); b != "" {
		return b
	}
	if _, err := os.Stat(DefaultBinary); err == nil {
		return DefaultBinary
	}
	if b, err := exec.LookPath("pebble"); err == nil {
		return b
	}
	return ""
}

func (p *Pebble) start(bin string) error {
	acmePort, err := freeport.Port()
	if err != nil {
		return err
	}
	mgmtPort, err := freeport.Port()
	if err != nil {
		return err
	}
	p.acmeAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(acmePort))
	p.mgmtAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(mgmtPort))
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  p.acmeAddr,
		"managementListenAddress":        p.mgmtAddr,
		"certificate":                    filepath.Join(p.dir, "pebble-cert.pem"),
		"privateKey":                     filepath.Join(p.dir, "pebble-key.pem"),
		"httpPort":                       port(p.HTTPListener),
		"tlsPort":                        port(p.TLSListener),
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
	}}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(p.dir, "pebble-config.json")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		return err
	}

	p.cmd = exec.Command(bin, "-config", cfgPath, "-strict=false")
	p.cmd.Env = append(os.Environ(),
		"PEBBLE_VA_NOSLEEP=1",      // validate challenges at once
		"PEBBLE_WFE_NONCEREJECT=0", // no artificial badNonce errors
		"PEBBLE_AUTHZREUSE=0",      // every order solves its challenges
	)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	p.cmd.WaitDelay = 2 * time.Second
	p.cmd.SysProcAttr = sysProcAttr()
	if err := p.cmd.Start(); err != nil {
		return err
	}
	p.exited = make(chan struct{})
	p.stopOnce = sync.Once{}
	go func() {
		p.cmd.Wait()
		close(p.exited)
	}()

	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := p.httpClient.Get(p.DirectoryURL())
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("pebble exited: %v", p.cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pebble directory not answering after %v: %v", startTimeout, err)
		}
	}
}

// Stop ends pebble now (it is also stopped at cleanup). Safe to call twice.
func (p *Pebble) Stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.stopOnce.Do(func() {
		p.cmd.Process.Kill()
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
		}
	})
}

// DirectoryURL is the ACME directory, served over HTTPS signed by CARoot.
func (p *Pebble) DirectoryURL() string { return "https://" + p.acmeAddr + "/dir" }

// CARootPath is a PEM file with the root that signs pebble's own HTTPS
// (the ACME and management endpoints): what a client needs to talk ACME.
func (p *Pebble) CARootPath() string { return p.caPath }

// CARootPool holds the root of CARootPath.
func (p *Pebble) CARootPool() *x509.CertPool { return p.caPool }

// IssuanceRoots fetches, from pebble's management interface (/roots/0), the
// root that the certificates pebble issues chain to. Pebble makes a new one
// on every start.
func (p *Pebble) IssuanceRoots(t testing.TB) *x509.CertPool {
	t.Helper()
	pemBytes, err := p.get("/roots/0")
	if err != nil {
		t.Fatalf("fetching pebble's issuance root: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("no certificate in pebble's /roots/0:\n%s", pemBytes)
	}
	return pool
}

// Log is what pebble printed so far: one line per ACME request, e.g.
// "POST /order-plz -> calling handler()".
func (p *Pebble) Log() string { return p.out.String() }

// Orders counts the new-order requests pebble received so far.
func (p *Pebble) Orders() int { return strings.Count(p.Log(), "POST /order-plz ") }

// Accounts counts the new-account requests pebble received so far.
func (p *Pebble) Accounts() int { return strings.Count(p.Log(), "POST /sign-me-up ") }

func (p *Pebble) get(path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+p.mgmtAddr+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return b, nil
}

// writeServerCert makes a throwaway CA and a certificate for 127.0.0.1 and
// localhost signed by it, for pebble's own HTTPS listeners. (Debian's
// package does not ship pebble's test/certs.)
func (p *Pebble) writeServerCert() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "testpebble minica root"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	p.caPath = filepath.Join(p.dir, "pebble-ca.pem")
	files := []struct {
		path, typ string
		der       []byte
	}{
		{p.caPath, "CERTIFICATE", caDER},
		{filepath.Join(p.dir, "pebble-cert.pem"), "CERTIFICATE", der},
		{filepath.Join(p.dir, "pebble-key.pem"), "EC PRIVATE KEY", keyDER},
	}
	for _, f := range files {
		b := pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der})
		if err := os.WriteFile(f.path, b, 0o600); err != nil {
			return err
		}
	}
	p.caPool = x509.NewCertPool()
	p.caPool.AddCert(ca)
	return nil
}

func port(ln net.Listener) int { return ln.Addr().(*net.TCPAddr).Port }
