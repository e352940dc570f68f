package verify

import (
	"errors"
	"fmt"
	"time"
)

// ErrUnknownProvider: New was given a provider name it does not know.
var ErrUnknownProvider = errors.New("unknown provider")

// Options configures a verifier built by New.
type Options struct {
	// Keys maps a key id (LiveKit API key, Tencent SdkAppId, LiveSwitch
	// application id, or a free label for Standard Webhooks) to its
	// secrets as configured; several allow rotation. Standard Webhooks
	// secrets are "whsec_" + base64 (or the base64 alone); all others are
	// used as their bytes.
	Keys map[string][]string
	// Tolerance is the freshness window, with one rule for every
	// provider: zero is the provider's default (LiveKit 1 min of leeway
	// on the token's exp/nbf, Tencent 1 min, TRTC 5 min, Standard
	// Webhooks 5 min, LiveSwitch none), and a negative value is an error.
	Tolerance time.Duration
	// ToleranceOff turns the freshness check off, where the provider
	// allows it (Provider.OffAllowed: tencent-trtc, liveswitch); New
	// refuses it elsewhere, and together with a Tolerance.
	ToleranceOff bool
	// MaxTokenLifetime, for livekit only, is how far ahead of now a token's
	// exp may lie (see LiveKit.MaxLifetime). If zero, ten minutes is used.
	// Negative values, and a non-zero value for any other provider, are
	// refused.
	MaxTokenLifetime time.Duration
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
}

// New returns the verifier for provider, as its line in the provider
// table builds it. Errors about secrets name the key id, never the secret.
func New(provider string, opts Options) (Verifier, error) {
	p, err := Lookup(provider)
	if err != nil {
		return nil, err
	}
	if opts.MaxTokenLifetime != 0 && provider != ProviderLiveKit {
		return nil, fmt.Errorf("verify: %s: MaxTokenLifetime applies to %s only", provider, ProviderLiveKit)
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
