package verify

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// HeaderStripeSignature carries "t=<unix s>,v1=<hex>[,v1=<hex>...]".
const HeaderStripeSignature = "Stripe-Signature"

// defaultStripeTolerance is the official libraries' DefaultTolerance.
const defaultStripeTolerance = 300 * time.Second

// Stripe verifies Stripe webhooks.
//
// Stripe-Signature holds t and one or more v1 entries, each a hex
// HMAC-SHA256 over t + "." + body keyed with the whole whsec_... secret as
// bytes (not base64-decoded, unlike Standard Webhooks). Other schemes (v0)
// are ignored.
type Stripe struct {
	// Keys maps a label to endpoint secrets (whsec_...); every one is
	// tried.
	Keys Keyring
	// Tolerance is how far t may be from now, either way. If zero, 300 s
	// is used.
	Tolerance time.Duration
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
}

// NewStripe returns a Stripe verifier after checking keys and tolerance.
func NewStripe(keys Keyring, tolerance time.Duration, now func() time.Time) (*Stripe, error) {
	if err := keys.Validate(); err != nil {
		return nil, err
	}
	tol, err := toleranceRule(ProviderStripe, tolerance, defaultStripeTolerance, false)
	if err != nil {
		return nil, err
	}
	return &Stripe{Keys: keys, Tolerance: tol, Now: now}, nil
}

func newStripeVerifier(keys Keyring, o Options) (Verifier, error) {
	return NewStripe(keys, o.Tolerance, o.Now)
}

// SignatureHeaders implements SignatureHeaderer.
func (v *Stripe) SignatureHeaders() []string { return []string{HeaderStripeSignature} }

// ForwardTimeout implements ForwardTimeouter. Stripe states no timeout
// here (inferred: 10 s like most senders).
func (v *Stripe) ForwardTimeout() time.Duration { return 10 * time.Second }

// ReplayWindow implements ReplayWindower.
func (v *Stripe) ReplayWindow() time.Duration { return 2 * v.tolerance() }

func (v *Stripe) tolerance() time.Duration { return positiveOr(v.Tolerance, defaultStripeTolerance) }

// Verify implements Verifier.
func (v *Stripe) Verify(r *Request) ([]Event, error) {
	label, _, err := verifyTimedHex(r, HeaderStripeSignature, "t", "v1", v.Keys, v.tolerance(), nowFunc(v.Now))
	if err != nil {
		return nil, fmt.Errorf("stripe: %w", err)
	}
	fields, err := objectMembers(r.Body, "id", "type", "created")
	if err != nil {
		return nil, fmt.Errorf("stripe: %w: %w", ErrMalformedBody, err)
	}
	id, err := fieldString(fields, "id")
	if err != nil {
		return nil, fmt.Errorf("stripe: %w: %w", ErrMalformedBody, err)
	}
	typ, err := fieldString(fields, "type")
	if err != nil {
		return nil, fmt.Errorf("stripe: %w: %w", ErrMalformedBody, err)
	}
	created, _, err := fieldTime(fields, "created", time.Second)
	if err != nil {
		return nil, fmt.Errorf("stripe: %w: %w", ErrMalformedBody, err)
	}
	ev := Event{Provider: ProviderStripe, ID: id, Key: idKey(label, id), Type: typ, Time: created, KeyID: label, Body: r.Body}
	if id == "" {
		ev.Key = BodyKey(label, r.Body)
	}
	return []Event{ev}, nil
}

// SignStripe returns the Stripe-Signature header Stripe sends with body.
func SignStripe(secret []byte, ts time.Time, body []byte) string {
	return "t=" + strconv.FormatInt(ts.Unix(), 10) + ",v1=" + timedHex(secret, ts, body)
}

// sendStripe signs m as Stripe does: a payment_intent.succeeded event by
// default, m.ID as its id.
func sendStripe(m Message) (Outgoing, error) {
	body := m.Body
	if body == nil {
		body = jsonBody(map[string]any{"id": m.ID, "object": "event", "api_version": "2024-06-20", "created": m.At.Unix(),
			"type": or(m.Type, "payment_intent.succeeded"), "livemode": false,
			"data": map[string]any{"object": map[string]any{"id": "pi_demo", "object": "payment_intent", "amount": 2000, "currency": "usd"}}})
	}
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	h.Set(HeaderStripeSignature, SignStripe([]byte(m.Secret), m.At, body))
	return Outgoing{Header: h, Body: body}, nil
}

var _ Verifier = (*Stripe)(nil)
