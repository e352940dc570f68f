package main

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/hookguard/hookguard/verify"
	"go.yaml.in/yaml/v3"
)

// fileConfig is the YAML configuration file. Keys are snake_case; unknown
// keys are an error.
type fileConfig struct {
	Listen   string `yaml:"listen"`
	LogLevel string `yaml:"log_level"`
	// Watch reloads the config when the file or a file: secret changes
	// (SIGHUP always does).
	Watch          bool          `yaml:"watch"`
	Admin          *adminConfig  `yaml:"admin"`
	TrustedProxies []string      `yaml:"trusted_proxies"`
	TLS            *tlsConfig    `yaml:"tls"`
	Dedupe         *dedupeConfig `yaml:"dedupe"`
	Queue          *queueConfig  `yaml:"queue"`
	Routes         []routeConfig `yaml:"routes"`
}

type adminConfig struct {
	Listen string `yaml:"listen"` // "" → 127.0.0.1:9090; "off" disables
	// Token guards the queue API (and the console); required when Listen
	// is not loopback. A secret: ${VAR} or file:/path.
	Token string `yaml:"token"`
	// Metrics is "token" (default: /metrics behind the token when one is
	// set) or "open".
	Metrics string `yaml:"metrics"`
}

// queueConfig configures the store of the routes with delivery: queue.
type queueConfig struct {
	Store    string `yaml:"store"` // disk (default) or redis
	Path     string `yaml:"path"`
	RedisURL string `yaml:"redis_url"`
	// Consumer names this instance in Redis's consumer groups; it must
	// differ between replicas and stay the same across restarts of one.
	// "": the host name and the webhook listen address.
	Consumer   string   `yaml:"consumer"`
	MaxEvents  int      `yaml:"max_events"`
	Lease      duration `yaml:"lease"`
	DeadMaxAge duration `yaml:"dead_max_age"`
}

// retryConfig is a queue route's retry policy; zero values are the
// defaults of queue.Backoff.
type retryConfig struct {
	MaxAttempts    int      `yaml:"max_attempts"`
	MaxAge         duration `yaml:"max_age"`
	InitialBackoff duration `yaml:"initial_backoff"`
	MaxBackoff     duration `yaml:"max_backoff"`
}

type tlsConfig struct {
	HTTPListen string   `yaml:"http_listen"`
	Domains    []string `yaml:"domains"`
	Email      string   `yaml:"email"`
	CA         string   `yaml:"ca"`
	CARoot     string   `yaml:"ca_root"`
	Storage    string   `yaml:"storage"`
	CertFile   string   `yaml:"cert_file"`
	KeyFile    string   `yaml:"key_file"`
}

type dedupeConfig struct {
	Store        string   `yaml:"store"` // memory (default) or redis
	Size         int      `yaml:"size"`
	TTL          duration `yaml:"ttl"`
	InFlightTTL  duration `yaml:"in_flight_ttl"`
	RedisURL     string   `yaml:"redis_url"`
	OnStoreError string   `yaml:"on_store_error"` // forward (default) or reject
}

type routeConfig struct {
	Name       string                `yaml:"name"`
	Path       string                `yaml:"path"`
	Provider   string                `yaml:"provider"`
	Upstream   string                `yaml:"upstream"`
	Secrets    map[string]secretList `yaml:"secrets"`
	Tolerance  tolerance             `yaml:"tolerance"`
	MaxBody    byteSize              `yaml:"max_body"`
	Timeout    duration              `yaml:"timeout"`
	AllowCIDRs []string              `yaml:"allow_cidrs"`
	Forward    *forwardConfig        `yaml:"forward"`
	// MaxTokenLifetime (livekit) bounds how far ahead a token's exp may lie.
	MaxTokenLifetime duration `yaml:"max_token_lifetime"`
	// Delivery is sync (default) or queue; Concurrency and Retry apply to
	// queue routes.
	Delivery    string       `yaml:"delivery"`
	Concurrency int          `yaml:"concurrency"`
	Retry       *retryConfig `yaml:"retry"`
	// DedupeSize bounds the keys this route's memory store remembers.
	// 0: dedupe.size.
	DedupeSize int `yaml:"dedupe_size"`
	// Provider-specific keys (PROVIDERS.md): PublicURL (twilio) is the
	// route's public URL without a query; AllowSHA1 (agora, github, hmac)
	// accepts SHA-1 signatures; HMAC configures provider hmac.
	PublicURL lineString  `yaml:"public_url"`
	AllowSHA1 lineBool    `yaml:"allow_sha1"`
	HMAC      *hmacConfig `yaml:"hmac"`
}

// hmacFields are the keys of a route's hmac section (verify.HMACConfig).
type hmacFields struct {
	Header          string `yaml:"header"`
	Algorithm       string `yaml:"algorithm"`
	Encoding        string `yaml:"encoding"`
	Prefix          string `yaml:"prefix"`
	Signed          string `yaml:"signed"`
	TimestampHeader string `yaml:"timestamp_header"`
	TimestampUnit   string `yaml:"timestamp_unit"`
	IDHeader        string `yaml:"id_header"`
	IDField         string `yaml:"id_field"`
}

// hmacConfig is a route's hmac section, with the line of each key so that
// an error about one names it.
type hmacConfig struct {
	hmacFields
	line  int
	lines map[string]int
}

func (h *hmacConfig) UnmarshalYAML(n *yaml.Node) error {
	if err := knownKeys(n, reflect.TypeFor[hmacFields]()); err != nil {
		return err
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: hmac: a mapping of header, algorithm, encoding, prefix, signed, timestamp_header, timestamp_unit, id_header, id_field", n.Line)
	}
	if err := n.Decode(&h.hmacFields); err != nil {
		return err
	}
	h.line, h.lines = n.Line, map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		h.lines[n.Content[i].Value] = n.Content[i].Line
	}
	return nil
}

// lineString is a string key that remembers its line.
type lineString struct {
	v    string
	line int
}

func (l *lineString) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a string is needed", n.Line)
	}
	*l = lineString{v: n.Value, line: n.Line}
	return nil
}

// lineBool is a true/false key that remembers its line.
type lineBool struct {
	v    bool
	line int
}

func (l *lineBool) UnmarshalYAML(n *yaml.Node) error {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
		return fmt.Errorf("line %d: %q is not true or false", n.Line, n.Value)
	}
	*l = lineBool{v: b, line: n.Line}
	return nil
}

// optionLine is the line of the provider-specific key that err, from
// verify.New, is about; 0 when it is about none.
func (rc *routeConfig) optionLine(err error) (string, int) {
	var oe *verify.OptionError
	if errors.As(err, &oe) {
		switch oe.Option {
		case verify.OptionPublicURL:
			return "public_url", rc.PublicURL.line
		case verify.OptionAllowSHA1:
			return "allow_sha1", rc.AllowSHA1.line
		case verify.OptionHMAC:
			return "hmac", rc.HMAC.line
		}
		return "", 0
	}
	msg := err.Error()
	switch {
	case rc.PublicURL.line > 0 && strings.Contains(msg, "PublicURL"):
		return "public_url", rc.PublicURL.line
	case rc.HMAC != nil:
		for k, line := range rc.HMAC.lines {
			if strings.Contains(msg, "hmac: "+k+":") || strings.Contains(msg, "hmac: signed: the "+k) {
				return "hmac." + k, line
			}
		}
		if strings.Contains(msg, "allow_sha1") {
			return "hmac.algorithm", rc.HMAC.lines["algorithm"]
		}
		if strings.Contains(msg, "hmac:") {
			return "hmac", rc.HMAC.line
		}
	}
	return "", 0
}

// verifyHMAC converts the hmac section for verify.Options.
func (h *hmacConfig) verifyHMAC() *verify.HMACConfig {
	if h == nil {
		return nil
	}
	f := h.hmacFields
	return &verify.HMACConfig{Header: f.Header, Algorithm: f.Algorithm, Encoding: f.Encoding, Prefix: f.Prefix, Signed: f.Signed,
		TimestampHeader: f.TimestampHeader, TimestampUnit: f.TimestampUnit, IDHeader: f.IDHeader, IDField: f.IDField}
}

type forwardConfig struct {
	SigningSecret string `yaml:"signing_secret"`
	Format        string `yaml:"format"`
}
