package proxy

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/hookguard/hookguard/dedupe"
	"github.com/hookguard/hookguard/verify"
)

// DefaultMaxBody is the body limit of a route whose MaxBody is zero.
const DefaultMaxBody = 1 << 20

// Forward formats.
const (
	FormatOriginal    = "original"
	FormatCloudEvents = "cloudevents"
)

// Route is one webhook endpoint: a path, how to verify what arrives on it,
// and where verified events go.
type Route struct {
	// Name labels the route in logs, metrics, dedupe keys and the
	// X-Hookguard-Route header. Empty: the path.
	Name string
	// Path is matched exactly against the request path.
	Path string
	// Provider is the provider name (verify.ProviderLiveKit, ...).
	Provider string
	// Verifier checks requests on this route. Required.
	Verifier verify.Verifier
	// Upstream is the app's URL. Its path and query are used as they are;
	// the incoming query is appended to its query.
	Upstream *url.URL
	// MaxBody limits the request body in bytes. Zero: DefaultMaxBody.
	MaxBody int64
	// Timeout bounds one forward to the app. Zero: the verifier's
	// ForwardTimeout (short enough that the sender gets hookguard's answer
	// before it gives up), else DefaultTimeout.
	Timeout time.Duration
	// AllowCIDRs, when not empty, lists the only source networks accepted.
	AllowCIDRs []netip.Prefix
	// Forward says how verified events are sent to the app.
	Forward Forward
	// Delivery is DeliverySync (zero value) or DeliveryQueue.
	Delivery string
	// Store deduplicates this route's events. Nil: Config.Store. A route
	// with a bounded store of its own cannot have its records pushed out
	// by a flood on another route.
	Store dedupe.Store

	// reservedQuery holds the lower-cased names of the upstream URL's
	// query, which a sender may not set.
	reservedQuery map[string]struct{}
	// signsURL: the verifier's signature covers the request URL
	// (verify.URLSigner), so it is built for it.
	signsURL bool
	// directAddr, when set, is the host:port of a plain-http upstream
	// reached without a proxy: sync forwards go through the handler's
	// directClient instead of its Transport.
	directAddr string
	// signatureHeaders carry the sender's signature over the body
	// (verify.SignatureHeaderer), dropped when the body is re-shaped.
	signatureHeaders []string
}

// Forward configures what the app receives.
type Forward struct {
	// SigningKey, when set, signs every forwarded request with Standard
	// Webhooks headers (webhook-id, webhook-timestamp, webhook-signature).
	// It is the decoded key of a whsec_ secret.
	SigningKey []byte
	// Format is FormatOriginal (zero value: the original bytes) or
	// FormatCloudEvents (a CloudEvents 1.0 structured JSON body).
	Format string
}

// DefaultTimeout is the forward timeout of a route whose verifier states
// none (verify.ForwardTimeouter).
const DefaultTimeout = 10 * time.Second

// ErrInvalidRoute is wrapped by route validation errors.
var ErrInvalidRoute = errors.New("invalid route")

func (r *Route) validate() error {
	if r.Path == "" || !strings.HasPrefix(r.Path, "/") {
		return fmt.Errorf("%w: path %q must start with /", ErrInvalidRoute, r.Path)
	}
	if r.Verifier == nil {
		return fmt.Errorf("%w %s: no verifier", ErrInvalidRoute, r.Path)
	}
	if r.Upstream == nil || r.Upstream.Host == "" || (r.Upstream.Scheme != "http" && r.Upstream.Scheme != "https") {
		return fmt.Errorf("%w %s: upstream must be an absolute http(s) URL", ErrInvalidRoute, r.Path)
	}
	if r.MaxBody < 0 || r.Timeout < 0 {
		return fmt.Errorf("%w %s: negative max_body or timeout", ErrInvalidRoute, r.Path)
	}
	switch r.Delivery {
	case "", DeliverySync, DeliveryQueue:
	default:
		return fmt.Errorf("%w %s: delivery %q (want %s or %s)", ErrInvalidRoute, r.Path, r.Delivery, DeliverySync, DeliveryQueue)
	}
	switch r.Forward.Format {
	case "", FormatOriginal, FormatCloudEvents:
	default:
		return fmt.Errorf("%w %s: forward format %q (want %s or %s)", ErrInvalidRoute, r.Path, r.Forward.Format, FormatOriginal, FormatCloudEvents)
	}
	return nil
}

func (r *Route) withDefaults() Route {
	c := *r
	if c.Name == "" {
		c.Name = c.Path
	}
	if c.MaxBody == 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
		if ft, ok := c.Verifier.(verify.ForwardTimeouter); ok {
			c.Timeout = ft.ForwardTimeout()
		}
	}
	if us, ok := c.Verifier.(verify.URLSigner); ok {
		c.signsURL = us.SignsURL()
	}
	if sh, ok := c.Verifier.(verify.SignatureHeaderer); ok {
		c.signatureHeaders = sh.SignatureHeaders()
	}
	if c.Forward.Format == "" {
		c.Forward.Format = FormatOriginal
	}
	if c.Delivery == "" {
		c.Delivery = DeliverySync
	}
	c.reservedQuery = queryNames(c.Upstream.RawQuery)
	return c
}

func (r *Route) allowed(ip netip.Addr) bool {
	if len(r.AllowCIDRs) == 0 {
		return true
	}
	ip = ip.Unmap()
	for _, p := range r.AllowCIDRs {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
