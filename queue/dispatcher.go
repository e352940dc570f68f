package queue

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Defaults of DispatcherConfig.
const (
	// DefaultLease is how long a dispatcher holds an event it took: the
	// `queue.lease` setting.
	DefaultLease = 30 * time.Second
	// DefaultPollInterval is how often a dispatcher looks for due events
	// when nothing tells it sooner.
	DefaultPollInterval = time.Second
	// DefaultShutdownTimeout is how long Run waits for deliveries in
	// flight once its context is done.
	DefaultShutdownTimeout = 10 * time.Second
	// recordTimeout bounds the store write that records an attempt.
	recordTimeout = 10 * time.Second
)

// DeliverFunc sends ev to the app and reports what happened. It must return
// once ctx is done. The dispatcher gives it a context that ends before the
// lease does.
type DeliverFunc func(ctx context.Context, ev *Event) Outcome

// DispatcherConfig configures a Dispatcher.
type DispatcherConfig struct {
	// Store holds the events. Required.
	Store Consumer
	// Route names the route whose events are delivered. Required.
	Route string
	// Deliver sends one event. Required.
	Deliver DeliverFunc
	// Concurrency is how many deliveries run at once. If 0, 1: events
	// are delivered one at a time, in the order they are due.
	Concurrency int
	// Lease is how long a taken event stays with this dispatcher before
	// another Take (another replica's) may have it; each delivery's
	// context ends at 9/10 of it. If 0, DefaultLease.
	Lease time.Duration
	// Retry decides when a failed attempt is retried. If nil, a Backoff
	// with its defaults and Now.
	Retry RetryPolicy
	// PollInterval is how often the store is asked for due events when it
	// has no Notifier, and for retries that became due. If 0,
	// DefaultPollInterval.
	PollInterval time.Duration
	// ShutdownTimeout is how long Run waits for deliveries in flight once
	// its context is done, before it cancels them. If 0,
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
	// Logger gets one line per delivery attempt. If nil, nothing is
	// logged.
	Logger *slog.Logger
	// Observer gets every attempt's result. If nil, none.
	Observer Observer
}

// Dispatcher delivers the events of one route from a Store to the app.
//
// Order: events are taken in the order they are due: a first attempt at
// its enqueue time (so first attempts go in arrival order), a retry at its
// retry time. With Concurrency 1 deliveries never overlap, so the app sees
// first attempts in arrival order; an event whose attempt failed steps out
// of line and waits on its own schedule while every event that came in
// before its retry time goes first. A failing event thus never blocks the
// route. With Concurrency n, up to n run at once, in no set order.
//
// At-least-once: an event is removed only after the app answered 2xx (Ack).
// A crash, or a lease lost, between the answer and the Ack sends it again.
//
// Failures: a connection error, a timeout, 408, 429 and 5xx are retried
// when RetryPolicy says (Retry-After honoured); any other status that is not
// 2xx makes the event a dead letter at once, with the app's answer; so does
// a retryable failure once the policy gives up.
type Dispatcher struct {
	store           Consumer
	route           string
	deliver         DeliverFunc
	concurrency     int
	lease           time.Duration
	retry           RetryPolicy
	poll            time.Duration
	shutdownTimeout time.Duration
	now             func() time.Time
	log             *slog.Logger
	obs             Observer
}

// NewDispatcher returns a Dispatcher configured by cfg; Run starts it.
func NewDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	var errs []error
	if cfg.Store == nil {
		errs = append(errs, errors.New("queue: DispatcherConfig.Store is required"))
	}
	if cfg.Route == "" {
		errs = append(errs, errors.New("queue: DispatcherConfig.Route is required"))
	}
	if cfg.Deliver == nil {
		errs = append(errs, errors.New("queue: DispatcherConfig.Deliver is required"))
	}
	if cfg.Concurrency < 0 {
		errs = append(errs, errors.New("queue: DispatcherConfig.Concurrency must not be negative"))
	}
	if cfg.Lease != 0 && cfg.Lease < 10*time.Millisecond {
		errs = append(errs, errors.New("queue: DispatcherConfig.Lease must be at least 10ms"))
	}
	if cfg.PollInterval < 0 {
		errs = append(errs, errors.New("queue: DispatcherConfig.PollInterval must not be negative"))
	}
	if cfg.ShutdownTimeout < 0 {
		errs = append(errs, errors.New("queue: DispatcherConfig.ShutdownTimeout must not be negative"))
	}
	if b, ok := cfg.Retry.(*Backoff); ok {
		if err := b.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	d := &Dispatcher{
		store:           cfg.Store,
		route:           cfg.Route,
		deliver:         cfg.Deliver,
		concurrency:     cmp.Or(cfg.Concurrency, 1),
		lease:           cfg.Lease,
		retry:           cfg.Retry,
		poll:            cfg.PollInterval,
		shutdownTimeout: cfg.ShutdownTimeout,
		now:             cfg.Now,
		log:             cfg.Logger,
		obs:             cfg.Observer,
	}
	if d.lease == 0 {
		d.lease = DefaultLease
	}
	if d.poll == 0 {
		d.poll = DefaultPollInterval
	}
	if d.shutdownTimeout == 0 {
		d.shutdownTimeout = DefaultShutdownTimeout
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.retry == nil {
		d.retry = &Backoff{Now: d.now}
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	return d, nil
}

// errShutdown is the cause of the deliveries' context when Run stops
// waiting for them.
var errShutdown = errors.New("queue: dispatcher shut down")

// Run delivers events until ctx is done. Then it takes no more, waits up
// to ShutdownTimeout for the deliveries in flight, cancels those still
// running (nothing is recorded for them: they are delivered again once
// their lease ends, or when the store is reopened) and returns nil. The
// queue is left as it is.
func (d *Dispatcher) Run(ctx context.Context) error {
	work, stop := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stop(nil)
	done := make(chan struct{}, d.concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	inFlight := 0
	tick := time.NewTicker(d.poll)
	defer tick.Stop()
	notifier, _ := d.store.(Notifier)
	failing := false // the last Take failed: wait for the tick

	for ctx.Err() == nil {
		var notify <-chan struct{}
		if free := d.concurrency - inFlight; free > 0 && !failing {
			if notifier != nil {
				// Before Take, so that an Enqueue after it is not missed.
				notify = notifier.Notify(d.route)
			}
			evs, err := d.store.Take(ctx, d.route, free, d.lease)
			if err != nil && ctx.Err() == nil {
				d.log.Error("queue: cannot take events", "route", d.route, "err", err)
				failing = true
			}
			for _, ev := range evs {
				inFlight++
				wg.Go(func() {
					d.attempt(work, ev)
					done <- struct{}{}
				})
			}
			if len(evs) == free {
				notify = nil // no slot left: wait for one
			}
		}
		select {
		case <-ctx.Done():
		case <-done:
			inFlight--
		case <-notify:
		case <-tick.C:
			failing = false
		}
	}

	if inFlight > 0 {
		t := time.NewTimer(d.shutdownTimeout)
		defer t.Stop()
		for inFlight > 0 {
			select {
			case <-done:
				inFlight--
			case <-t.C:
				d.log.Warn("queue: shutdown timeout, cancelling deliveries", "route", d.route, "deliveries", inFlight)
				stop(errShutdown)
			}
		}
	}
	return nil
}

// attempt delivers ev once and records the outcome.
func (d *Dispatcher) attempt(work context.Context, ev *Event) {
	ctx, cancel := context.WithTimeout(work, d.lease*9/10)
	start := d.now()
	out := d.deliver(ctx, ev)
	cancel()
	took := d.now().Sub(start)

	a := Attempt{At: start, Status: out.Status, Duration: took}
	if out.Status == 0 {
		a.Error = "no answer"
		if out.Err != nil {
			a.Error = out.Err.Error()
		}
	}
	attrs := []any{
		"route", d.route, "id", ev.ID, "event_id", ev.EventID, "type", ev.Type, "provider", ev.Provider,
		"attempt", ev.Attempts + 1, "status", out.Status, "duration_ms", took.Milliseconds(),
	}
	if a.Error != "" {
		attrs = append(attrs, "error", a.Error)
	}
	if errors.Is(context.Cause(work), errShutdown) {
		d.report(ResultInterrupted, took, slog.LevelWarn, append(attrs, "reason", "shutdown")...)
		return
	}

	rctx, rcancel := context.WithTimeout(context.WithoutCancel(work), recordTimeout)
	defer rcancel()
	var (
		result = ResultDead
		level  = slog.LevelWarn
		err    error
	)
	switch {
	case out.Delivered():
		result, level = ResultDelivered, slog.LevelInfo
		err = d.store.Ack(rctx, ev)
	case out.Retryable():
		counted := withAttempt(ev, a)
		if next, ok := d.retry.NextRetry(counted, out); ok {
			result = ResultRetry
			attrs = append(attrs, "next_attempt", next)
			err = d.store.Retry(rctx, ev, a, next)
		} else {
			attrs = append(attrs, "reason", "retries exhausted")
			err = d.store.Dead(rctx, ev, a, answerOf(out))
		}
	default:
		attrs = append(attrs, "reason", "app refused the event")
		err = d.store.Dead(rctx, ev, a, answerOf(out))
	}
	if err != nil {
		// Not recorded: the event is delivered again after its lease.
		d.report(ResultInterrupted, took, slog.LevelError, append(attrs, "reason", "not recorded: "+err.Error(), "outcome", result.String())...)
		return
	}
	d.report(result, took, level, attrs...)
}

func (d *Dispatcher) report(result Result, took time.Duration, level slog.Level, attrs ...any) {
	d.log.Log(context.Background(), level, "queue delivery", append(attrs, "result", result.String())...)
	if d.obs != nil {
		d.obs.ObserveAttempt(d.route, result, took)
	}
}

// answerOf is what is kept of the app's answer; nil if it did not answer.
func answerOf(out Outcome) *Answer {
	if out.Status == 0 {
		return nil
	}
	return &Answer{Status: out.Status, ContentType: out.ContentType, Body: out.Body}
}

// Sweeper deletes what is past its age (Store.Sweep).
type Sweeper interface {
	Sweep(ctx context.Context) error
}

// RunSweeper calls s.Sweep every interval until ctx is done, logging
// failures to logger (nil: not logged), and returns nil.
func RunSweeper(ctx context.Context, s Sweeper, interval time.Duration, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				logger.Error("queue: sweep failed", "err", err)
			}
		}
	}
}
