package interop_test

// Stripe's official Go library (github.com/stripe/stripe-go/v82, the
// major that resolves here) as a peer: its test signer signs, hookguard's
// stripe verifier accepts; hookguard's Send signs, its ConstructEvent
// accepts. Stripe publishes no known-answer vector; this is the
// cross-check PROVIDERS.md asks for.

import (
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/hookguard/hookguard/verify"
)

const stripeSecret = "whsec_interop_0123456789abcdefghijklmnop"

func TestStripeSDKSignsHookguardVerifies(t *testing.T) {
	now := time.Now()
	body := []byte(`{"id":"evt_interop_1","object":"event","type":"payment_intent.succeeded","created":` + itoa(now.Unix()) + `,"data":{"object":{}}}`)
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: stripeSecret, Timestamp: now})
	v, err := verify.New(verify.ProviderStripe, verify.Options{Keys: map[string][]string{"endpoint": {stripeSecret}}})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := v.Verify(&verify.Request{Header: headerOf(verify.HeaderStripeSignature, signed.Header), Body: body})
	if err != nil {
		t.Fatalf("hookguard refused what stripe-go signed: %v", err)
	}
	if evs[0].ID != "evt_interop_1" || evs[0].Type != "payment_intent.succeeded" {
		t.Fatalf("event %+v", evs[0])
	}
	// A forgery signed by stripe-go with another secret is refused.
	forged := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: "whsec_other", Timestamp: now})
	if _, err := v.Verify(&verify.Request{Header: headerOf(verify.HeaderStripeSignature, forged.Header), Body: body}); err == nil {
		t.Fatal("hookguard accepted another secret's signature")
	}
}

func TestHookguardSignsStripeSDKVerifies(t *testing.T) {
	p, _ := verify.Lookup(verify.ProviderStripe)
	out, err := p.Send(verify.Message{KeyID: "endpoint", Secret: stripeSecret, ID: "evt_interop_2", At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := webhook.ConstructEventWithOptions(out.Body, out.Header.Get(verify.HeaderStripeSignature), stripeSecret,
		webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	if err != nil {
		t.Fatalf("stripe-go refused what hookguard signed: %v", err)
	}
	if ev.ID != "evt_interop_2" {
		t.Fatalf("event id %q", ev.ID)
	}
	if err := webhook.ValidatePayload(out.Body, out.Header.Get(verify.HeaderStripeSignature), "whsec_other"); err == nil {
		t.Fatal("stripe-go accepted hookguard's signature with another secret")
	}
}
