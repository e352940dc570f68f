package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hookguard/hookguard/verify"
	"github.com/spf13/pflag"
)

// serveFlags are the flags of `hookguard serve`. Every flag can also be set
// by an environment variable: HOOKGUARD_ + its name in upper case with
// dashes as underscores (--max-body → HOOKGUARD_MAX_BODY). A flag on the
// command line wins over the variable.
type serveFlags struct {
	config       string
	listen       string
	adminListen  string
	logLevel     string
	path         string
	provider     string
	upstream     string
	secrets      []string
	tolerance    tolerance
	maxBody      string
	timeout      time.Duration
	allowCIDRs   []string
	trusted      []string
	forwardKey   string
	forwardFmt   string
	dedupeStore  string
	dedupeSize   int
	dedupeTTL    time.Duration
	redisURL     string
	onStoreError string
	tlsDomains   []string
	tlsEmail     string
	tlsCA        string
	tlsStorage   string
	tlsCertFile  string
	tlsKeyFile   string
	tlsHTTP      string
}

func newServeFlagSet(name string, out io.Writer) (*pflag.FlagSet, *serveFlags) {
	f := &serveFlags{}
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&f.config, "config", "", "YAML config file with any number of routes (the route flags below are then refused)")
	fs.StringVar(&f.listen, "listen", "", "address to serve webhooks on (default :8080, or :443 with TLS)")
	fs.StringVar(&f.adminListen, "admin-listen", "", `admin listener for /metrics /healthz /readyz (default 127.0.0.1:9090; "off" disables)`)
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (default info)")
	fs.StringVar(&f.path, "path", "/webhook", "path of the single route")
	fs.StringVar(&f.provider, "provider", "", "provider of the single route: "+strings.Join(verify.Providers(), ", "))
	fs.StringVar(&f.upstream, "upstream", "", "URL of the app that receives verified events")
	fs.StringArrayVar(&f.secrets, "secret", nil, "KEYID=SOURCE, repeatable; SOURCE is env:NAME, file:/path or the secret itself (prefer env: or file:)")
	fs.Var(&f.tolerance, "tolerance", "accepted clock difference of signed timestamps, or off (default: the provider's)")
	fs.StringVar(&f.maxBody, "max-body", "", "body limit, e.g. 1MiB (default 1MiB)")
	fs.DurationVar(&f.timeout, "timeout", 0, "timeout of one forward to the app (default: fits the provider's own timeout)")
	fs.StringSliceVar(&f.allowCIDRs, "allow-cidr", nil, "only accept webhooks from these networks (repeatable)")
	fs.StringSliceVar(&f.trusted, "trusted-proxy", nil, "networks of proxies whose X-Forwarded-For is believed (repeatable)")
	fs.StringVar(&f.forwardKey, "forward-secret", "", "whsec_ secret (env:NAME or file:/path) to sign forwarded requests with Standard Webhooks headers")
	fs.StringVar(&f.forwardFmt, "forward-format", "", "original (default) or cloudevents")
	fs.StringVar(&f.dedupeStore, "dedupe-store", "", "memory (default) or redis")
	fs.IntVar(&f.dedupeSize, "dedupe-size", 0, "events remembered per route by the memory store (default 100000)")
	fs.DurationVar(&f.dedupeTTL, "dedupe-ttl", 0, "how long a delivered event is remembered (default 1h)")
	fs.StringVar(&f.redisURL, "redis-url", "", "redis://host:port/db for --dedupe-store redis")
	fs.StringVar(&f.onStoreError, "on-store-error", "", "forward (default) or reject when the dedupe store is unreachable")
	fs.StringSliceVar(&f.tlsDomains, "tls-domain", nil, "serve HTTPS with ACME certificates for this name (repeatable)")
	fs.StringVar(&f.tlsEmail, "tls-email", "", "ACME account email")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "ACME directory URL (default Let's Encrypt)")
	fs.StringVar(&f.tlsStorage, "tls-storage", "", "where certificates and ACME account keys are kept")
	fs.StringVar(&f.tlsCertFile, "tls-cert-file", "", "serve HTTPS with this certificate (PEM)")
	fs.StringVar(&f.tlsKeyFile, "tls-key-file", "", "private key of --tls-cert-file (PEM)")
	fs.StringVar(&f.tlsHTTP, "tls-http-listen", "", "HTTP listener for ACME challenges and redirects (default :80)")
	return fs, f
}

// applyEnv sets every flag not given on the command line from its
// HOOKGUARD_* variable.
func applyEnv(fs *pflag.FlagSet, getenv func(string) string) error {
	var err error
	fs.VisitAll(func(fl *pflag.Flag) {
		if err != nil || fl.Changed {
			return
		}
		name := envName(fl.Name)
		v := getenv(name)
		if v == "" {
			return
		}
		if fl.Value.Type() == "stringArray" {
			for _, item := range strings.Split(v, ",") {
				if serr := fs.Set(fl.Name, strings.TrimSpace(item)); serr != nil {
					err = fmt.Errorf("%s: %w", name, serr)
					return
				}
			}
			return
		}
		if serr := fs.Set(fl.Name, v); serr != nil {
			err = fmt.Errorf("%s: %w", name, serr)
		}
	})
	return err
}

func envName(flag string) string {
	return "HOOKGUARD_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// routeFlags are the flags that describe the single route.
var routeFlags = []string{"path", "provider", "upstream", "secret", "tolerance", "max-body", "timeout", "allow-cidr", "forward-secret", "forward-format"}

// toConfig turns the flags into the same structure a config file gives.
func (f *serveFlags) toConfig(getenv func(string) string) (*fileConfig, error) {
	cfg := &fileConfig{Listen: f.listen, LogLevel: f.logLevel, TrustedProxies: f.trusted}
	if f.adminListen != "" {
		cfg.Admin = &adminConfig{Listen: f.adminListen}
	}
	if f.provider == "" || f.upstream == "" {
		return nil, fmt.Errorf("%w: give --config FILE, or --provider and --upstream (or HOOKGUARD_PROVIDER and HOOKGUARD_UPSTREAM)", errConfig)
	}
	rc := routeConfig{
		Path: f.path, Provider: f.provider, Upstream: f.upstream,
		Tolerance: f.tolerance, Timeout: duration(f.timeout),
		AllowCIDRs: f.allowCIDRs, Secrets: map[string]secretList{},
	}
	if f.maxBody != "" {
		n, err := parseByteSize(f.maxBody)
		if err != nil {
			return nil, fmt.Errorf("%w: --max-body: %w", errConfig, err)
		}
		rc.MaxBody = byteSize(n)
	}
	for _, s := range f.secrets {
		id, src, ok := strings.Cut(s, "=")
		if !ok || id == "" || src == "" {
			return nil, fmt.Errorf("%w: --secret wants KEYID=SOURCE (env:NAME, file:/path or the secret)", errConfig)
		}
		v, err := flagSecret(src, getenv)
		if err != nil {
			return nil, fmt.Errorf("%w: --secret %s: %w", errConfig, id, err)
		}
		rc.Secrets[id] = append(rc.Secrets[id], v)
	}
	if f.forwardKey != "" || f.forwardFmt != "" {
		rc.Forward = &forwardConfig{Format: f.forwardFmt}
		if f.forwardKey != "" {
			v, err := flagSecret(f.forwardKey, getenv)
			if err != nil {
				return nil, fmt.Errorf("%w: --forward-secret: %w", errConfig, err)
			}
			rc.Forward.SigningSecret = v
		}
	}
	cfg.Routes = []routeConfig{rc}
	if f.dedupeStore != "" || f.dedupeSize != 0 || f.dedupeTTL != 0 || f.redisURL != "" || f.onStoreError != "" {
		cfg.Dedupe = &dedupeConfig{Store: f.dedupeStore, Size: f.dedupeSize, TTL: duration(f.dedupeTTL), RedisURL: f.redisURL, OnStoreError: f.onStoreError}
	}
	if len(f.tlsDomains) > 0 || f.tlsCertFile != "" || f.tlsKeyFile != "" {
		cfg.TLS = &tlsConfig{Domains: f.tlsDomains, Email: f.tlsEmail, CA: f.tlsCA, Storage: f.tlsStorage,
			CertFile: f.tlsCertFile, KeyFile: f.tlsKeyFile, HTTPListen: f.tlsHTTP}
	}
	return cfg, nil
}

// flagSecret reads env:NAME from the environment; file:/path is kept for
// resolveSecret, as in the config file.
func flagSecret(src string, getenv func(string) string) (string, error) {
	if name, ok := strings.CutPrefix(src, "env:"); ok {
		v := getenv(name)
		if v == "" {
			return "", fmt.Errorf("%w: %q (or it is empty)", errMissingVar, name)
		}
		return v, nil
	}
	return src, nil
}
