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
	// Tolerance is the freshness window. If zero, each provider's default
	// is used: LiveKit 1 min of leeway on the token's exp/nbf, Tencent
	// 1 min, TRTC 5 min, Standard Webhooks 5 min, LiveSwitch none. A
	// negative value turns the check off for tencent-trtc and liveswitch,
	// means no leeway for livekit (the token's exp still applies), and is
	// refused for tencent and standard-webhooks.
	Tolerance time.Duration
	// MaxTokenLifetime, for livekit only, is how far ahead of now a token's
	// exp may lie (see LiveKit.MaxLifetime). If zero, ten minutes is used.
	// Negative values, and a non-zero value for any other provider, are
	// refused.
	MaxTokenLifetime time.Duration
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
}

// Providers returns the provider names New accepts.
func Providers() []string {
	return []string{
		ProviderLiveKit,
		ProviderTencent,
		ProviderTencentTRTC,
		ProviderLiveSwitch,
		ProviderStandardWebhooks,
	}
}

// New returns the verifier for provider. Errors about secrets name the key
// id, never the secret.
func New(provider string, opts Options) (Verifier, error) {
	switch provider {
	case ProviderLiveKit, ProviderTencent, ProviderTencentTRTC, ProviderLiveSwitch, ProviderStandardWebhooks:
	default:
		return nil, fmt.Errorf("verify: %w %q (known: %v)", ErrUnknownProvider, provider, Providers())
	}
	switch {
	case opts.MaxTokenLifetime < 0:
		return nil, fmt.Errorf("verify: %s: negative MaxTokenLifetime %v", provider, opts.MaxTokenLifetime)
	case opts.MaxTokenLifetime != 0 && provider != ProviderLiveKit:
		return nil, fmt.Errorf("verify: %s: MaxTokenLifetime applies to %s only", provider, ProviderLiveKit)
	}
	parse := func(s string) ([]byte, error) { return []byte(s), nil }
	if provider == ProviderStandardWebhooks {
		parse = ParseStandardSecret
	}
	keys, err := keyring(opts.Keys, parse)
	if err != nil {
		return nil, fmt.Errorf("verify: %s: %w", provider, err)
	}

	var v Verifier
	switch provider {
	case ProviderLiveKit:
		var lk *LiveKit
		if lk, err = NewLiveKit(keys, opts.Tolerance, opts.Now); err == nil {
			lk.MaxLifetime = opts.MaxTokenLifetime
			v = lk
		}
	case ProviderTencent:
		v, err = NewTencent(keys, opts.Tolerance, opts.Now)
	case ProviderTencentTRTC:
		v, err = NewTRTC(keys, opts.Tolerance, opts.Now)
	case ProviderLiveSwitch:
		v, err = NewLiveSwitch(keys, opts.Tolerance, opts.Now)
	case ProviderStandardWebhooks:
		v, err = NewStandard(keys, opts.Tolerance, opts.Now)
	}
	if err != nil {
		return nil, err
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
