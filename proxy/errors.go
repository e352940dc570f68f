package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"

	"github.com/hookguard/hookguard/verify"
)

// Outcomes of one webhook, as logged and counted.
const (
	OutcomeForwarded     = "forwarded"      // the app answered 2xx
	OutcomeAppRejected   = "app_rejected"   // the app answered, not 2xx
	OutcomeDuplicate     = "duplicate"      // already delivered; not forwarded
	OutcomeRejected      = "rejected"       // refused by hookguard (see Reason)
	OutcomeUpstreamError = "upstream_error" // the app could not be reached in time
	OutcomeBusy          = "busy"           // a copy was still in flight; sender told to retry
	OutcomeQueued        = "queued"         // stored durably; delivered by the queue
	OutcomeChallenge     = "challenge"      // a verified endpoint validation, answered by hookguard; not forwarded
)

// Rejection reasons: a small fixed set, safe as metric labels.
const (
	ReasonNotFound           = "not_found"
	ReasonMethod             = "method_not_allowed"
	ReasonForbidden          = "forbidden_source"
	ReasonTooLarge           = "body_too_large"
	ReasonBadBody            = "unreadable_body"
	ReasonMalformedQuery     = "malformed_query"
	ReasonMissingSignature   = "missing_signature"
	ReasonUnknownKey         = "unknown_key"
	ReasonSignatureMismatch  = "signature_mismatch"
	ReasonBodyMismatch       = "body_mismatch"
	ReasonAlgorithm          = "unsupported_algorithm"
	ReasonStale              = "stale"
	ReasonMalformedSignature = "malformed_signature"
	ReasonUnsigned           = "unsigned"
	ReasonMalformedBody      = "malformed_body"
	ReasonStoreError         = "dedupe_store_error"
	ReasonInFlight           = "in_flight"
	ReasonUnreachable        = "upstream_unreachable"
	ReasonTimeout            = "upstream_timeout"
	ReasonInvalid            = "invalid"
	ReasonQueueFull          = "queue_full"
	ReasonQueueError         = "queue_error"
)

// Error is a refusal or failure that carries what the sender is answered:
// the status and a reason from the fixed set above. Err, when set, is the
// cause, logged as the detail and never shown to the sender.
type Error struct {
	Status int
	Reason string
	Err    error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// refusal returns an *Error with status and reason, caused by err.
func refusal(status int, reason string, err error) *Error {
	return &Error{Status: status, Reason: reason, Err: err}
}

var verifyReasons = []struct {
	err    error
	status int
	reason string
}{
	{verify.ErrMissingSignature, http.StatusUnauthorized, ReasonMissingSignature},
	{verify.ErrUnknownKey, http.StatusUnauthorized, ReasonUnknownKey},
	{verify.ErrSignatureMismatch, http.StatusUnauthorized, ReasonSignatureMismatch},
	{verify.ErrBodyMismatch, http.StatusUnauthorized, ReasonBodyMismatch},
	{verify.ErrUnsupportedAlgorithm, http.StatusUnauthorized, ReasonAlgorithm},
	{verify.ErrStale, http.StatusUnauthorized, ReasonStale},
	{verify.ErrMalformedSignature, http.StatusUnauthorized, ReasonMalformedSignature},
	{verify.ErrUnsigned, http.StatusUnauthorized, ReasonUnsigned},
	{verify.ErrMalformedBody, http.StatusBadRequest, ReasonMalformedBody},
}

// statusOf maps an error to the status answered to the sender and the
// reason logged. It is the one place that does so:
//   - an *Error in the chain answers for itself;
//   - a verification error is 401, or 400 for a body not in the provider's
//     format (its signature checked out, so the sender is genuine);
//   - an error reaching the app is 504 if it timed out, else 502.
//
// Any other error is a failed verification: 401 invalid, never a pass.
func statusOf(err error) (int, string) {
	var e *Error
	if errors.As(err, &e) {
		return e.Status, e.Reason
	}
	for _, vr := range verifyReasons {
		if errors.Is(err, vr.err) {
			return vr.status, vr.reason
		}
	}
	return http.StatusUnauthorized, ReasonInvalid
}

// upstreamError wraps err, met while forwarding to the app, as 504 if it
// timed out and 502 otherwise.
func upstreamError(err error) *Error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return refusal(http.StatusGatewayTimeout, ReasonTimeout, err)
	}
	return refusal(http.StatusBadGateway, ReasonUnreachable, err)
}
