package proxy

import (
	"net/netip"
	"time"
)

// Report describes what happened to one webhook event (or to one request
// refused before its events were known). It is logged and given to the
// Observer.
type Report struct {
	Route, Provider string
	EventID, Type   string
	Outcome, Reason string
	// Status is what the sender was answered; UpstreamStatus what the app
	// answered (0: it was not asked, or did not answer).
	Status, UpstreamStatus int
	Remote                 netip.Addr
	Start                  time.Time
	Verify, Duration       time.Duration
	// StoreError is set when the dedupe store failed for this event.
	StoreError bool
}

// Observer receives a Report per webhook event, e.g. to count it.
type Observer interface {
	Observe(Report)
}

// InFlightObserver is an optional capability of an Observer: it is told
// when a forward to the app starts (+1) and ends (-1).
type InFlightObserver interface {
	InFlight(delta int)
}

type nopObserver struct{}

func (nopObserver) Observe(Report) {}
