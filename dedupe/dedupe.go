// Package dedupe records which webhook events were already delivered, in two
// phases: a claim while the event is being forwarded, then delivered once the
// app acknowledged it. A failed delivery releases the claim so the provider's
// retry is forwarded.
package dedupe

import (
	"context"
	"errors"
)

// State is the outcome of a Claim. The zero value is no outcome: a Result
// returned with an error has it.
type State int

const (
	// Invalid is the zero State: no claim was made.
	Invalid State = iota
	// Claimed: the key was free and now belongs to the caller, who must call
	// Complete or Release with the returned token.
	Claimed
	// Delivered: the event was already delivered; Result.Record holds what
	// the app answered, when it was kept.
	Delivered
	// InFlight: another request holds the claim right now.
	InFlight
)

func (s State) String() string {
	switch s {
	case Claimed:
		return "claimed"
	case Delivered:
		return "delivered"
	case InFlight:
		return "in_flight"
	}
	return "invalid"
}

// Record is what the app answered when it accepted an event, kept so that a
// duplicate is answered as the original was. A zero Record means nothing was
// kept.
type Record struct {
	Status      int
	ContentType string
	Body        []byte
}

// Result of a Claim.
type Result struct {
	State  State
	Token  string // set when State == Claimed
	Record Record // set when State == Delivered, if kept
}

// Sentinel errors.
var (
	// ErrNotOwner: Complete or Release with a token that does not hold the
	// claim (it expired, or another owner took it).
	ErrNotOwner = errors.New("claim not held by this token")
	// ErrUnavailable: the store cannot be reached.
	ErrUnavailable = errors.New("dedupe store unavailable")
)

// Store is a two-phase dedupe store. Implementations are safe for
// concurrent use.
type Store interface {
	// Claim tries to take key for delivery.
	Claim(ctx context.Context, key string) (Result, error)
	// Complete marks key delivered with rec, if token still holds the claim.
	Complete(ctx context.Context, key, token string, rec Record) error
	// Release frees the claim so a retry can take it, if token holds it.
	Release(ctx context.Context, key, token string) error
}

// Waiter is an optional capability: a store that can tell when an in-flight
// key is completed or released, instead of being polled.
type Waiter interface {
	// Wait blocks until key is no longer in flight or ctx is done.
	Wait(ctx context.Context, key string) error
}

// Local is an optional capability: a store in this process, whose Claim,
// Complete and Release never wait on I/O, so that callers need not bound
// them with a deadline (and pay for its timer on every event).
type Local interface {
	Local() bool
}

// Pinger is an optional capability: a store that can report its health.
type Pinger interface {
	Ping(ctx context.Context) error
}
