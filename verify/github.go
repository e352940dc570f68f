package verify

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// GitHub's webhook headers.
const (
	HeaderGitHubSignature256 = "X-Hub-Signature-256"
	HeaderGitHubSignature    = "X-Hub-Signature"
	HeaderGitHubEvent        = "X-GitHub-Event"
	HeaderGitHubDelivery     = "X-GitHub-Delivery"
)

// GitHub verifies GitHub webhooks (repositories, organizations, apps).
//
// X-Hub-Signature-256 is "sha256=" + hex HMAC-SHA256(secret, body); the
// SHA-1 X-Hub-Signature ("sha1=") is accepted only when the SHA-256 header
// is absent and AllowSHA1 is set. X-GitHub-Event is the type and
// X-GitHub-Delivery the event's ID. GitHub signs neither header and no
// time: dedupe is on the signed body (a redelivery repeats it), so that a
// replay cannot pass by changing X-GitHub-Delivery.
type GitHub struct {
	// Keys maps a label to webhook secrets; every one is tried.
	Keys Keyring
	// AllowSHA1 accepts X-Hub-Signature when X-Hub-Signature-256 is absent.
	AllowSHA1 bool
}

// NewGitHub returns a GitHub verifier after checking keys.
func NewGitHub(keys Keyring, allowSHA1 bool) (*GitHub, error) {
	if err := keys.Validate(); err != nil {
		return nil, err
	}
	return &GitHub{Keys: keys, AllowSHA1: allowSHA1}, nil
}

func newGitHubVerifier(keys Keyring, o Options) (Verifier, error) {
	if err := noTolerance(ProviderGitHub, o); err != nil {
		return nil, err
	}
	return NewGitHub(keys, o.AllowSHA1)
}

// SignatureHeaders implements SignatureHeaderer.
func (v *GitHub) SignatureHeaders() []string {
	return []string{HeaderGitHubSignature256, HeaderGitHubSignature}
}

// ForwardTimeout implements ForwardTimeouter: GitHub gives up after 10 s.
func (v *GitHub) ForwardTimeout() time.Duration { return 9 * time.Second }

// ReplayWindow implements ReplayWindower: GitHub signs no time.
func (v *GitHub) ReplayWindow() time.Duration { return 0 }

// Verify implements Verifier.
func (v *GitHub) Verify(r *Request) ([]Event, error) {
	s256, err := singleHeader(r.Header, HeaderGitHubSignature256)
	if err != nil {
		return nil, fmt.Errorf("github: %w", err)
	}
	s1, err := singleHeader(r.Header, HeaderGitHubSignature)
	if err != nil {
		return nil, fmt.Errorf("github: %w", err)
	}
	var label string
	var ok bool
	switch {
	case s256 != "":
		h, cut := strings.CutPrefix(s256, "sha256=")
		sig, good := decodeHex(h, sha256.Size)
		if !cut || !good {
			return nil, fmt.Errorf("github: %w: %s is not sha256=<hex>", ErrMalformedSignature, HeaderGitHubSignature256)
		}
		label, _, ok = matchLabel(v.Keys, [][]byte{sig}, func(k []byte) []byte { return hmacSum(sha256.New, k, r.Body) })
	case s1 != "":
		if !v.AllowSHA1 {
			return nil, fmt.Errorf("github: %w: only %s (HMAC-SHA1) was sent and allow_sha1 is off", ErrUnsupportedAlgorithm, HeaderGitHubSignature)
		}
		h, cut := strings.CutPrefix(s1, "sha1=")
		sig, good := decodeHex(h, sha1.Size)
		if !cut || !good {
			return nil, fmt.Errorf("github: %w: %s is not sha1=<hex>", ErrMalformedSignature, HeaderGitHubSignature)
		}
		label, _, ok = matchLabel(v.Keys, [][]byte{sig}, func(k []byte) []byte { return hmacSum(sha1.New, k, r.Body) })
	default:
		return nil, fmt.Errorf("github: %w: no %s header", ErrMissingSignature, HeaderGitHubSignature256)
	}
	if !ok {
		return nil, fmt.Errorf("github: %w", ErrSignatureMismatch)
	}
	typ, err := singleHeader(r.Header, HeaderGitHubEvent)
	if err != nil {
		return nil, fmt.Errorf("github: %w", err)
	}
	id, err := singleHeader(r.Header, HeaderGitHubDelivery)
	if err != nil {
		return nil, fmt.Errorf("github: %w", err)
	}
	// JSON (the default content type) must be unambiguous; a form body
	// (payload=...) is passed as it is.
	if json.Valid(r.Body) {
		if err := validJSON(r.Body); err != nil {
			return nil, fmt.Errorf("github: %w: %w", ErrMalformedBody, err)
		}
	}
	return []Event{{Provider: ProviderGitHub, ID: id, Key: BodyKey(label, r.Body), Type: typ, KeyID: label, Body: r.Body}}, nil
}

// SignGitHub returns the X-Hub-Signature-256 GitHub sends with body.
func SignGitHub(secret, body []byte) string { return "sha256=" + hexMAC(secret, body) }

// SignGitHubSHA1 returns the X-Hub-Signature GitHub sends with body.
func SignGitHubSHA1(secret, body []byte) string {
	return "sha1=" + hex.EncodeToString(hmacSum(sha1.New, secret, body))
}

// sendGitHub signs m as GitHub does: a ping event by default, m.ID as the
// delivery id.
func sendGitHub(m Message) (Outgoing, error) {
	typ := or(m.Type, "ping")
	body := m.Body
	if body == nil {
		body = jsonBody(map[string]any{"zen": "Keep it logically awesome.", "hook_id": 1, "sender": map[string]any{"login": "octocat"},
			"repository": map[string]any{"full_name": "octo-org/demo", "pushed_at": m.At.Unix()}, "delivery": m.ID})
	}
	h := http.Header{"Content-Type": {"application/json"}, "User-Agent": {"GitHub-Hookshot/demo"}}
	h.Set(HeaderGitHubEvent, typ)
	h.Set(HeaderGitHubDelivery, m.ID)
	h.Set(HeaderGitHubSignature256, SignGitHub([]byte(m.Secret), body))
	h.Set(HeaderGitHubSignature, SignGitHubSHA1([]byte(m.Secret), body))
	return Outgoing{Header: h, Body: body}, nil
}

var _ Verifier = (*GitHub)(nil)
