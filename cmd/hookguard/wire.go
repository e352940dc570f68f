package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/hookguard/hookguard/proxy"
	"github.com/hookguard/hookguard/verify"
)

// env is what the wiring reads from the outside world.
type env struct {
	getenv   func(string) string
	readFile func(string) ([]byte, error)
	now      func() time.Time
}

// resolveSecret reads file:/path secrets; any other value is the secret
// itself (${VAR} was expanded when the file was read). An empty secret is
// an error.
func resolveSecret(v string, e env) (string, error) {
	if path, ok := strings.CutPrefix(v, "file:"); ok {
		b, err := e.readFile(path)
		if err != nil {
			return "", fmt.Errorf("reading secret file: %w", err)
		}
		v = strings.TrimRight(string(b), "\r\n")
	}
	if v == "" {
		return "", errors.New("secret is empty")
	}
	return v, nil
}

func parsePrefixes(field string, list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("%w: %s: %q is not a CIDR or address", errConfig, field, s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// buildRoutes turns the routes of the config into proxy routes, reading
// every secret. Errors name the route and field, never a secret.
func buildRoutes(cfg *fileConfig, e env) ([]proxy.Route, error) {
	if len(cfg.Routes) == 0 {
		return nil, fmt.Errorf("%w: routes: at least one route is needed", errConfig)
	}
	routes := make([]proxy.Route, 0, len(cfg.Routes))
	for i, rc := range cfg.Routes {
		field := fmt.Sprintf("routes[%d]", i)
		if rc.Path != "" {
			field += " (" + rc.Path + ")"
		}
		r, err := buildRoute(rc, e)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", errConfig, field, err)
		}
		routes = append(routes, r)
	}
	return routes, nil
}

func buildRoute(rc routeConfig, e env) (proxy.Route, error) {
	var r proxy.Route
	if rc.Path == "" {
		return r, errors.New("path: required")
	}
	if rc.Provider == "" {
		return r, fmt.Errorf("provider: required (one of %s)", strings.Join(verify.Providers(), ", "))
	}
	if rc.Upstream == "" {
		return r, errors.New("upstream: required")
	}
	up, err := url.Parse(rc.Upstream)
	if err != nil || up.Host == "" || (up.Scheme != "http" && up.Scheme != "https") {
		return r, fmt.Errorf("upstream: %q is not an absolute http:// or https:// URL", rc.Upstream)
	}
	if rc.DedupeSize < 0 {
		return r, errors.New("dedupe_size: must not be negative")
	}
	if len(rc.Secrets) == 0 {
		return r, errors.New("secrets: at least one key id with a secret is needed")
	}
	keys := make(map[string][]string, len(rc.Secrets))
	ids := make([]string, 0, len(rc.Secrets))
	for id := range rc.Secrets {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		list := rc.Secrets[id]
		if len(list) == 0 {
			return r, fmt.Errorf("secrets.%s: empty list", id)
		}
		for j, s := range list {
			v, err := resolveSecret(s, e)
			if err != nil {
				return r, fmt.Errorf("secrets.%s[%d]: %w", id, j, err)
			}
			keys[id] = append(keys[id], v)
		}
	}
	v, err := verify.New(rc.Provider, verify.Options{Keys: keys, Tolerance: rc.Tolerance.d, ToleranceOff: rc.Tolerance.off,
		MaxTokenLifetime: time.Duration(rc.MaxTokenLifetime), PublicURL: rc.PublicURL.v, AllowSHA1: rc.AllowSHA1.v,
		HMAC: rc.HMAC.verifyHMAC(), Now: e.now})
	if err != nil {
		if key, line := rc.optionLine(err); line > 0 {
			return r, fmt.Errorf("line %d: %s: provider %s: %w", line, key, rc.Provider, err)
		}
		return r, fmt.Errorf("provider %s: %w", rc.Provider, err)
	}
	allow, err := parsePrefixes("allow_cidrs", rc.AllowCIDRs)
	if err != nil {
		return r, err
	}
	switch rc.Delivery {
	case "", proxy.DeliverySync:
		if rc.Concurrency != 0 || rc.Retry != nil {
			return r, errors.New("concurrency and retry apply to delivery: queue only")
		}
	case proxy.DeliveryQueue:
		if rc.Concurrency < 0 {
			return r, errors.New("concurrency: must not be negative")
		}
		if rt := rc.Retry; rt != nil && (rt.MaxAttempts < 0 || rt.MaxAge < 0 || rt.InitialBackoff < 0 || rt.MaxBackoff < 0) {
			return r, errors.New("retry: values must not be negative")
		}
	default:
		return r, fmt.Errorf("delivery: %q (want sync or queue)", rc.Delivery)
	}
	r = proxy.Route{
		Delivery:   rc.Delivery,
		Name:       rc.Name,
		Path:       rc.Path,
		Provider:   rc.Provider,
		Verifier:   v,
		Upstream:   up,
		MaxBody:    int64(rc.MaxBody),
		Timeout:    time.Duration(rc.Timeout),
		AllowCIDRs: allow,
	}
	if f := rc.Forward; f != nil {
		r.Forward.Format = f.Format
		if f.SigningSecret != "" {
			s, err := resolveSecret(f.SigningSecret, e)
			if err != nil {
				return r, fmt.Errorf("forward.signing_secret: %w", err)
			}
			key, err := verify.ParseStandardSecret(s)
			if err != nil {
				return r, fmt.Errorf("forward.signing_secret: %w", err)
			}
			r.Forward.SigningKey = key
		}
	}
	return r, nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if s == "" {
		return slog.LevelInfo, nil
	}
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("%w: log_level: %q (want debug, info, warn or error)", errConfig, s)
	}
	return l, nil
}
