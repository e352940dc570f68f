package listen

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// defaultPollInterval is how often the static certificate files are
// checked for changes.
const defaultPollInterval = 5 * time.Second

// staticState is the static-file side of Certificates.
type staticState struct {
	poll time.Duration // the watcher's interval (tests shorten it)

	mu      sync.Mutex // serializes loads (Reload and the watcher)
	seen    [sha256.Size]byte
	current atomic.Pointer[tls.Certificate]
}

// readStatic reads both files. sum covers their contents, so that the
// watcher sees any change whatever the file system's mtime granularity,
// and tries a failing pair once per change, not once per poll.
func (c *Certificates) readStatic() (certPEM, keyPEM []byte, sum [sha256.Size]byte, err error) {
	certPEM, certErr := os.ReadFile(c.cfg.CertFile) // follows symlinks (Kubernetes secret volumes swap them)
	keyPEM, keyErr := os.ReadFile(c.cfg.KeyFile)
	h := sha256.New()
	for _, b := range [][]byte{certPEM, keyPEM} {
		fmt.Fprintf(h, "%d\n", len(b))
		h.Write(b)
	}
	h.Sum(sum[:0])
	switch {
	case certErr != nil:
		err = fieldErr("CertFile", "%w", certErr)
	case keyErr != nil:
		err = fieldErr("KeyFile", "%w", keyErr)
	}
	return certPEM, keyPEM, sum, err
}

func (c *Certificates) startStatic(ctx context.Context) error {
	if err := c.reloadStatic(); err != nil {
		return err
	}
	go func() {
		defer close(c.done)
		c.watchStatic(ctx)
	}()
	return nil
}

// watchStatic reloads the pair when either file changes, until ctx is done.
// A change that does not load (say the certificate was written and the key
// not yet) is logged, and the next change is tried again.
func (c *Certificates) watchStatic(ctx context.Context) {
	t := time.NewTicker(c.static.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, _, sum, _ := c.readStatic()
		c.static.mu.Lock()
		changed := sum != c.static.seen
		c.static.mu.Unlock()
		if changed {
			c.reloadStatic() // logs its outcome
		}
	}
}

// reloadStatic reads the pair and, if usable, swaps it in for new
// handshakes; otherwise the current pair stays.
func (c *Certificates) reloadStatic() error {
	c.static.mu.Lock()
	defer c.static.mu.Unlock()
	certPEM, keyPEM, sum, err := c.readStatic()
	c.static.seen = sum
	var cert tls.Certificate
	if err == nil {
		cert, err = tls.X509KeyPair(certPEM, keyPEM) // fills cert.Leaf
		if err != nil {
			err = fieldErr("CertFile", "%s and %s: %w", c.cfg.CertFile, c.cfg.KeyFile, err)
		}
	}
	if err != nil {
		if c.static.current.Load() != nil {
			c.log.Error("tls: new certificate not loaded; keeping the current one",
				"cert_file", c.cfg.CertFile, "key_file", c.cfg.KeyFile, "reason", err.Error())
		}
		return err
	}
	c.static.current.Store(&cert)
	leaf := cert.Leaf
	c.log.Info("tls: certificate loaded", "cert_file", c.cfg.CertFile,
		"domains", leafNames(leaf), "not_after", leaf.NotAfter)
	if c.cfg.Now().After(leaf.NotAfter) {
		c.log.Error("tls: certificate has expired", "cert_file", c.cfg.CertFile,
			"domains", leafNames(leaf), "not_after", leaf.NotAfter)
	}
	return nil
}

// leafNames are the names a certificate is for, for logs.
func leafNames(leaf *x509.Certificate) []string {
	names := slices.Clone(leaf.DNSNames)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && leaf.Subject.CommonName != "" {
		names = append(names, leaf.Subject.CommonName)
	}
	return names
}

// staticCertificate is the HTTPS listener's GetCertificate with static
// files: the current pair, whatever the name asked.
func (c *Certificates) staticCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if cert := c.static.current.Load(); cert != nil {
		return cert, nil
	}
	return nil, fmt.Errorf("%w: not loaded", ErrCertificateNotReady)
}

func (c *Certificates) staticReady() error {
	if c.static.current.Load() == nil {
		return fmt.Errorf("%w: %s not loaded", ErrCertificateNotReady, c.cfg.CertFile)
	}
	return nil
}
