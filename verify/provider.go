package verify

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Provider is one line of the provider table: how to build the provider's
// verifier, and what code outside this package needs to know about the
// provider itself. Facts that depend on a verifier's settings are methods
// of the verifier instead (SignatureHeaderer, ForwardTimeouter,
// ReplayWindower, and the optional Acknowledger).
type Provider struct {
	// Name is the provider name used in configuration.
	Name string
	// KeyID says what a key id is for this provider, for help texts.
	KeyID string
	// OffAllowed says whether `tolerance: off` may turn the provider's
	// freshness check off. It is false where the signed time is the only
	// replay protection (Tencent's Sign covers no body) or where the
	// provider's own libraries never skip it.
	OffAllowed bool
	// QueueCaveat, when set, says why delivery: queue is unwise for the
	// provider: `hookguard check` and `serve` warn with it.
	QueueCaveat string
	// Takes lists the provider-specific Options the provider uses
	// (OptionPublicURL, ...); New refuses any other that is set.
	Takes []string
	// ParseSecret converts one configured secret to key bytes. Nil: the
	// secret's bytes as written.
	ParseSecret func(string) ([]byte, error)
	// New builds the verifier from a validated keyring and the options.
	New func(keys Keyring, o Options) (Verifier, error)
	// Send signs a webhook as the provider's sender would, for `hookguard
	// send`, the demo and tests.
	Send func(m Message) (Outgoing, error)
}

// providers is the provider table: one line per provider.
var providers = []Provider{
	{Name: ProviderLiveKit, KeyID: "API key", Takes: []string{OptionMaxTokenLifetime}, New: newLiveKitVerifier, Send: sendLiveKit},
	{Name: ProviderTencent, KeyID: "SdkAppId", QueueCaveat: tencentQueueCaveat, New: newTencentVerifier, Send: sendTencent},
	{Name: ProviderTencentTRTC, KeyID: "SdkAppId", OffAllowed: true, New: newTRTCVerifier, Send: sendTRTC},
	{Name: ProviderLiveSwitch, KeyID: "application id", OffAllowed: true, New: newLiveSwitchVerifier, Send: sendLiveSwitch},
	{Name: ProviderStandardWebhooks, KeyID: "any label", ParseSecret: ParseStandardSecret, New: newStandardVerifier, Send: sendStandard},
	{Name: ProviderAgora, KeyID: "any label", Takes: []string{OptionAllowSHA1}, New: newAgoraVerifier, Send: sendAgora},
	{Name: ProviderDaily, KeyID: "any label", ParseSecret: ParseDailySecret, New: newDailyVerifier, Send: sendDaily},
	{Name: ProviderTwilio, KeyID: "any label (e.g. the account SID)", Takes: []string{OptionPublicURL}, New: newTwilioVerifier, Send: sendTwilio},
	{Name: ProviderZoom, KeyID: "any label", New: newZoomVerifier, Send: sendZoom},
	{Name: ProviderVonage, KeyID: "API key", New: newVonageVerifier, Send: sendVonage},
	{Name: ProviderMux, KeyID: "any label", New: newMuxVerifier, Send: sendMux},
	{Name: ProviderCloudflareStream, KeyID: "any label", New: newCloudflareStreamVerifier, Send: sendCloudflareStream},
	{Name: ProviderGitHub, KeyID: "any label", Takes: []string{OptionAllowSHA1}, New: newGitHubVerifier, Send: sendGitHub},
	{Name: ProviderStripe, KeyID: "any label", New: newStripeVerifier, Send: sendStripe},
	{Name: ProviderSlack, KeyID: "any label", New: newSlackVerifier, Send: sendSlack},
	{Name: ProviderHMAC, KeyID: "any label", OffAllowed: true, Takes: []string{OptionAllowSHA1, OptionHMAC}, ParseSecret: ParseHMACSecret, New: newHMACVerifier, Send: sendHMAC},
}

// Providers returns the provider names New accepts, in table order.
func Providers() []string {
	names := make([]string, len(providers))
	for i, p := range providers {
		names[i] = p.Name
	}
	return names
}

// Lookup returns the table line of the provider named name.
func Lookup(name string) (Provider, error) {
	for _, p := range providers {
		if p.Name == name {
			return p, nil
		}
	}
	return Provider{}, fmt.Errorf("verify: %w %q (known: %v)", ErrUnknownProvider, name, Providers())
}

// Facts every verifier states about its provider. The provider table's
// test fails when a provider's verifier lacks one.
type (
	// SignatureHeaderer names the headers that carry the sender's
	// signature over the body. They no longer verify once the forwarded
	// body is not the sender's (a split batch item, a CloudEvents body),
	// and are then not forwarded. Empty when the signature does not cover
	// the body.
	SignatureHeaderer interface {
		SignatureHeaders() []string
	}
	// ForwardTimeouter gives the forward timeout of a route that sets
	// none: short enough that hookguard answers before the sender itself
	// gives up.
	ForwardTimeouter interface {
		ForwardTimeout() time.Duration
	}
	// ReplayWindower gives how long after it was sent a captured request
	// can still pass verification. Zero: unbounded (the check is off, or
	// the provider signs no time); only dedupe stops a replay then.
	ReplayWindower interface {
		ReplayWindow() time.Duration
	}
)

// URLSigner is an optional fact: a verifier whose signature covers the
// request URL (Request.URL), which the caller then builds for it; others
// are not given one.
type URLSigner interface {
	SignsURL() bool
}

// Message describes a webhook to sign as the provider's sender would.
type Message struct {
	// KeyID is the key id: API key, SdkAppId, application id or label.
	KeyID string
	// Secret is the secret as configured (whsec_... for standard-webhooks).
	Secret string
	// Body is sent as it is. Nil: a realistic sample event.
	Body []byte
	// Type is the sample's event type or command. Empty: the provider's
	// usual first event.
	Type string
	// ID is the sample's event id (and webhook-id). Required.
	ID string
	// Batch, for liveswitch, sends that many sample events in one batch.
	Batch int
	// At is when the sender signs.
	At time.Time
	// URL, for twilio (and hmac signing {url}), is the URL the webhook is
	// posted to, which the signature covers; its query is kept.
	URL string
	// HMAC, for hmac, is the route's configuration. Nil: SampleHMACConfig.
	HMAC *HMACConfig
}

// Outgoing is a signed webhook: its body, and what to add to the POST.
type Outgoing struct {
	Header http.Header
	// Query holds the parameters to add to the URL's query.
	Query url.Values
	Body  []byte
}

// ErrToleranceOff: `tolerance: off` for a provider that does not allow it.
var ErrToleranceOff = errors.New("the freshness check cannot be turned off")

// positiveOr is d, or def when d is not positive: the window a verifier
// enforces when its field was left zero.
func positiveOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// toleranceRule applies the one tolerance rule to a provider's configured
// value: zero is the default def, a negative value is an error, and off is
// explicit (New refuses it where the table does not allow it). It returns
// the window to enforce, or 0 when the check is off.
func toleranceRule(name string, configured, def time.Duration, off bool) (time.Duration, error) {
	switch {
	case off && configured != 0:
		return 0, fmt.Errorf("%s: both a tolerance and tolerance off", name)
	case off:
		return 0, nil
	case configured < 0:
		return 0, fmt.Errorf("%s: negative tolerance %v (zero is the provider's default; turn the check off with tolerance: off)", name, configured)
	case configured == 0:
		return def, nil
	}
	return configured, nil
}

// jsonBody encodes a sample body; the values are plain maps, strings and
// numbers, which always encode.
func jsonBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
