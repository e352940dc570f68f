package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"testing"

	"github.com/hookguard/hookguard/verify"
)

func TestStatusOf(t *testing.T) {
	timeout := &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	cases := []struct {
		name   string
		err    error
		status int
		reason string
	}{
		{"refusal", refusal(http.StatusNotFound, ReasonNotFound, nil), 404, ReasonNotFound},
		{"wrapped refusal", fmt.Errorf("x: %w", refusal(http.StatusBadRequest, ReasonMalformedQuery, ErrQuerySemicolon)), 400, ReasonMalformedQuery},
		{"forged signature", fmt.Errorf("livekit: %w", verify.ErrSignatureMismatch), 401, ReasonSignatureMismatch},
		{"stale", fmt.Errorf("tencent: %w", verify.ErrStale), 401, ReasonStale},
		{"genuine sender, bad body", fmt.Errorf("livekit: %w: x", verify.ErrMalformedBody), 400, ReasonMalformedBody},
		{"unknown error never passes", errors.New("something else"), 401, ReasonInvalid},
		{"app timed out", upstreamError(context.DeadlineExceeded), 504, ReasonTimeout},
		{"dial timed out", upstreamError(timeout), 504, ReasonTimeout},
		{"app refused", upstreamError(refused), 502, ReasonUnreachable},
		{"app reset mid-answer", upstreamError(errResponseTooLarge), 502, ReasonUnreachable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, reason := statusOf(tc.err)
			if status != tc.status || reason != tc.reason {
				t.Errorf("statusOf = %d %s, want %d %s", status, reason, tc.status, tc.reason)
			}
		})
	}
	// The cause stays in the chain.
	if e := refusal(400, ReasonMalformedQuery, ErrQueryDuplicate); !errors.Is(e, ErrQueryDuplicate) {
		t.Error("refusal does not unwrap to its cause")
	}
}
