package listen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// acmeTLS1Protocol is the ALPN protocol of TLS-ALPN-01 challenges (RFC 8737).
const acmeTLS1Protocol = "acme-tls/1"

// acmeState is the ACME side of Certificates, built on certmagic below its
// HTTPS() helper: an own Cache and Config (no package-level Default), an
// explicit FileStorage, an ACMEIssuer per instance.
type acmeState struct {
	storage    string         // resolved TLSConfig.Storage
	roots      *x509.CertPool // to trust the CA; nil: system roots
	listenHost string         // host both listeners share ("" when they differ)
	httpPort   int            // HTTP-01 is answered here
	tlsPort    int            // TLS-ALPN-01 is answered here

	// Tests narrow the challenge types to exercise each one.
	disableHTTP01, disableTLSALPN01 bool

	cache  *certmagic.Cache
	magic  atomic.Pointer[certmagic.Config]
	issuer atomic.Pointer[certmagic.ACMEIssuer]
}

func (c *Certificates) prepareACME(getenv func(string) string) error {
	a := &c.acme
	a.storage = c.cfg.Storage
	if a.storage == "" {
		a.storage = defaultStorage(getenv)
	}
	if c.cfg.CARoot != "" {
		pemBytes, err := os.ReadFile(c.cfg.CARoot)
		if err != nil {
			return fieldErr("CARoot", "%w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pemBytes) {
			return fieldErr("CARoot", "no PEM certificate in %s", c.cfg.CARoot)
		}
		a.roots = pool
	}
	httpHost, httpPort, _ := listenPort(c.cfg.HTTPListen, ":80")
	httpsHost, httpsPort, _ := listenPort(c.cfg.HTTPSListen, ":443")
	a.httpPort, a.tlsPort = httpPort, httpsPort
	if httpHost == httpsHost {
		a.listenHost = httpHost
	}
	return nil
}

func (c *Certificates) startACME(ctx context.Context) error {
	a := &c.acme
	if err := os.MkdirAll(a.storage, 0o700); err != nil {
		return fieldErr("Storage", "%w", err)
	}
	zl := zap.New(newSlogCore(c.log.Handler(), "certmagic"))

	a.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return a.magic.Load(), nil },
		Logger:           zl,
	})
	magic := certmagic.New(a.cache, certmagic.Config{
		Storage:           &certmagic.FileStorage{Path: a.storage},
		DefaultServerName: strings.ToLower(c.cfg.Domains[0]), // for clients sending no SNI
		OnEvent:           c.onACMEEvent,
		Logger:            zl,
	})
	ca := c.cfg.CA
	if ca == "" {
		ca = certmagic.LetsEncryptProductionCA
	}
	issuer := certmagic.NewACMEIssuer(magic, certmagic.ACMEIssuer{
		CA:                      ca,
		Email:                   c.cfg.Email,
		Agreed:                  true,
		TrustedRoots:            a.roots,
		ListenHost:              a.listenHost,
		AltHTTPPort:             a.httpPort,
		AltTLSALPNPort:          a.tlsPort,
		DisableHTTPChallenge:    a.disableHTTP01,
		DisableTLSALPNChallenge: a.disableTLSALPN01,
		Logger:                  zl,
	})
	magic.Issuers = []certmagic.Issuer{issuer}
	a.magic.Store(magic)
	a.issuer.Store(issuer)

	c.log.Info("tls: managing certificates with ACME",
		"domains", c.cfg.Domains, "ca", ca, "storage", a.storage)
	if err := magic.ManageAsync(ctx, c.cfg.Domains); err != nil {
		a.cache.Stop()
		return fmt.Errorf("tls: managing certificates: %w", err)
	}
	go func() {
		defer close(c.done)
		<-ctx.Done()
		a.cache.Stop()
	}()
	return nil
}

// onACMEEvent logs certmagic's certificate events in our own terms: one
// line per outcome, with the domain and, on failure, the reason.
func (c *Certificates) onACMEEvent(ctx context.Context, event string, data map[string]any) error {
	switch event {
	case "cert_obtained":
		c.log.LogAttrs(ctx, slog.LevelInfo, "tls: certificate obtained",
			slog.Any("domain", data["identifier"]), slog.Any("renewal", data["renewal"]),
			slog.Any("issuer", data["issuer"]))
	case "cert_failed":
		c.log.LogAttrs(ctx, slog.LevelError, "tls: certificate not obtained; will retry",
			slog.Any("domain", data["identifier"]), slog.Any("renewal", data["renewal"]),
			slog.String("reason", fmt.Sprint(data["error"])))
	case "cached_managed_cert":
		c.log.LogAttrs(ctx, slog.LevelInfo, "tls: certificate loaded", slog.Any("domains", data["sans"]))
	}
	return nil
}

// acmeCertificate is the HTTPS listener's GetCertificate with ACME.
func (c *Certificates) acmeCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	magic := c.acme.magic.Load()
	if magic == nil {
		return nil, fmt.Errorf("%w: not started", ErrCertificateNotReady)
	}
	return magic.GetCertificate(hello)
}

// handleHTTPChallenge answers an ACME HTTP-01 challenge request; it reports
// whether r was one.
func (c *Certificates) handleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool {
	issuer := c.acme.issuer.Load()
	return issuer != nil && issuer.HandleHTTPChallenge(w, r)
}

func (c *Certificates) acmeReady() error {
	if c.acme.magic.Load() == nil {
		return fmt.Errorf("%w: not started", ErrCertificateNotReady)
	}
	var missing []string
	for _, d := range c.cfg.Domains {
		ok := false
		for _, cert := range c.acme.cache.AllMatchingCertificates(strings.ToLower(d)) {
			if !cert.Expired() {
				ok = true
				break
			}
		}
		if !ok {
			missing = append(missing, d)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: no valid certificate yet for %s", ErrCertificateNotReady, strings.Join(missing, ", "))
	}
	return nil
}
