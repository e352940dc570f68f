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
)

var verifyReasons = []struct {
	err    error
	reason string
}{
	{verify.ErrMissingSignature, ReasonMissingSignature},
	{verify.ErrUnknownKey, ReasonUnknownKey},
	{verify.ErrSignatureMismatch, ReasonSignatureMismatch},
	{verify.ErrBodyMismatch, ReasonBodyMismatch},
	{verify.ErrUnsupportedAlgorithm, ReasonAlgorithm},
	{verify.ErrStale, ReasonStale},
	{verify.ErrMalformedSignature, ReasonMalformedSignature},
	{verify.ErrUnsigned, ReasonUnsigned},
	{verify.ErrMalformedBody, ReasonMalformedBody},
}

// verifyStatus maps a verification error to the status answered to the
// sender and the reason logged. This is the one place that does so.
func verifyStatus(err error) (int, string) {
	for _, vr := range verifyReasons {
		if errors.Is(err, vr.err) {
			if vr.reason == ReasonMalformedBody {
				return http.StatusBadRequest, vr.reason
			}
			return http.StatusUnauthorized, vr.reason
		}
	}
	return http.StatusUnauthorized, ReasonInvalid
}

// upstreamStatus maps an error reaching the app to 504 (timed out) or 502.
func upstreamStatus(err error) (int, string) {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return http.StatusGatewayTimeout, ReasonTimeout
	}
	return http.StatusBadGateway, ReasonUnreachable
}
