package queue

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// State is where an event is in its life. The zero State is invalid.
type State uint8

const (
	// StateAvailable: waiting for its first attempt (or for the first one
	// after a replay); due at NextAttempt.
	StateAvailable State = iota + 1
	// StateRunning: taken by a dispatcher under a lease until LeaseUntil.
	StateRunning
	// StateRetrying: an attempt failed; due again at NextAttempt.
	StateRetrying
	// StateDead: a dead letter, kept for the store's dead-letter age with
	// the app's last answer, until it is replayed or dropped.
	StateDead
	// StateDelivered: the app answered 2xx. Stores do not keep delivered
	// events, only their dedupe marks; the state appears in reports.
	StateDelivered
)

var stateNames = [...]string{
	StateAvailable: "available",
	StateRunning:   "running",
	StateRetrying:  "retrying",
	StateDead:      "dead",
	StateDelivered: "delivered",
}

func (s State) String() string {
	if s > 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "invalid"
}

// Limits on what a store keeps with an event.
const (
	// MaxHistory is how many attempts an event keeps in History; older ones
	// are dropped first (TotalAttempts still counts them).
	MaxHistory = 64
	// MaxAnswerBody is the largest part of the app's answer body kept with
	// a dead letter; the rest is cut off.
	MaxAnswerBody = 4 << 10
	// MaxErrorLen is the longest Attempt.Error kept; the rest is cut off.
	MaxErrorLen = 512
)

// Event is one queued webhook: what the proxy received and verified, what it
// will send to the app, and how delivery went so far. The proxy fills the
// fields above ID's line; the store owns the rest.
type Event struct {
	// Route names the route the event came in on (its path); dispatchers
	// take events per route. Required, without NUL bytes.
	Route string
	// DedupeKey is the route's dedupe key of the event: Enqueue reports a
	// duplicate while an event with the same Route and DedupeKey is queued,
	// dead, or was delivered within the store's dedupe TTL. Required.
	DedupeKey string
	// EventID, Type and Provider are the verified event's facts, for logs
	// and the queue API.
	EventID  string
	Type     string
	Provider string
	// Body is the raw request body, byte for byte.
	Body []byte
	// Header holds the normalized headers to send to the app.
	Header http.Header
	// RawQuery is the query the sender used, without '?'; the deliver
	// function joins it to the route's upstream as a sync forward would.
	RawQuery string

	// ID is assigned by the store on Enqueue: decimal digits, unique in
	// the store.
	ID string
	// EnqueuedAt is when Enqueue stored the event (the store's clock).
	EnqueuedAt time.Time
	// State is the event's state when it was read from the store.
	State State
	// NextAttempt is when the event is due (StateAvailable,
	// StateRetrying).
	NextAttempt time.Time
	// Attempts counts the attempts since the event was enqueued or last
	// replayed: what RetryPolicy limits.
	Attempts int
	// TotalAttempts counts every attempt, replays included.
	TotalAttempts int
	// History is the latest attempts, oldest first, at most MaxHistory.
	History []Attempt
	// ReplayedAt is when the event was last replayed from the dead
	// letters; zero if never.
	ReplayedAt time.Time
	// DeadAt is when the event became a dead letter (StateDead).
	DeadAt time.Time
	// Answer is the app's answer to the last attempt of a dead letter,
	// when it answered.
	Answer *Answer
	// LeaseUntil is when the lease of a StateRunning event ends; then
	// another Take may return the event again.
	LeaseUntil time.Time
	// Lease identifies the lease Take gave; Ack, Retry and Dead need it.
	// Opaque.
	Lease string
}

// Start is when the event's current run of attempts began: ReplayedAt if it
// was replayed, else EnqueuedAt. RetryPolicy measures the maximum age from
// it.
func (ev *Event) Start() time.Time {
	if !ev.ReplayedAt.IsZero() {
		return ev.ReplayedAt
	}
	return ev.EnqueuedAt
}

// LastAttempt returns the latest attempt, if any.
func (ev *Event) LastAttempt() (Attempt, bool) {
	if len(ev.History) == 0 {
		return Attempt{}, false
	}
	return ev.History[len(ev.History)-1], true
}

// Attempt is one delivery attempt.
type Attempt struct {
	// At is when the attempt started.
	At time.Time
	// Status is the app's HTTP status; 0 if it did not answer.
	Status int
	// Error describes why the attempt failed without a status (connection
	// refused, timeout), or is empty.
	Error string
	// Duration is how long the attempt took.
	Duration time.Duration
}

// Answer is what the app answered, kept with a dead letter.
type Answer struct {
	Status      int
	ContentType string
	// Body is the start of the answer's body, at most MaxAnswerBody bytes.
	Body []byte
}

// Enqueued is the result of an Enqueue.
type Enqueued struct {
	// ID is the stored event's ID; for a duplicate, that of the event
	// still queued or dead with the same dedupe key, or "" if it was
	// delivered.
	ID string
	// Duplicate is true when nothing was stored because the dedupe key is
	// already queued, dead, or delivered.
	Duplicate bool
}

// RouteStats counts one route's events.
type RouteStats struct {
	Route     string
	Available int // waiting for an attempt
	Running   int // being delivered
	Retrying  int // waiting for a retry
	Dead      int // dead letters
	// Oldest is when the oldest event not yet delivered nor dead
	// (available, running or retrying) was enqueued; zero if none.
	Oldest time.Time
}

// Waiting is the number of events waiting or being delivered, the queue
// API's "waiting".
func (s RouteStats) Waiting() int { return s.Available + s.Running }

// OldestAge returns how long the oldest event has been waiting at now; 0 if
// none.
func (s RouteStats) OldestAge(now time.Time) time.Duration {
	if s.Oldest.IsZero() || now.Before(s.Oldest) {
		return 0
	}
	return now.Sub(s.Oldest)
}

// DeadLetter summarizes a dead event for listings.
type DeadLetter struct {
	ID           string
	Route        string
	EventID      string
	Type         string
	Provider     string
	EnqueuedAt   time.Time
	DeadAt       time.Time
	Attempts     int // Event.TotalAttempts
	LastStatus   int
	LastError    string
	FirstAttempt time.Time // of the kept history
	LastAttempt  time.Time
}

// Summary returns ev's dead-letter summary.
func (ev *Event) Summary() DeadLetter {
	d := DeadLetter{
		ID: ev.ID, Route: ev.Route, EventID: ev.EventID, Type: ev.Type, Provider: ev.Provider,
		EnqueuedAt: ev.EnqueuedAt, DeadAt: ev.DeadAt, Attempts: ev.TotalAttempts,
	}
	if len(ev.History) > 0 {
		first, last := ev.History[0], ev.History[len(ev.History)-1]
		d.FirstAttempt, d.LastAttempt = first.At, last.At
		d.LastStatus, d.LastError = last.Status, last.Error
	}
	return d
}

// Sentinel errors, wrapped with %w by the stores.
var (
	// ErrFull: the store holds its maximum of events not yet delivered nor
	// dead. Answer 503 and let the sender retry.
	ErrFull = errors.New("queue full")
	// ErrUnavailable: the store cannot be read or written (I/O error, full
	// disk, Redis down). Nothing was stored.
	ErrUnavailable = errors.New("queue store unavailable")
	// ErrLeaseLost: Ack, Retry or Dead for an event whose lease is no
	// longer held (it expired and another Take has the event, or the event
	// was removed).
	ErrLeaseLost = errors.New("queue lease lost")
	// ErrNotFound: no dead letter with that ID.
	ErrNotFound = errors.New("queue event not found")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("queue store closed")
	// ErrInvalid: the event cannot be stored (missing route or dedupe key,
	// a field too large).
	ErrInvalid = errors.New("invalid queue event")
	// ErrLocked: the disk store's file is held by another process.
	ErrLocked = errors.New("queue file locked by another process")
	// ErrCorrupt: a stored record cannot be decoded.
	ErrCorrupt = errors.New("queue record corrupt")
)

// Enqueuer stores events: what the proxy needs.
type Enqueuer interface {
	// Enqueue stores ev durably together with the dedupe mark of
	// (ev.Route, ev.DedupeKey) and returns its ID, or reports a duplicate
	// and stores nothing. It fails with ErrFull, ErrInvalid or
	// ErrUnavailable; on any error nothing was stored. Enqueue sets
	// nothing in ev.
	Enqueue(ctx context.Context, ev *Event) (Enqueued, error)
}

// Consumer hands events to a dispatcher: what Dispatcher needs.
type Consumer interface {
	// Take leases up to n events of route that are due now, earliest due
	// first (arrival order for first attempts), for lease. An event whose
	// lease ran out is due again. The returned events are StateRunning with
	// Lease set.
	Take(ctx context.Context, route string, n int, lease time.Duration) ([]*Event, error)
	// Ack records that ev (as returned by Take) was delivered: the event
	// is removed and its dedupe key is marked delivered for the store's
	// dedupe TTL.
	Ack(ctx context.Context, ev *Event) error
	// Retry records the failed attempt a and makes ev due again at next.
	Retry(ctx context.Context, ev *Event, a Attempt, next time.Time) error
	// Dead records the failed attempt a and moves ev to the dead letters
	// with the app's answer ans (nil if it did not answer), its body cut
	// to MaxAnswerBody.
	Dead(ctx context.Context, ev *Event, a Attempt, ans *Answer) error
}

// Admin reads and manages the queue: what the queue API needs.
type Admin interface {
	// Stats counts the events of every route that has or had events.
	Stats(ctx context.Context) ([]RouteStats, error)
	// DeadLetters lists dead letters, oldest first: those of route, or of
	// every route if route is "". At most limit are listed; 0 means all.
	DeadLetters(ctx context.Context, route string, limit int) ([]DeadLetter, error)
	// DeadLetter returns the dead letter id with its history and answer,
	// or ErrNotFound.
	DeadLetter(ctx context.Context, id string) (*Event, error)
	// Replay makes dead letter id available again now, with a new budget
	// of attempts, or fails with ErrNotFound or ErrFull.
	Replay(ctx context.Context, id string) error
	// ReplayAll replays every dead letter of route and returns how many;
	// on ErrFull, those replayed before it stay replayed.
	ReplayAll(ctx context.Context, route string) (int, error)
	// Drop deletes dead letter id and frees its dedupe key, or fails with
	// ErrNotFound.
	Drop(ctx context.Context, id string) error
}

// Store is a durable queue: both stores implement it. Implementations are
// safe for concurrent use.
type Store interface {
	Enqueuer
	Consumer
	Admin
	// Sweep deletes dead letters older than the store's dead-letter age and
	// dedupe marks of delivered events older than its dedupe TTL. Call it
	// periodically (see RunSweeper).
	Sweep(ctx context.Context) error
	// Close releases the store; calls after it fail with ErrClosed.
	Close() error
}

// Notifier is an optional capability of a Store: a channel closed when an
// event of route may have become due (enqueued or replayed), so that a
// dispatcher need not wait for its next poll.
type Notifier interface {
	Notify(route string) <-chan struct{}
}

// Pinger is an optional capability: a store that can report its health.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Observer receives the figures a metrics exporter needs; counts and ages
// per route come from Admin.Stats. Implementations must be safe for
// concurrent use and fast.
type Observer interface {
	// ObserveEnqueue reports an Enqueue of route that took d: stored,
	// duplicate, or failed with err.
	ObserveEnqueue(route string, d time.Duration, res Enqueued, err error)
	// ObserveAttempt reports one delivery attempt and what came of it.
	ObserveAttempt(route string, result Result, d time.Duration)
}

// Result is what came of a delivery attempt.
type Result uint8

const (
	// ResultDelivered: the app answered 2xx; the event was acknowledged.
	ResultDelivered Result = iota + 1
	// ResultRetry: the attempt failed; the event will be retried.
	ResultRetry
	// ResultDead: the attempt failed for good; the event is a dead letter.
	ResultDead
	// ResultInterrupted: shutdown cut the attempt short, or the lease was
	// lost; nothing was recorded and the event will be delivered again.
	ResultInterrupted
)

var resultNames = [...]string{
	ResultDelivered:   "delivered",
	ResultRetry:       "retry",
	ResultDead:        "dead",
	ResultInterrupted: "interrupted",
}

func (r Result) String() string {
	if r > 0 && int(r) < len(resultNames) {
		return resultNames[r]
	}
	return "invalid"
}
