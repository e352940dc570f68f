package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

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

// secretList is one secret or a list of them (rotation).
type secretList []string

func (s *secretList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*s = secretList{n.Value}
		return nil
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		*s = l
		return nil
	}
	return fmt.Errorf("line %d: a secret is a string or a list of strings", n.Line)
}

// duration is a time.Duration written as "90s", "5m", "1h".
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 30s or 5m", n.Line, n.Value)
	}
	*d = duration(v)
	return nil
}

// tolerance is a route's freshness window: a duration, or "off". Zero (or
// absent) is the provider's default; a negative value is an error.
type tolerance struct {
	d   time.Duration
	off bool
}

func (t *tolerance) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseTolerance(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*t = v
	return nil
}

func parseTolerance(s string) (tolerance, error) {
	if s == "off" {
		return tolerance{off: true}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return tolerance{}, fmt.Errorf("tolerance: %q is not a duration like 5m, or off", s)
	}
	if d < 0 {
		return tolerance{}, fmt.Errorf("tolerance: %q is negative (0 is the provider's default; off turns the check off)", s)
	}
	return tolerance{d: d}, nil
}

// String and Set make tolerance a flag value.
func (t *tolerance) String() string {
	if t.off {
		return "off"
	}
	if t.d == 0 {
		return ""
	}
	return t.d.String()
}

func (t *tolerance) Set(s string) error {
	v, err := parseTolerance(s)
	if err != nil {
		return err
	}
	*t = v
	return nil
}

func (t *tolerance) Type() string { return "duration|off" }

// byteSize is a size in bytes written as 1048576, "512KiB", "1MiB" or "1MB".
type byteSize int64

func (b *byteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = byteSize(v)
	return nil
}

func parseByteSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 0 || v > (1<<40)/mult {
		return 0, fmt.Errorf("%q is not a size like 1048576, 512KiB or 1MiB", s)
	}
	return v * mult, nil
}

var errConfig = errors.New("config")

// parseConfig reads a YAML config, expanding ${VAR} in every value with
// getenv. A missing variable, an unknown key or a second document is an
// error naming the line of the file as written.
func parseConfig(data []byte, getenv func(string) string) (*fileConfig, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the file is empty", errConfig)
		}
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	var second yaml.Node
	if err := dec.Decode(&second); !errors.Is(err, io.EOF) {
		line := second.Line
		if err != nil {
			return nil, fmt.Errorf("%w: after the first document: %w", errConfig, err)
		}
		return nil, fmt.Errorf("%w: line %d: a second YAML document; hookguard reads one", errConfig, line)
	}
	if err := expandEnv(&root, getenv); err != nil {
		return nil, err
	}
	// The tree is decoded as read, never re-encoded, so every error names
	// the user's own line.
	var cfg fileConfig
	if err := knownKeys(&root, reflect.TypeFor[fileConfig]()); err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	if err := root.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	return &cfg, nil
}

// errUnknownKey is wrapped by the error for a key the config does not have.
var errUnknownKey = errors.New("unknown key")

// knownKeys fails on the first mapping key in n that names no field of t
// (by yaml tag), recursing through structs, pointers, slices and maps. A
// type with its own UnmarshalYAML is a leaf.
func knownKeys(n *yaml.Node, t reflect.Type) error {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			if err := knownKeys(c, t); err != nil {
				return err
			}
		}
		return nil
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[yaml.Unmarshaler]()) {
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return knownKeys(n, t.Elem())
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return nil // Decode reports the type mismatch on this line
		}
		for _, c := range n.Content {
			if err := knownKeys(c, t.Elem()); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 1; i < len(n.Content); i += 2 {
			if err := knownKeys(n.Content[i], t.Elem()); err != nil {
				return err
			}
		}
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" { // a merge: its keys belong to t too
				if err := knownKeys(v, t); err != nil {
					return err
				}
				continue
			}
			f, ok := fieldByTag(t, k.Value)
			if !ok {
				return fmt.Errorf("line %d: %w %q", k.Line, errUnknownKey, k.Value)
			}
			if err := knownKeys(v, f.Type); err != nil {
				return err
			}
		}
	}
	return nil
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// expandEnv replaces ${NAME} in scalar values. A bare $ is kept as is,
// so secrets may contain it.
func expandEnv(n *yaml.Node, getenv func(string) string) error {
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
		v, err := expandString(n.Value, getenv)
		if err != nil {
			return fmt.Errorf("%w: line %d: %w", errConfig, n.Line, err)
		}
		n.Value = v
	}
	for _, c := range n.Content {
		if err := expandEnv(c, getenv); err != nil {
			return err
		}
	}
	return nil
}

var errMissingVar = errors.New("environment variable is not set")

func expandString(s string, getenv func(string) string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("unclosed ${ in value")
		}
		name := s[i+2 : i+j]
		val := getenv(name)
		if name == "" || val == "" {
			return "", fmt.Errorf("%w: %q (or it is empty)", errMissingVar, name)
		}
		b.WriteString(s[:i])
		b.WriteString(val)
		s = s[i+j+1:]
	}
}
