// Package verify checks webhook signatures over raw request bytes.
//
// Every verifier is pure: it takes the request's headers, query and raw body
// plus the time from its injected clock, and returns the verified events or
// an error wrapping one of the sentinel errors below. It does no I/O.
//
// New builds a verifier from a provider name and configured secrets. Each
// provider also has its own type with a validated constructor (LiveKit,
// Tencent, TRTC, LiveSwitch, Standard, Agora, Daily, Twilio, Zoom, Vonage,
// Mux, CloudflareStream, GitHub, Stripe, Slack, HMAC) and a Sign function
// that produces what the provider sends, for tests and for senders.
//
// Signed times are accepted only between 2000-01-01 and 2200-01-01 UTC, in
// the field's own unit (seconds or milliseconds): a time outside that range
// is refused as ErrMalformedSignature when it is a header or query value
// (Tencent RequestTime, webhook-timestamp) and as ErrMalformedBody when it
// is inside the body (TRTC CallbackTs, LiveSwitch timestamp, LiveKit
// createdAt, Tencent EventTime), whether or not freshness is checked.
package verify

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Provider names, as used in configuration.
const (
	ProviderLiveKit          = "livekit"
	ProviderTencent          = "tencent"
	ProviderTencentTRTC      = "tencent-trtc"
	ProviderLiveSwitch       = "liveswitch"
	ProviderStandardWebhooks = "standard-webhooks"
	ProviderAgora            = "agora"
	ProviderDaily            = "daily"
	ProviderTwilio           = "twilio"
	ProviderZoom             = "zoom"
	ProviderVonage           = "vonage"
	ProviderMux              = "mux"
	ProviderCloudflareStream = "cloudflare-stream"
	ProviderGitHub           = "github"
	ProviderStripe           = "stripe"
	ProviderSlack            = "slack"
	ProviderHMAC             = "hmac"
)

// Sentinel errors. Verifiers wrap them with %w; callers test with errors.Is.
// Messages never include a secret or a signature.
var (
	// ErrMissingSignature: the request carries no signature at all.
	ErrMissingSignature = errors.New("missing signature")
	// ErrUnknownKey: the signature names a key id that is not configured.
	ErrUnknownKey = errors.New("unknown key")
	// ErrSignatureMismatch: the signature does not match any configured secret.
	ErrSignatureMismatch = errors.New("signature mismatch")
	// ErrBodyMismatch: the signature is valid but does not cover this body.
	ErrBodyMismatch = errors.New("body does not match signed hash")
	// ErrUnsupportedAlgorithm: the signature uses an algorithm that is refused.
	ErrUnsupportedAlgorithm = errors.New("unsupported signature algorithm")
	// ErrStale: the signed time is outside the accepted tolerance.
	ErrStale = errors.New("timestamp outside tolerance")
	// ErrMalformedSignature: the signature or its metadata cannot be parsed.
	ErrMalformedSignature = errors.New("malformed signature")
	// ErrUnsigned: the sender does not sign this kind of webhook, so it
	// cannot be verified.
	ErrUnsigned = errors.New("unsigned webhook")
	// ErrMalformedBody: the signature is valid (or does not cover the body)
	// but the body is not in the provider's format.
	ErrMalformedBody = errors.New("malformed body")
)

// Request is what a verifier sees of an incoming webhook.
type Request struct {
	Header http.Header
	Query  url.Values
	Body   []byte
	// URL is the URL the sender called, as the sender saw it: scheme,
	// host, path and the raw query as received ("https://hooks.example.com/twilio?a=1").
	// Behind a trusted proxy its scheme and host are the proxy's
	// X-Forwarded-Proto and X-Forwarded-Host. Only verifiers whose
	// provider signs the URL read it (URLSigner: twilio, and hmac with
	// {url}), and only they are given it; empty when unknown, and then
	// such a signature cannot verify.
	URL string
}

// Event is one verified webhook event.
type Event struct {
	// Provider is the provider name (ProviderLiveKit, ...).
	Provider string
	// ID is the provider's own event id; empty when the provider has none.
	ID string
	// Key is the deduplication key, scoped to KeyID: derived from KeyID and
	// ID when ID is present and signed ("<len(KeyID)>:<KeyID>:<ID>"),
	// otherwise from KeyID and signed content (see BodyKey): the body, or
	// for vonage and cloudflare-stream the signed fields that name one
	// event. An unsigned ID (twilio's idempotency token, GitHub's delivery
	// id) is never part of it, so that a replay cannot pass by changing it.
	// Events verified by different key ids never share a key. Never empty.
	Key string
	// Type is the event type or command (e.g. "room_started").
	Type string
	// Time is when the provider says the event happened; zero if unknown.
	Time time.Time
	// KeyID names the configured key whose secret matched.
	KeyID string
	// Body is the event's own bytes: the raw request body, or for a batch
	// the bytes of this event inside it.
	Body []byte
	// Challenge, when not nil, marks a verified endpoint-validation
	// request (Zoom endpoint.url_validation, Slack url_verification):
	// hookguard answers it itself with 200 and the Challenge's body, and
	// never forwards or deduplicates it.
	Challenge *Challenge
}

// Challenge is hookguard's own answer to a sender's verified
// endpoint-validation request.
type Challenge struct {
	ContentType string
	Body        []byte
}

// Verifier verifies one request and returns its events: exactly one for
// most providers, one per item for a batch.
type Verifier interface {
	Verify(r *Request) ([]Event, error)
}

// Acknowledger is implemented by verifiers whose provider expects a specific
// acknowledgement body. hookguard answers a duplicate of an already delivered
// event with it when no answer of the app was kept.
type Acknowledger interface {
	Ack() (contentType string, body []byte)
}

// BodyKey derives a dedupe key from content and the key id that verified
// it: "sha256:" + hex of SHA-256 over the key id's length (8 bytes, big
// endian), the key id, then the content. Two applications (two SdkAppIds,
// two API keys) sending identical bytes to one route get distinct keys,
// and no choice of key id and content can produce another pair's input.
func BodyKey(keyID string, content []byte) string {
	var head [64]byte // the key id's length and, most often, the key id
	binary.BigEndian.PutUint64(head[:8], uint64(len(keyID)))
	h := sha256.New()
	h.Write(append(head[:8], keyID...))
	h.Write(content)
	var sum [sha256.Size]byte
	var key [len("sha256:") + 2*sha256.Size]byte
	copy(key[:], "sha256:")
	hex.Encode(key[len("sha256:"):], h.Sum(sum[:0]))
	return string(key[:])
}

// idKey scopes a provider's event id to the key id that verified it:
// the key id's length in decimal, ":", the key id, ":", the id. Event ids
// are only unique per sender (LiveSwitch ids per application, webhook-id
// per Standard Webhooks sender), so without the key id one sender could
// pre-empt another's event on a shared route. It starts with a digit, so
// it never equals a BodyKey: an id cannot be chosen to collide with
// another event's derived key either.
func idKey(keyID, id string) string {
	return strconv.Itoa(len(keyID)) + ":" + keyID + ":" + id
}

// Keyring maps a key id (API key, SdkAppId, application id, label) to one or
// more secrets; several secrets allow rotation.
type Keyring map[string][][]byte

// nowFunc returns now, or time.Now when now is nil.
func nowFunc(now func() time.Time) time.Time {
	if now == nil {
		return time.Now()
	}
	return now()
}

// Validate reports whether k can be used by a verifier: at least one key id,
// no empty key id, and every key id with at least one non-empty secret.
// Errors name the key id, never a secret.
func (k Keyring) Validate() error {
	if len(k) == 0 {
		return errors.New("verify: no keys configured")
	}
	for id, secrets := range k {
		if id == "" {
			return errors.New("verify: empty key id")
		}
		if len(secrets) == 0 {
			return fmt.Errorf("verify: key %q: no secrets", id)
		}
		for i, s := range secrets {
			if len(s) == 0 {
				return fmt.Errorf("verify: key %q: secret %d is empty", id, i+1)
			}
		}
	}
	return nil
}

// onlyKey returns the key id of a keyring holding exactly one key.
func (k Keyring) onlyKey() (string, bool) {
	if len(k) != 1 {
		return "", false
	}
	for id := range k {
		return id, true
	}
	return "", false
}
