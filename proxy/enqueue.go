package proxy

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/hookguard/hookguard/dedupe"
	"github.com/hookguard/hookguard/queue"
	"github.com/hookguard/hookguard/verify"
)

// Delivery modes of a route.
const (
	// DeliverySync forwards at once; the app's answer goes back to the
	// sender.
	DeliverySync = "sync"
	// DeliveryQueue stores the event durably, acknowledges the sender, and
	// leaves delivery to a queue.Dispatcher calling DeliverQueued.
	DeliveryQueue = "queue"
)

// enqueueTimeout bounds one Enqueue: the sender waits for it.
const enqueueTimeout = 5 * time.Second

// enqueue runs DESIGN step 6 for a queue route: the event, the header a
// sync forward would send and the query are stored durably together with
// the event's dedupe mark, and only then is the sender acknowledged. A
// copy of an event already queued, dead or delivered is acknowledged and
// not stored again: the queue's store is the dedupe store of queue routes,
// so its marks survive a restart.
func (h *Handler) enqueue(req *http.Request, r *Route, ev *verify.Event, split bool, rep Report) *result {
	rep.EventID, rep.Type = eventID(ev), ev.Type
	body, err := forwardBody(r, ev, h.now)
	if err != nil {
		return h.failed(&rep, OutcomeRejected, refusal(http.StatusInternalServerError, ReasonQueueError, err), "")
	}
	qev := &queue.Event{
		Route:     r.Name,
		DedupeKey: ev.Key,
		EventID:   eventID(ev),
		Type:      ev.Type,
		Provider:  ev.Provider,
		Body:      body,
		Header:    normalizedHeader(req, r, ev, split || r.Forward.Format == FormatCloudEvents),
		RawQuery:  req.URL.RawQuery,
	}
	// The sender going away does not undo a write under way.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(req.Context()), enqueueTimeout)
	defer cancel()
	res, err := h.queue.Enqueue(ctx, qev)
	switch {
	case errors.Is(err, queue.ErrFull):
		return h.failed(&rep, OutcomeRejected, refusal(http.StatusServiceUnavailable, ReasonQueueFull, err), "queue full; retry later")
	case err != nil:
		rep.StoreError = true
		return h.failed(&rep, OutcomeRejected, refusal(http.StatusServiceUnavailable, ReasonQueueError, err), "queue unavailable; retry later")
	case res.Duplicate:
		return h.finish(&rep, nil, h.duplicateAnswer(r, dedupe.Record{}), "", 0)
	}
	out := h.ack(r)
	out.outcome = OutcomeQueued
	out.header.Set(HeaderQueueID, res.ID)
	return h.finish(&rep, nil, out, "", 0)
}

// ack is the answer to a sender whose event was queued: 200 with the
// provider's acknowledgement body, or a small JSON body.
func (h *Handler) ack(r *Route) *result {
	res := &result{status: http.StatusOK, header: http.Header{}}
	ackAnswer(r, res, "application/json", []byte(`{"queued":true}`+"\n"))
	return res
}

// DeliverQueued sends a queued event to its route's app, with the header
// stored at enqueue (re-signed now when the route re-signs), and reports
// what the app answered. It is the queue.DeliverFunc of every queue route.
// An event of a route that no longer exists (after a reload) fails without
// an answer, so it is retried and in the end kept as a dead letter.
func (h *Handler) DeliverQueued(ctx context.Context, ev *queue.Event) queue.Outcome {
	r, ok := h.byName[ev.Route]
	if !ok {
		return queue.Outcome{Err: errors.New("no route named " + strconv.Quote(ev.Route))}
	}
	if fo, ok := h.obs.(InFlightObserver); ok {
		fo.InFlight(1)
		defer fo.InFlight(-1)
	}
	// Bounded by the route's timeout and by ctx (the dispatcher's lease,
	// or its shutdown).
	a := h.send(ctx, r, ev.Header.Clone(), ev.RawQuery, ev.Body)
	if a.err != nil {
		return queue.Outcome{Err: a.err}
	}
	out := queue.Outcome{Status: a.status, ContentType: a.header.Get("Content-Type"), Body: a.body}
	if d, ok := queue.ParseRetryAfter(a.header.Get("Retry-After"), h.now()); ok {
		out.RetryAfter = d
	}
	return out
}

// QueueRoutes returns the names of the routes with delivery: queue.
func (h *Handler) QueueRoutes() []string {
	var names []string
	for _, r := range h.Routes() {
		if r.Delivery == DeliveryQueue {
			names = append(names, r.Name)
		}
	}
	return names
}
