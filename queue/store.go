package queue

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Defaults shared by the stores' configs.
const (
	// DefaultMaxEvents bounds the events not yet delivered nor dead.
	DefaultMaxEvents = 1_000_000
	// DefaultDeadMaxAge is how long dead letters are kept.
	DefaultDeadMaxAge = 7 * 24 * time.Hour
	// DefaultDedupeTTL is how long the dedupe key of a delivered event is
	// remembered (dedupe.DefaultTTL).
	DefaultDedupeTTL = time.Hour
	// MaxRouteLen bounds Event.Route.
	MaxRouteLen = 1024
	// MaxDedupeKeyLen bounds Event.DedupeKey.
	MaxDedupeKeyLen = 4096
)

// limits are the settings both stores share, validated and defaulted.
type limits struct {
	maxEvents  int
	deadMaxAge time.Duration
	dedupeTTL  time.Duration
	now        func() time.Time
	log        *slog.Logger
	obs        Observer
}

func newLimits(kind string, maxEvents int, deadMaxAge, dedupeTTL time.Duration, now func() time.Time, log *slog.Logger, obs Observer) (limits, error) {
	var errs []error
	if maxEvents < 0 {
		errs = append(errs, fmt.Errorf("queue: %s.MaxEvents must not be negative", kind))
	}
	if deadMaxAge < 0 {
		errs = append(errs, fmt.Errorf("queue: %s.DeadMaxAge must not be negative", kind))
	}
	if dedupeTTL != 0 && dedupeTTL < time.Millisecond {
		errs = append(errs, fmt.Errorf("queue: %s.DedupeTTL must be at least 1ms", kind))
	}
	if err := errors.Join(errs...); err != nil {
		return limits{}, err
	}
	l := limits{
		maxEvents:  maxEvents,
		deadMaxAge: deadMaxAge,
		dedupeTTL:  dedupeTTL,
		now:        now,
		log:        log,
		obs:        obs,
	}
	if l.maxEvents == 0 {
		l.maxEvents = DefaultMaxEvents
	}
	if l.deadMaxAge == 0 {
		l.deadMaxAge = DefaultDeadMaxAge
	}
	if l.dedupeTTL == 0 {
		l.dedupeTTL = DefaultDedupeTTL
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	return l, nil
}

// observeEnqueue reports an Enqueue that began at start.
func (l *limits) observeEnqueue(route string, start time.Time, res Enqueued, err error) {
	if l.obs != nil {
		l.obs.ObserveEnqueue(route, l.now().Sub(start), res, err)
	}
}

// checkEvent validates what the proxy fills in an event.
func checkEvent(ev *Event) error {
	switch {
	case ev == nil:
		return fmt.Errorf("%w: nil event", ErrInvalid)
	case ev.Route == "":
		return fmt.Errorf("%w: no route", ErrInvalid)
	case len(ev.Route) > MaxRouteLen:
		return fmt.Errorf("%w: route longer than %d bytes", ErrInvalid, MaxRouteLen)
	case strings.IndexByte(ev.Route, 0) >= 0:
		return fmt.Errorf("%w: route holds a NUL byte", ErrInvalid)
	case ev.DedupeKey == "":
		return fmt.Errorf("%w: no dedupe key", ErrInvalid)
	case len(ev.DedupeKey) > MaxDedupeKeyLen:
		return fmt.Errorf("%w: dedupe key longer than %d bytes", ErrInvalid, MaxDedupeKeyLen)
	}
	return nil
}

// newRecord returns the event Enqueue stores for ev at now: the proxy's
// fields of ev, the store's reset.
func newRecord(ev *Event, now time.Time) *Event {
	return &Event{
		Route:       ev.Route,
		DedupeKey:   ev.DedupeKey,
		EventID:     ev.EventID,
		Type:        ev.Type,
		Provider:    ev.Provider,
		Body:        ev.Body,
		Header:      ev.Header,
		RawQuery:    ev.RawQuery,
		EnqueuedAt:  now,
		State:       StateAvailable,
		NextAttempt: now,
	}
}

// withAttempt returns a copy of ev with attempt a added to its counts and
// history, and its lease cleared.
func withAttempt(ev *Event, a Attempt) *Event {
	n := *ev
	if len(a.Error) > MaxErrorLen {
		a.Error = a.Error[:MaxErrorLen]
	}
	a.At = a.At.UTC()
	n.Attempts++
	n.TotalAttempts++
	h := make([]Attempt, 0, min(len(ev.History)+1, MaxHistory))
	if drop := len(ev.History) + 1 - MaxHistory; drop > 0 {
		h = append(h, ev.History[drop:]...)
	} else {
		h = append(h, ev.History...)
	}
	n.History = append(h, a)
	n.Lease, n.LeaseUntil = "", time.Time{}
	return &n
}

// keptAnswer copies ans with its body cut to MaxAnswerBody; nil for nil.
func keptAnswer(ans *Answer) *Answer {
	if ans == nil {
		return nil
	}
	body := ans.Body
	if len(body) > MaxAnswerBody {
		body = body[:MaxAnswerBody]
	}
	ct := ans.ContentType
	if len(ct) > 256 {
		ct = ""
	}
	return &Answer{Status: ans.Status, ContentType: ct, Body: append([]byte(nil), body...)}
}

// replayed returns dead event ev made available again at now.
func replayed(ev *Event, now time.Time) *Event {
	n := *ev
	n.State = StateAvailable
	n.Attempts = 0
	n.NextAttempt = now
	n.ReplayedAt = now
	n.DeadAt = time.Time{}
	n.Answer = nil
	n.Lease, n.LeaseUntil = "", time.Time{}
	return &n
}

// unavailable wraps a storage error so that both errors.Is(err,
// ErrUnavailable) and errors.Is(err, <cause>) hold. Errors that already are
// ours pass as they are.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	for _, ours := range []error{ErrUnavailable, ErrClosed, ErrCorrupt, ErrFull, ErrLeaseLost, ErrNotFound, ErrInvalid} {
		if errors.Is(err, ours) {
			return err
		}
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}
