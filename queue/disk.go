package queue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Defaults of DiskConfig.
const (
	// DefaultLockTimeout is how long Open waits for the file lock.
	DefaultLockTimeout = time.Second
	// DefaultMaxBatch bounds the operations one commit carries.
	DefaultMaxBatch = 256
)

// DiskConfig configures a Disk store.
type DiskConfig struct {
	// Path of the store's file, created if missing. Required.
	Path string
	// MaxEvents bounds the events not yet delivered nor dead (available,
	// running, retrying); Enqueue and Replay beyond it fail with ErrFull.
	// If 0, DefaultMaxEvents.
	MaxEvents int
	// DeadMaxAge is how long Sweep keeps dead letters. If 0,
	// DefaultDeadMaxAge.
	DeadMaxAge time.Duration
	// DedupeTTL is how long the dedupe key of a delivered event is
	// remembered. If 0, DefaultDedupeTTL.
	DedupeTTL time.Duration
	// LockTimeout is how long Open waits for the file while another
	// process holds it before failing with ErrLocked. If 0,
	// DefaultLockTimeout.
	LockTimeout time.Duration
	// MaxBatch bounds how many operations share one commit (one fsync).
	// If 0, DefaultMaxBatch.
	MaxBatch int
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
	// Logger receives the store's few log lines (recovery on open). If
	// nil, nothing is logged.
	Logger *slog.Logger
	// Observer receives Enqueue latencies. If nil, none.
	Observer Observer

	// boltBatch (tests) commits Enqueues through bbolt's db.Batch with
	// this MaxBatchDelay instead of the commit loop, to compare the two.
	boltBatch time.Duration
}

// Disk is the embedded store: one bbolt file, written by one process at a
// time.
//
// Every write goes through one commit loop: a goroutine takes the first
// waiting operation, adds every other one already waiting (up to MaxBatch),
// runs them in one read-write transaction and commits it, which fsyncs.
// Concurrent writers thus share one fsync (group commit) without waiting for
// a timer: a lone Enqueue costs one commit, not a batch delay. (bbolt's
// db.Batch waits up to MaxBatchDelay, 10 ms by default, for company; see
// BenchmarkDiskEnqueue for the comparison.)
//
// The file holds these buckets (ids are 8-byte big-endian, times 8-byte
// big-endian Unix nanoseconds):
//
//	events            id -> record (encodeRecord)
//	due/<route>       due time, id -> ""   available, retrying, running (at lease end)
//	pending/<route>   id -> ""             available, running, retrying: the oldest first
//	leased            id -> ""             running, made available on open
//	dead/<route>      dead time, id -> ""
//	marks             route NUL dedupe key -> 'q' id (queued or dead) | 'd' expiry (delivered)
//	markexp           expiry, route NUL dedupe key -> ""
//	counts            route -> available, running, retrying, dead (4 × uint64)
type Disk struct {
	limits
	db       *bolt.DB
	maxBatch int
	boltBat  bool

	ops     chan *op
	closing chan struct{}
	stopped chan struct{}
	closed  atomic.Bool
	once    sync.Once

	mu     sync.Mutex
	notify map[string]chan struct{}

	commits atomic.Int64 // committed write transactions, for tests
	lastTx  atomic.Int64
}

// op is one write waiting for the commit loop. fn returns only storage
// errors; logical outcomes go through variables it captures, and it must
// set them afresh on every run.
type op struct {
	fn   func(tx *bolt.Tx) error
	done chan error
}

var bucketNames = [][]byte{bEvents, bDue, bPending, bLeased, bDead, bMarks, bMarkExp, bCounts}

var (
	bEvents  = []byte("events")
	bDue     = []byte("due")
	bPending = []byte("pending")
	bLeased  = []byte("leased")
	bDead    = []byte("dead")
	bMarks   = []byte("marks")
	bMarkExp = []byte("markexp")
	bCounts  = []byte("counts")
)

// OpenDisk opens (or creates) the store at cfg.Path. Events that were
// running when the file was last closed, or when its process died, are made
// due at once. If another process has the file open, OpenDisk fails with
// ErrLocked after cfg.LockTimeout.
func OpenDisk(cfg DiskConfig) (*Disk, error) {
	l, err := newLimits("DiskConfig", cfg.MaxEvents, cfg.DeadMaxAge, cfg.DedupeTTL, cfg.Now, cfg.Logger, cfg.Observer)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if cfg.Path == "" {
		errs = append(errs, errors.New("queue: DiskConfig.Path is required"))
	}
	if cfg.LockTimeout < 0 {
		errs = append(errs, errors.New("queue: DiskConfig.LockTimeout must not be negative"))
	}
	if cfg.MaxBatch < 0 {
		errs = append(errs, errors.New("queue: DiskConfig.MaxBatch must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	d := &Disk{
		limits:   l,
		maxBatch: cmp.Or(cfg.MaxBatch, DefaultMaxBatch),
		ops:      make(chan *op),
		closing:  make(chan struct{}),
		stopped:  make(chan struct{}),
		notify:   make(map[string]chan struct{}),
	}
	timeout := cfg.LockTimeout
	if timeout == 0 {
		timeout = DefaultLockTimeout
	}
	d.db, err = bolt.Open(cfg.Path, 0o600, &bolt.Options{
		Timeout: timeout,
		// The freelist is rebuilt on open instead of written by every
		// commit: fewer pages per fsync.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("queue: open %s: %w (waited %v)", cfg.Path, ErrLocked, timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: open %s: %w", cfg.Path, unavailable(err))
	}
	if cfg.boltBatch > 0 {
		d.boltBat = true
		d.db.MaxBatchDelay = cfg.boltBatch
		d.db.MaxBatchSize = d.maxBatch
	}
	if err := d.recover(); err != nil {
		_ = d.db.Close()
		return nil, fmt.Errorf("queue: open %s: %w", cfg.Path, err)
	}
	go d.loop()
	return d, nil
}

// recover creates the buckets and makes running events due now.
func (d *Disk) recover() error {
	var n int
	err := d.db.Update(func(tx *bolt.Tx) error {
		for _, name := range bucketNames {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		t := txn{tx: tx}
		var ids [][]byte
		_ = tx.Bucket(bLeased).ForEach(func(k, _ []byte) error {
			ids = append(ids, append([]byte(nil), k...))
			return nil
		})
		now := d.now().UTC()
		for _, k := range ids {
			old, err := t.get(k)
			if err != nil {
				d.log.Error("queue: dropping the lease of an unreadable event", "id", keyID(k), "err", err)
				if err := tx.Bucket(bLeased).Delete(k); err != nil {
					return err
				}
				continue
			}
			n++
			ev := *old
			ev.State = StateAvailable
			if ev.Attempts > 0 {
				ev.State = StateRetrying
			}
			ev.NextAttempt = now
			ev.Lease, ev.LeaseUntil = "", time.Time{}
			if err := t.replace(k, old, &ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return unavailable(err)
	}
	if n > 0 {
		d.log.Info("queue: events that were being delivered are due again", "events", n)
	}
	return nil
}

// update runs fn in the commit loop and returns once its transaction is
// committed (fsync'd) or failed. Once handed over, it waits whatever ctx
// says, so that the caller learns whether the write happened.
func (d *Disk) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	o := &op{fn: fn, done: make(chan error, 1)}
	select {
	case d.ops <- o:
	case <-d.closing:
		return ErrClosed
	case <-ctx.Done():
		return unavailable(ctx.Err())
	}
	return unavailable(<-o.done)
}

// batchUpdate is update through bbolt's db.Batch (tests).
func (d *Disk) batchUpdate(fn func(tx *bolt.Tx) error) error {
	if d.closed.Load() {
		return ErrClosed
	}
	return unavailable(d.db.Batch(func(tx *bolt.Tx) error {
		if id := int64(tx.ID()); d.lastTx.Swap(id) != id {
			tx.OnCommit(func() { d.commits.Add(1) })
		}
		return fn(tx)
	}))
}

// view runs fn in a read-only transaction.
func (d *Disk) view(fn func(t txn) error) error {
	if d.closed.Load() {
		return ErrClosed
	}
	err := d.db.View(func(tx *bolt.Tx) error { return fn(txn{tx: tx}) })
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return unavailable(err)
}

func (d *Disk) loop() {
	defer close(d.stopped)
	batch := make([]*op, 0, d.maxBatch)
	for {
		var first *op
		select {
		case first = <-d.ops:
		case <-d.closing:
			return
		}
		batch = append(batch[:0], first)
		// Let writers that are ready to hand over their op do so before
		// the batch is closed.
		runtime.Gosched()
	fill:
		for len(batch) < d.maxBatch {
			select {
			case o := <-d.ops:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		d.commit(batch)
		clear(batch)
	}
}

// commit runs batch in one transaction. An op whose fn fails gets its error
// and the others run again without it (their writes were rolled back with
// it).
func (d *Disk) commit(batch []*op) {
	for len(batch) > 0 {
		failed := -1
		err := d.db.Update(func(tx *bolt.Tx) error {
			for i, o := range batch {
				if err := o.fn(tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			if err == nil {
				d.commits.Add(1)
			}
			for _, o := range batch {
				o.done <- err
			}
			return
		}
		batch[failed].done <- err
		batch = append(batch[:failed:failed], batch[failed+1:]...)
	}
}

// Notify implements Notifier.
func (d *Disk) Notify(route string) <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.notify[route]
	if !ok {
		c = make(chan struct{})
		d.notify[route] = c
	}
	return c
}

// wake closes the Notify channel of route.
func (d *Disk) wake(route string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.notify[route]; ok {
		close(c)
		delete(d.notify, route)
	}
}

// Ping implements Pinger: it reads the file.
func (d *Disk) Ping(ctx context.Context) error {
	return d.view(func(t txn) error { return nil })
}

// Close waits for the write being committed, if any, and closes the file.
// Later calls fail with ErrClosed; Close is idempotent.
func (d *Disk) Close() error {
	var err error
	d.once.Do(func() {
		d.closed.Store(true)
		close(d.closing)
		<-d.stopped
		err = d.db.Close()
	})
	return err
}
