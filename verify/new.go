package verify

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrUnknownProvider: New was given a provider name it does not know.
var ErrUnknownProvider = errors.New("unknown provider")

// Options configures a verifier built by New.
type Options struct {
	// Keys maps a key id (LiveKit API key, Tencent SdkAppId, LiveSwitch
	// application id, or a free label for Standard Webhooks) to its
	// secrets as configured; several allow rotation. Standard Webhooks
	// secrets are "whsec_" + base64 (or the base64 alone), Daily's are
	// base64 as Daily shows them, hmac's are used as their bytes unless
	// they start with "base64:"; all others are used as their bytes.
	// Providers whose requests name no key (agora, daily, twilio, zoom,
	// mux, cloudflare-stream, github, stripe, slack, hmac) try every
	// secret of every key id, which is then a free label; vonage's
	// api_key claim selects one.
	Keys map[string][]string
	// Tolerance is the freshness window, with one rule for every
	// provider: zero is the provider's default (LiveKit 1 min of leeway
	// on the token's exp/nbf, Tencent 1 min, TRTC 5 min, Standard
	// Webhooks 5 min, LiveSwitch none; 5 min for daily, zoom, vonage, mux,
	// cloudflare-stream, stripe, slack and hmac with a timestamp header),
	// and a negative value is an error. Providers that sign no time
	// (agora, twilio, github, hmac without timestamp_header) refuse a
	// non-zero value.
	Tolerance time.Duration
	// ToleranceOff turns the freshness check off, where the provider
	// allows it (Provider.OffAllowed: tencent-trtc, liveswitch, hmac); New
	// refuses it elsewhere, and together with a Tolerance.
	ToleranceOff bool
	// MaxTokenLifetime, for livekit only, is how far ahead of now a token's
	// exp may lie (see LiveKit.MaxLifetime). If zero, ten minutes is used.
	// Negative values, and a non-zero value for any other provider, are
	// refused.
	MaxTokenLifetime time.Duration
	// PublicURL, for twilio only, is the route's public URL without a
	// query (https://hooks.example.com/twilio), the URL Twilio was given:
	// the incoming query is appended to it before the signature is
	// checked. Empty: the URL as received (Request.URL, rebuilt from a
	// trusted proxy's X-Forwarded-Proto and X-Forwarded-Host).
	PublicURL string
	// AllowSHA1, for agora, github and hmac only, accepts an HMAC-SHA1
	// signature: Agora's Agora-Signature when Agora-Signature-V2 is
	// absent, GitHub's X-Hub-Signature when X-Hub-Signature-256 is
	// absent, hmac's algorithm: sha1. False: SHA-1 signatures are refused
	// (ErrUnsupportedAlgorithm).
	AllowSHA1 bool
	// HMAC configures provider hmac (required there, refused elsewhere):
	// where the signature is and what it covers.
	HMAC *HMACConfig
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
}

// Names of the Options that apply to some providers only, as
// Provider.Takes and OptionError.Option name them.
const (
	OptionMaxTokenLifetime = "MaxTokenLifetime"
	OptionPublicURL        = "PublicURL"
	OptionAllowSHA1        = "AllowSHA1"
	OptionHMAC             = "HMAC"
)

// ErrOptionNotApplicable is wrapped by OptionError.
var ErrOptionNotApplicable = errors.New("option does not apply to this provider")

// OptionError is New's error for an option given to a provider that does
// not take it.
type OptionError struct {
	Provider string
	// Option is the Options field (OptionPublicURL, ...).
	Option string
	// For lists the providers that take it.
	For []string
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("%s: %s applies to %s only", e.Provider, e.Option, strings.Join(e.For, ", "))
}

func (e *OptionError) Unwrap() error { return ErrOptionNotApplicable }

// set lists the provider-specific options o sets.
func (o *Options) set() []string {
	var names []string
	if o.MaxTokenLifetime != 0 {
		names = append(names, OptionMaxTokenLifetime)
	}
	if o.PublicURL != "" {
		names = append(names, OptionPublicURL)
	}
	if o.AllowSHA1 {
		names = append(names, OptionAllowSHA1)
	}
	if o.HMAC != nil {
		names = append(names, OptionHMAC)
	}
	return names
}

// takers lists the providers whose table line takes option.
func takers(option string) []string {
	var names []string
	for _, p := range providers {
		if slices.Contains(p.Takes, option) {
			names = append(names, p.Name)
		}
	}
	return names
}

// New returns the verifier for provider, as its line in the provider
// table builds it. Errors about secrets name the key id, never the secret.
func New(provider string, opts Options) (Verifier, error) {
	p, err := Lookup(provider)
	if err != nil {
		return nil, err
	}
	for _, o := range opts.set() {
		if !slices.Contains(p.Takes, o) {
			return nil, fmt.Errorf("verify: %w", &OptionError{Provider: provider, Option: o, For: takers(o)})
		}
	}
	if opts.ToleranceOff && !p.OffAllowed {
		return nil, fmt.Errorf("verify: %s: %w for this provider", provider, ErrToleranceOff)
	}
	parse := p.ParseSecret
	if parse == nil {
		parse = func(s string) ([]byte, error) { return []byte(s), nil }
	}
	keys, err := keyring(opts.Keys, parse)
	if err != nil {
		return nil, fmt.Errorf("verify: %s: %w", provider, err)
	}
	if err := keys.Validate(); err != nil {
		return nil, fmt.Errorf("verify: %s: %w", provider, err)
	}
	v, err := p.New(keys, opts)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	return v, nil
}

// keyring converts configured secrets with parse, naming the key id (and
// the secret's position) of any that fails.
func keyring(in map[string][]string, parse func(string) ([]byte, error)) (Keyring, error) {
	if len(in) == 0 {
		return nil, errors.New("no keys configured")
	}
	out := make(Keyring, len(in))
	for id, secrets := range in {
		if id == "" {
			return nil, errors.New("empty key id")
		}
		if len(secrets) == 0 {
			return nil, fmt.Errorf("key %q: no secrets", id)
		}
		for i, s := range secrets {
			if s == "" {
				return nil, fmt.Errorf("key %q: secret %d is empty", id, i+1)
			}
			b, err := parse(s)
			if err != nil {
				return nil, fmt.Errorf("key %q: secret %d: %w", id, i+1, err)
			}
			out[id] = append(out[id], b)
		}
	}
	return out, nil
}
