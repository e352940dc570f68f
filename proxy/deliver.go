package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hookguard/hookguard/dedupe"
	"github.com/hookguard/hookguard/verify"
)

// storeTimeout bounds each dedupe store call made after the app answered.
const storeTimeout = 2 * time.Second

// claimTimeout bounds one Claim: a healthy store answers in a millisecond,
// but under load the wait for a pooled connection counts too;
// and every webhook waits for it.
const claimTimeout = 2 * time.Second

// storeBackoff is how long Claim is not even tried after the store failed,
// so that an unreachable store costs one slow request per interval instead
// of slowing every webhook.
const storeBackoff = time.Second

// errStoreBackoff is returned while the store is not tried after a failure.
var errStoreBackoff = fmt.Errorf("%w: not retried for %v after a failure", dedupe.ErrUnavailable, storeBackoff)

// result is what one event's delivery tells the sender.
type result struct {
	outcome string
	status  int
	header  http.Header
	body    []byte
}

func (r *result) ok() bool {
	return r.outcome == OutcomeForwarded || r.outcome == OutcomeDuplicate || r.outcome == OutcomeQueued
}

// deliver runs DESIGN steps 5 to 7 for one verified event: claim it, forward
// it, and mark it delivered only once the app answered 2xx.
func (h *Handler) deliver(req *http.Request, r *Route, ev *verify.Event, split bool, rep Report) *result {
	if r.Delivery == DeliveryQueue {
		return h.enqueue(req, r, ev, split, rep)
	}
	rep.EventID, rep.Type = eventID(ev), ev.Type
	key := r.Name + ":" + ev.Key

	wait := h.inFlightWait
	if wait == 0 {
		wait = r.Timeout + time.Second
	}
	w := newBoundedWait(req.Context(), wait)
	defer w.stop()
	lock, lerr := h.locks.lock(&w, key)
	if lerr != nil {
		return h.busy(&rep)
	}
	defer h.locks.unlock(key, lock)

	claim, claimErr := h.claim(&w, r.Store, key)
	if claimErr != nil {
		rep.StoreError = true
		if h.onStoreError == OnStoreErrorReject {
			return h.failed(&rep, OutcomeRejected, refusal(http.StatusServiceUnavailable, ReasonStoreError, claimErr),
				"dedupe store unavailable")
		}
		// At-least-once: forward without a claim (claim.State is Invalid).
		h.log.Warn("dedupe store unavailable; forwarding without dedupe",
			"route", r.Name, "event_id", rep.EventID, "error", claimErr.Error())
	}
	switch claim.State {
	case dedupe.Delivered:
		return h.finish(&rep, nil, h.duplicateAnswer(r, claim.Record), "", 0)
	case dedupe.InFlight:
		return h.busy(&rep)
	}
	// Only a claim made now is completed or released below.
	owned := claim.State == dedupe.Claimed

	if fo, ok := h.obs.(InFlightObserver); ok {
		fo.InFlight(1)
		defer fo.InFlight(-1)
	}
	detached := context.WithoutCancel(req.Context())
	a := h.forward(detached, req, r, ev, split)
	storeCtx, cancel := storeContext(detached, r.Store, storeTimeout)
	defer cancel()
	if a.err != nil {
		h.release(storeCtx, r, key, claim.Token, owned, &rep)
		return h.failed(&rep, OutcomeUpstreamError, a.err, "")
	}
	res := &result{outcome: OutcomeAppRejected, status: a.status, header: a.header, body: a.body}
	if a.ok() {
		res.outcome = OutcomeForwarded
		if owned {
			rec := dedupe.Record{Status: a.status, ContentType: a.header.Get("Content-Type"), Body: a.body}
			if err := r.Store.Complete(storeCtx, key, claim.Token, rec); err != nil {
				rep.StoreError = true
				h.log.Warn("dedupe store: marking delivered failed; a retry may be forwarded again",
					"route", r.Name, "event_id", rep.EventID, "error", err.Error())
			}
		}
	} else {
		h.release(storeCtx, r, key, claim.Token, owned, &rep)
	}
	return h.finish(&rep, nil, res, "", a.status)
}

// release frees a claim this request owns, so the provider's retry goes
// through.
func (h *Handler) release(ctx context.Context, r *Route, key, token string, owned bool, rep *Report) {
	if !owned {
		return
	}
	if err := r.Store.Release(ctx, key, token); err != nil && !errors.Is(err, dedupe.ErrNotOwner) {
		rep.StoreError = true
		h.log.Warn("dedupe store: release failed; a retry waits for the claim to expire",
			"route", r.Name, "event_id", rep.EventID, "error", err.Error())
	}
}

// failed answers an event that was not delivered with the status and
// reason statusOf gives err, and a plain-text body: "hookguard: " and
// msg, or the reason when msg is empty. A 503 carries Retry-After.
func (h *Handler) failed(rep *Report, outcome string, err error, msg string) *result {
	status, reason := statusOf(err)
	if msg == "" {
		msg = reason
	}
	header := http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
	if status == http.StatusServiceUnavailable {
		header.Set("Retry-After", "1")
	}
	return h.finish(rep, err, &result{outcome: outcome, status: status, header: header,
		body: []byte("hookguard: " + msg + "\n")}, reason, 0)
}

// busy answers a copy of an event that another copy is still delivering
// after the wait: 503 with Retry-After, so the sender retries (a 4xx would
// end LiveKit's delivery).
func (h *Handler) busy(rep *Report) *result {
	return h.failed(rep, OutcomeBusy, refusal(http.StatusServiceUnavailable, ReasonInFlight, nil),
		"a copy of this event is being delivered; retry")
}

// claim takes key, waiting while another copy of the event is in flight
// (on another instance, or a claim left by a crashed one) until ctx ends:
// the outcome of that copy decides (delivered: duplicate; released: this
// copy forwards).
func (h *Handler) claim(w *boundedWait, store dedupe.Store, key string) (dedupe.Result, error) {
	poll := 10 * time.Millisecond
	downUntil := h.storeDownUntil[store]
	for {
		if d := downUntil.Load(); d != 0 && h.now().UnixNano() < d {
			return dedupe.Result{}, errStoreBackoff
		}
		var res dedupe.Result
		var err error
		if isLocal(store) {
			res, err = store.Claim(w.parent, key)
		} else {
			cctx, ccancel := context.WithTimeout(w.context(), claimTimeout)
			res, err = store.Claim(cctx, key)
			ccancel()
		}
		if err != nil && w.err() == nil {
			downUntil.Store(h.now().Add(storeBackoff).UnixNano())
		}
		if err != nil || res.State != dedupe.InFlight {
			return res, err
		}
		ctx := w.context()
		if ws, ok := store.(dedupe.Waiter); ok {
			if ws.Wait(ctx, key) != nil {
				return res, nil
			}
			continue
		}
		select {
		case <-ctx.Done():
			return res, nil
		case <-time.After(poll):
			poll = min(2*poll, 200*time.Millisecond)
		}
	}
}

// isLocal reports whether store is in this process (dedupe.Local): its
// calls need no deadline.
func isLocal(store dedupe.Store) bool {
	l, ok := store.(dedupe.Local)
	return ok && l.Local()
}

// storeContext is the context of the store calls made after the app
// answered: ctx, bounded by timeout unless the store is in this process.
func storeContext(ctx context.Context, store dedupe.Store, timeout time.Duration) (context.Context, context.CancelFunc) {
	if isLocal(store) {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, timeout)
}

// duplicateAnswer answers a copy of an event already delivered: as the app
// answered the original when that was kept, else with the provider's
// acknowledgement.
func (h *Handler) duplicateAnswer(r *Route, rec dedupe.Record) *result {
	res := &result{outcome: OutcomeDuplicate, status: http.StatusOK, header: http.Header{}}
	if rec.Status != 0 {
		res.status = rec.Status
		if rec.ContentType != "" {
			res.header.Set("Content-Type", rec.ContentType)
		}
		res.body = rec.Body
		return res
	}
	ackAnswer(r, res, "text/plain; charset=utf-8", []byte("hookguard: duplicate\n"))
	return res
}

// ackAnswer sets res's body to the provider's acknowledgement
// (verify.Acknowledger), or to body of type ct when it expects none.
func ackAnswer(r *Route, res *result, ct string, body []byte) {
	if a, ok := r.Verifier.(verify.Acknowledger); ok {
		ct, body = a.Ack()
	}
	res.header.Set("Content-Type", ct)
	res.body = body
}

func (h *Handler) finish(rep *Report, err error, res *result, reason string, upstream int) *result {
	rep.Outcome, rep.Reason, rep.Status, rep.UpstreamStatus = res.outcome, reason, res.status, upstream
	rep.Duration = h.now().Sub(rep.Start)
	h.report(rep, err)
	return res
}

// writeResult sends one event's result to the sender: the app's status,
// headers and body unchanged when the app answered.
func (h *Handler) writeResult(w http.ResponseWriter, r *Route, res *result) {
	dst := w.Header()
	for k, vv := range res.header {
		dst[k] = vv
	}
	dst.Set("Content-Length", strconv.Itoa(len(res.body)))
	w.WriteHeader(res.status)
	w.Write(res.body)
}

// deliverBatch delivers the events of a batch one by one, in order. It
// stops at the first event the app did not accept and answers with that
// failure, so the sender retries the batch; events already delivered are
// then answered as duplicates and not sent again.
func (h *Handler) deliverBatch(w http.ResponseWriter, req *http.Request, r *Route, events []verify.Event, rep Report) {
	summary := struct {
		Events     int `json:"events"`
		Forwarded  int `json:"forwarded"`
		Duplicates int `json:"duplicates"`
	}{Events: len(events)}
	for i := range events {
		res := h.deliver(req, r, &events[i], true, rep)
		if !res.ok() {
			h.writeResult(w, r, res)
			return
		}
		if res.outcome == OutcomeDuplicate {
			summary.Duplicates++
		} else {
			summary.Forwarded++
		}
	}
	body, _ := json.Marshal(summary)
	h.writeResult(w, r, &result{status: http.StatusOK, header: http.Header{"Content-Type": {"application/json"}}, body: append(body, '\n')})
}
