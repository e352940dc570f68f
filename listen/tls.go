package listen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// TLSConfig is the `tls:` section of the config file. Zero value: not used
// (plain HTTP). Exactly one certificate source is set: Domains (ACME) or
// CertFile and KeyFile (static files).
type TLSConfig struct {
	// HTTPListen is the plain HTTP listener, which answers ACME HTTP-01
	// challenges and redirects browsers to HTTPS. "" → ":80".
	HTTPListen string
	// HTTPSListen is the HTTPS listener: the top-level `listen` of the
	// config file, not a key of the tls section; the caller copies it here.
	// Its port is where TLS-ALPN-01 challenges are answered and where
	// redirects point. "" → ":443".
	HTTPSListen string

	// Domains are the names certificates are obtained for with ACME.
	// Setting them agrees to the CA's subscriber agreement.
	Domains []string
	// Email is given to the CA for the ACME account (expiry notices).
	// "" → the email of an account already in Storage, or none.
	Email string
	// CA is the ACME directory URL. "" → Let's Encrypt production
	// (certmagic.LetsEncryptProductionCA).
	CA string
	// CARoot is a PEM file of extra roots to trust when talking to the CA,
	// added to the system roots (private CAs, tests). "" → system roots.
	CARoot string
	// Storage is the directory for certificates, ACME account keys and
	// locks. Several replicas sharing it (a shared volume) share
	// certificates: one obtains, the others load it. "" →
	// $XDG_DATA_HOME/hookguard, else $HOME/.local/share/hookguard, else
	// (no usable $HOME, as in some containers) /var/lib/hookguard.
	Storage string

	// CertFile and KeyFile are a PEM certificate chain and its private key,
	// used instead of ACME. They are re-read when they change and on
	// Reload (SIGHUP).
	CertFile, KeyFile string

	// Now is the clock (certificate expiry). Nil: time.Now.
	Now func() time.Time
	// Getenv reads the environment (Storage's default). Nil: os.Getenv.
	Getenv func(string) string
}

// ACME reports whether certificates come from ACME (Domains is set).
func (c TLSConfig) ACME() bool { return len(c.Domains) > 0 }

// ErrInvalidTLSConfig is matched (errors.Is) by every error of
// TLSConfig.Validate.
var ErrInvalidTLSConfig = errors.New("invalid tls configuration")

// FieldError is an error about one field of TLSConfig. Field is the Go
// field name, with an index for Domains ("Domains[1]"); the message names
// other fields the same way. Callers that read TLSConfig from a file map
// the names to their own keys. Err, when set, is the cause (errors.Is
// sees it, e.g. fs.ErrNotExist for a missing file).
type FieldError struct {
	Field string
	Msg   string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Is makes every FieldError match ErrInvalidTLSConfig.
func (e *FieldError) Is(target error) bool { return target == ErrInvalidTLSConfig }

func (e *FieldError) Unwrap() error { return e.Err }

// fieldErr returns a *FieldError; an error wrapped with %w is kept as its
// cause.
func fieldErr(field, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &FieldError{Field: field, Msg: err.Error(), Err: errors.Unwrap(err)}
}

// Validate checks c without touching the file system or the network. Every
// problem is reported (errors.Join), each naming its key, e.g.
// "KeyFile: required with CertFile". It does not change c.
func (c TLSConfig) Validate() error {
	var errs []error
	static := c.CertFile != "" || c.KeyFile != ""
	switch {
	case c.ACME() && static:
		errs = append(errs, fieldErr("Domains", "set either Domains (ACME) or CertFile and KeyFile, not both"))
	case !c.ACME() && !static:
		errs = append(errs, fieldErr("Domains", "set Domains (ACME) or CertFile and KeyFile"))
	case c.CertFile == "" && c.KeyFile != "":
		errs = append(errs, fieldErr("CertFile", "required with KeyFile"))
	case c.KeyFile == "" && c.CertFile != "":
		errs = append(errs, fieldErr("KeyFile", "required with CertFile"))
	}
	if !c.ACME() && static {
		for _, f := range []struct{ name, val string }{
			{"Email", c.Email}, {"CA", c.CA}, {"CARoot", c.CARoot}, {"Storage", c.Storage},
		} {
			if f.val != "" {
				errs = append(errs, fieldErr(f.name, "only used with Domains (ACME), not with CertFile"))
			}
		}
	}
	seen := make(map[string]bool)
	for i, d := range c.Domains {
		name := strings.ToLower(strings.TrimSuffix(d, "."))
		if err := checkDomain(name); err != nil {
			errs = append(errs, fieldErr(fmt.Sprintf("Domains[%d]", i), "%q: %v", d, err))
			continue
		}
		if seen[name] {
			errs = append(errs, fieldErr(fmt.Sprintf("Domains[%d]", i), "%q listed twice", d))
		}
		seen[name] = true
	}
	if c.Email != "" {
		if a, err := mail.ParseAddress(c.Email); err != nil || a.Address != c.Email {
			errs = append(errs, fieldErr("Email", "%q is not an email address", c.Email))
		}
	}
	if c.CA != "" {
		u, err := url.Parse(c.CA)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fieldErr("CA", "%q: want the https:// URL of an ACME directory", c.CA))
		}
	}
	_, httpPort, errHTTP := listenPort(c.HTTPListen, ":80")
	if errHTTP != nil {
		errs = append(errs, fieldErr("HTTPListen", "%w", errHTTP))
	}
	_, httpsPort, errHTTPS := listenPort(c.HTTPSListen, ":443")
	if errHTTPS != nil {
		errs = append(errs, fieldErr("HTTPSListen", "%w", errHTTPS))
	}
	if errHTTP == nil && errHTTPS == nil && httpPort == httpsPort {
		errs = append(errs, fieldErr("HTTPListen", "port %d is also the HTTPS listener's (HTTPSListen)", httpPort))
	}
	return errors.Join(errs...)
}

// checkDomain accepts a host name (LDH labels, punycode for IDNs) or an IP
// address. Wildcards need the DNS-01 challenge, which is not supported.
func checkDomain(name string) error {
	if name == "" {
		return errors.New("empty name")
	}
	if net.ParseIP(name) != nil {
		return nil
	}
	if strings.Contains(name, "*") {
		return errors.New("wildcard names need the DNS-01 challenge, which is not supported")
	}
	if strings.ContainsAny(name, ":/") {
		return errors.New("want a bare host name, without scheme, port or path")
	}
	if len(name) > 253 {
		return errors.New("longer than 253 characters")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("invalid label %q", label)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("invalid character %q (IDNs are written in punycode, xn--...)", r)
			}
		}
	}
	return nil
}

// listenPort splits a listen address (def when empty) into host and port.
func listenPort(addr, def string) (host string, port int, err error) {
	if addr == "" {
		addr = def
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%q: want host:port or :port", addr)
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("%q: want a numeric port 1-65535", addr)
	}
	return host, port, nil
}

// defaultStorage is TLSConfig.Storage's default.
func defaultStorage(getenv func(string) string) string {
	if d := getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "hookguard")
	}
	if h := getenv("HOME"); h != "" && h != "/" {
		return filepath.Join(h, ".local", "share", "hookguard")
	}
	return "/var/lib/hookguard"
}

// ErrCertificateNotReady is wrapped by Ready while a certificate is
// missing.
var ErrCertificateNotReady = errors.New("certificate not ready")

// Certificates manages the certificates of the HTTPS listener: obtained
// and renewed with ACME (certmagic) for TLSConfig.Domains, or loaded from
// TLSConfig.CertFile and KeyFile and re-read when they change.
//
// Use: NewCertificates; bind the HTTP and HTTPS listeners; Start; serve
// TLSConfig() on the HTTPS listener and HTTPHandler on the HTTP one. The
// context given to Start bounds all background work.
type Certificates struct {
	cfg       TLSConfig
	log       *slog.Logger
	httpsPort int // for redirects; 443 is left out of URLs

	started atomic.Bool

	// ACME (see tls_acme.go); set by Start.
	acme acmeState
	// Static files (see tls_static.go).
	static staticState

	// done is closed when Start's background work has ended (its context
	// is done and the certificate cache stopped).
	done chan struct{}
}

// NewCertificates validates cfg and prepares certificate management. It
// starts nothing: Start does. logger receives certificate events (nil:
// slog.Default()).
func NewCertificates(cfg TLSConfig, logger *slog.Logger) (*Certificates, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	_, httpsPort, _ := listenPort(cfg.HTTPSListen, ":443")
	c := &Certificates{
		cfg:       cfg,
		log:       logger,
		httpsPort: httpsPort,
		done:      make(chan struct{}),
	}
	if c.cfg.Now == nil {
		c.cfg.Now = time.Now
	}
	if c.cfg.Getenv == nil {
		c.cfg.Getenv = os.Getenv
	}
	if cfg.ACME() {
		if err := c.prepareACME(c.cfg.Getenv); err != nil {
			return nil, err
		}
	} else {
		c.static.poll = defaultPollInterval
	}
	return c, nil
}

// Start begins certificate management; it may be called once.
//
// ACME: certificates found in storage are loaded (no new issuance, no new
// account), the others are obtained in the background, so Start returns at
// once even when the CA is unreachable. Until a domain has a certificate,
// handshakes for it fail and Ready names it; failures are logged with the
// domain and the reason and retried with backoff (after 1 minute, growing
// to every 6 hours, for up to 30 days; then only a restart tries again).
// Renewal runs in the background. Replicas sharing Storage coordinate
// through lock files in it: one obtains or renews, the others load the
// result, and any of them can answer the CA's challenges (their state is
// in Storage too). Call Start after binding the HTTP and HTTPS listeners:
// a challenge started before they exist would bind their ports itself.
//
// Static: the files are loaded now (an error stops start-up), then watched
// for changes every few seconds.
//
// When ctx is done, background work (renewal, file watching) stops.
func (c *Certificates) Start(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("tls: certificates already started")
	}
	var err error
	if c.cfg.ACME() {
		err = c.startACME(ctx)
	} else {
		err = c.startStatic(ctx)
	}
	if err != nil {
		close(c.done) // nothing runs in the background
	}
	return err
}

// TLSConfig returns the configuration for the HTTPS listener: TLS 1.2 at
// least, HTTP/2 and HTTP/1.1 offered (and acme-tls/1, for TLS-ALPN-01
// challenges, with ACME), certificates chosen at each handshake so that
// renewed or reloaded ones are used by new connections at once. Each call
// returns a new value.
func (c *Certificates) TLSConfig() *tls.Config {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
	}
	if c.cfg.ACME() {
		cfg.NextProtos = append(cfg.NextProtos, acmeTLS1Protocol)
		cfg.GetCertificate = c.acmeCertificate
	} else {
		cfg.GetCertificate = c.staticCertificate
	}
	return cfg
}

// Ready returns nil once every configured domain has a certificate in
// memory (static: once the files are loaded). Otherwise the error wraps
// ErrCertificateNotReady and names what is missing. For /readyz.
func (c *Certificates) Ready() error {
	if !c.started.Load() {
		return fmt.Errorf("%w: not started", ErrCertificateNotReady)
	}
	if c.cfg.ACME() {
		return c.acmeReady()
	}
	return c.staticReady()
}

// Reload re-reads the static certificate and key files (on SIGHUP). A pair
// that cannot be used (unreadable, malformed, key not matching) is
// reported and the current one kept. New connections get the new pair;
// existing ones keep theirs. With ACME it does nothing and returns nil:
// certmagic renews by itself.
func (c *Certificates) Reload() error {
	if c.cfg.ACME() {
		return nil
	}
	return c.reloadStatic()
}

// HTTPHandler serves the plain HTTP listener while HTTPS is on:
//
//   - ACME HTTP-01 challenge requests are answered;
//   - GET and HEAD requests are redirected to the same URL over HTTPS
//     (308 Permanent Redirect);
//   - requests for a webhook path (isWebhookPath; nil: none), and requests
//     with other methods, get 421 Misdirected Request and a body saying to
//     use https://: webhook senders do not follow redirects, and a POST
//     body must not be sent again in the clear.
func (c *Certificates) HTTPHandler(isWebhookPath func(path string) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.cfg.ACME() && c.handleHTTPChallenge(w, r) {
			return
		}
		target, ok := c.httpsURL(r)
		if !ok {
			http.Error(w, "hookguard: bad Host header", http.StatusBadRequest)
			return
		}
		webhook := isWebhookPath != nil && isWebhookPath(r.URL.Path)
		if webhook || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusMisdirectedRequest)
			io.WriteString(w, "hookguard accepts this request over HTTPS only: send it to "+target+"\n")
			return
		}
		w.Header().Set("Location", target)
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusPermanentRedirect)
	})
}

// httpsURL is r's URL over HTTPS on the HTTPS listener's port.
func (c *Certificates) httpsURL(r *http.Request) (string, bool) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" || strings.ContainsAny(host, "/?#@ ") {
		return "", false
	}
	if c.httpsPort != 443 {
		host = net.JoinHostPort(host, strconv.Itoa(c.httpsPort))
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	u := url.URL{Scheme: "https", Host: host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	return u.String(), true
}
