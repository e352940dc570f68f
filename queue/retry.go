package queue

import (
	"cmp"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Outcome is what one delivery attempt got from the app, as the deliver
// function reports it.
type Outcome struct {
	// Status is the app's HTTP status; 0 if it did not answer.
	Status int
	// Err is why there is no status: connection refused, timeout, ...
	// Ignored when Status is set.
	Err error
	// RetryAfter is the app's Retry-After, if it sent one (see
	// ParseRetryAfter); 0 if not.
	RetryAfter time.Duration
	// ContentType and Body are the app's answer, kept with a dead letter
	// (the body cut to MaxAnswerBody).
	ContentType string
	Body        []byte
}

// Delivered reports whether the app took the event: a 2xx status.
func (o Outcome) Delivered() bool { return o.Status >= 200 && o.Status <= 299 }

// Retryable reports whether a failed attempt may succeed later: no answer
// (connection error, timeout), 408, 429 or 5xx. Any other status that is
// not 2xx (1xx, 3xx, other 4xx) is a permanent failure: the event becomes a
// dead letter at once.
func (o Outcome) Retryable() bool {
	switch {
	case o.Status == 0:
		return true
	case o.Status == http.StatusRequestTimeout, o.Status == http.StatusTooManyRequests:
		return true
	case o.Status >= 500 && o.Status <= 599:
		return true
	}
	return false
}

// ParseRetryAfter reads a Retry-After header value, delay-seconds or an
// HTTP date, as a wait from now. It reports false for an absent or invalid
// value; a date in the past is a wait of 0.
func ParseRetryAfter(value string, now time.Time) (time.Duration, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(value, 10, 32); err == nil {
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(value)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// RetryPolicy decides when a failed, retryable attempt is tried again.
type RetryPolicy interface {
	// NextRetry returns when ev is to be tried again after the failed
	// attempt whose outcome is out (ev.Attempts already counts it), or
	// false to give up: the event becomes a dead letter.
	NextRetry(ev *Event, out Outcome) (time.Time, bool)
}

// Defaults of Backoff, those of the route's retry key.
const (
	DefaultMaxAttempts    = 25
	DefaultMaxAge         = 72 * time.Hour
	DefaultInitialBackoff = time.Second
	DefaultMaxBackoff     = 10 * time.Minute
)

// Backoff is the default RetryPolicy: exponential backoff with full jitter.
// After the n-th failed attempt the wait is drawn uniformly from
// [0, min(MaxBackoff, InitialBackoff·2^(n-1))), raised to the app's
// Retry-After when that is longer (itself capped by MaxBackoff). It gives up
// after MaxAttempts attempts, or once MaxAge has passed since ev.Start(); the
// last retry is moved forward to that deadline rather than past it.
type Backoff struct {
	// MaxAttempts is how many attempts an event gets. If 0,
	// DefaultMaxAttempts.
	MaxAttempts int
	// MaxAge is how long after ev.Start() an event is retried. If 0,
	// DefaultMaxAge.
	MaxAge time.Duration
	// InitialBackoff is the upper bound of the first wait. If 0,
	// DefaultInitialBackoff.
	InitialBackoff time.Duration
	// MaxBackoff caps every wait, Retry-After included. If 0,
	// DefaultMaxBackoff.
	MaxBackoff time.Duration
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
	// Rand returns a uniform random int64 in [0, n), n > 0, for the
	// jitter; it must be safe for concurrent use. If nil,
	// math/rand/v2.Int64N.
	Rand func(n int64) int64
}

// Validate reports a negative field, naming it.
func (b *Backoff) Validate() error {
	var errs []error
	if b.MaxAttempts < 0 {
		errs = append(errs, errors.New("queue: Backoff.MaxAttempts must not be negative"))
	}
	if b.MaxAge < 0 {
		errs = append(errs, errors.New("queue: Backoff.MaxAge must not be negative"))
	}
	if b.InitialBackoff < 0 {
		errs = append(errs, errors.New("queue: Backoff.InitialBackoff must not be negative"))
	}
	if b.MaxBackoff < 0 {
		errs = append(errs, errors.New("queue: Backoff.MaxBackoff must not be negative"))
	}
	if b.InitialBackoff > 0 && b.MaxBackoff > 0 && b.InitialBackoff > b.MaxBackoff {
		errs = append(errs, errors.New("queue: Backoff.InitialBackoff must not exceed Backoff.MaxBackoff"))
	}
	return errors.Join(errs...)
}

// NextRetry implements RetryPolicy.
func (b *Backoff) NextRetry(ev *Event, out Outcome) (time.Time, bool) {
	maxAttempts := cmp.Or(b.MaxAttempts, DefaultMaxAttempts)
	maxAge := cmp.Or(b.MaxAge, DefaultMaxAge)
	initial := cmp.Or(b.InitialBackoff, DefaultInitialBackoff)
	most := cmp.Or(b.MaxBackoff, DefaultMaxBackoff)
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	random := rand.Int64N
	if b.Rand != nil {
		random = b.Rand
	}

	t := now()
	deadline := ev.Start().Add(maxAge)
	if ev.Attempts >= maxAttempts || !t.Before(deadline) {
		return time.Time{}, false
	}
	wait := jitter(backoffCeiling(initial, most, ev.Attempts), random)
	if out.RetryAfter > wait {
		wait = min(out.RetryAfter, most)
	}
	next := t.Add(wait)
	if next.After(deadline) {
		next = deadline
	}
	return next, true
}

// backoffCeiling is min(most, initial·2^(attempts-1)), attempts ≥ 1.
func backoffCeiling(initial, most time.Duration, attempts int) time.Duration {
	c := initial
	for i := 1; i < attempts; i++ {
		if c >= most/2 {
			return most
		}
		c *= 2
	}
	return min(c, most)
}

// jitter draws a wait uniformly from [0, ceiling).
func jitter(ceiling time.Duration, random func(int64) int64) time.Duration {
	if ceiling <= 0 {
		return 0
	}
	return time.Duration(random(int64(ceiling)))
}

func cmpOr[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

var _ RetryPolicy = (*Backoff)(nil)
