package dedupe

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Defaults for MemoryConfig zero values.
const (
	DefaultSize        = 100000
	DefaultTTL         = time.Hour
	DefaultInFlightTTL = 30 * time.Second
	DefaultMaxInFlight = 100000
)

// MemoryConfig configures a Memory store. The zero value is ready to use.
type MemoryConfig struct {
	// Size bounds how many delivered keys are remembered. When full, the
	// oldest delivered key is forgotten first (it is also the one nearest to
	// expiring). If 0, DefaultSize.
	Size int
	// TTL is how long a delivered key is remembered. If 0, DefaultTTL.
	TTL time.Duration
	// InFlightTTL is how long a claim holds its key without Complete or
	// Release, so a holder that died does not block the key forever. If 0,
	// DefaultInFlightTTL.
	InFlightTTL time.Duration
	// MaxInFlight bounds how many claims are held at once; beyond it Claim
	// returns an error wrapping ErrUnavailable. If 0, DefaultMaxInFlight.
	MaxInFlight int
	// Window is the replay window of the route the store serves: how long
	// after an event was delivered a captured copy of it could still pass
	// verification. A key evicted for room (not expired) younger than
	// Window is counted in Stats.EvictedInWindow: a copy of it would now
	// be delivered again. If 0, the window is unbounded (the provider
	// signs no time): every eviction counts.
	Window time.Duration
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
}

// Stats counts what a Memory store kept and what it had to forget.
type Stats struct {
	// Kept is the number of delivered keys remembered now.
	Kept int
	// Evicted counts delivered keys forgotten for room before they expired.
	Evicted uint64
	// EvictedInWindow counts the evicted keys that were still inside the
	// replay window (MemoryConfig.Window): replays of those are delivered
	// again. Any increase means Size is too small for the traffic.
	EvictedInWindow uint64
}

// StatsReporter is an optional capability of a Store: counts for metrics.
type StatsReporter interface {
	Stats() Stats
}

// Memory is a Store for one instance, kept in process memory.
//
// Delivered keys live in a bounded FIFO ring with expiry, written here rather
// than taken from golang-lru/v2's expirable.LRU, which at v2.0.7 reads
// time.Now itself (so MemoryConfig.Now could not drive expiry), starts a
// cleanup goroutine that nothing can stop (its Close is commented out), and
// keeps every key in two maps plus a list element. Here expiry is lazy (the
// oldest entries are dropped as they expire, on each call), so Memory has no
// goroutine at all. With one TTL for all, insertion order is expiry order:
// FIFO eviction drops the key that would expire soonest anyway.
//
// Keys are kept as a 128-bit SHA-256 prefix, not as strings, so a kept key
// costs the same whatever its length: one 40-byte ring slot, one map slot,
// and the encoded Record when one was kept (about 90 bytes of heap per key
// with a status-only Record, 150 with Tencent's 50-byte acknowledgement,
// measured over 100000 keys). Two keys sharing a prefix, which would make one
// look delivered, is a chance of about n²/2¹²⁹ for n keys kept.
type Memory struct {
	window      int64 // nanoseconds; at most ttl
	ttl         int64 // nanoseconds
	inFlightTTL int64 // nanoseconds
	maxInFlight int
	now         func() time.Time
	base        time.Time // times are kept as nanoseconds since base

	mu        sync.Mutex
	closed    bool
	delivered ring
	inflight  map[digest]claim
	// lastRec is the last kept answer; an equal one shares its bytes.
	lastRec string
	// sweepAt is when the earliest claim can expire: until then a full
	// inflight map is not worth sweeping.
	sweepAt int64
	// evicted and evictedInWindow count keys dropped for room (Stats).
	evicted, evictedInWindow uint64
}

type digest [16]byte

func digestOf(key string) digest {
	var buf [256]byte // most keys: hashed without a heap copy
	sum := sha256.Sum256(append(buf[:0], key...))
	return digest(sum[:16])
}

type claim struct {
	token string
	exp   int64
	// done is made by the first Wait on the key and closed when the claim
	// ends, waking every waiter.
	done chan struct{}
}

var errClosed = fmt.Errorf("%w: store closed", ErrUnavailable)

// NewMemory returns a Memory store configured by cfg.
func NewMemory(cfg MemoryConfig) (*Memory, error) {
	var errs []error
	if cfg.Size < 0 {
		errs = append(errs, errors.New("dedupe: MemoryConfig.Size must not be negative"))
	}
	if cfg.TTL < 0 {
		errs = append(errs, errors.New("dedupe: MemoryConfig.TTL must not be negative"))
	}
	if cfg.InFlightTTL < 0 {
		errs = append(errs, errors.New("dedupe: MemoryConfig.InFlightTTL must not be negative"))
	}
	if cfg.MaxInFlight < 0 {
		errs = append(errs, errors.New("dedupe: MemoryConfig.MaxInFlight must not be negative"))
	}
	if cfg.Window < 0 {
		errs = append(errs, errors.New("dedupe: MemoryConfig.Window must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Size == 0 {
		cfg.Size = DefaultSize
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.InFlightTTL == 0 {
		cfg.InFlightTTL = DefaultInFlightTTL
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	window := int64(cfg.Window)
	if window == 0 || window > int64(cfg.TTL) {
		window = int64(cfg.TTL)
	}
	return &Memory{
		window:      window,
		ttl:         int64(cfg.TTL),
		inFlightTTL: int64(cfg.InFlightTTL),
		maxInFlight: cfg.MaxInFlight,
		now:         cfg.Now,
		base:        cfg.Now(),
		delivered:   newRing(cfg.Size),
		inflight:    make(map[digest]claim),
	}, nil
}

// clock returns the current time as nanoseconds since m.base. With time.Now
// both readings carry the monotonic clock, so wall clock jumps do not matter.
func (m *Memory) clock() int64 {
	return int64(m.now().Sub(m.base))
}

// Claim implements Store.
func (m *Memory) Claim(ctx context.Context, key string) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	d := digestOf(key)

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Result{}, errClosed
	}
	now := m.clock()
	m.delivered.expire(now)

	if enc, ok := m.delivered.get(d, now); ok {
		rec, _ := decodeRecord(enc) // encoded by Complete: always valid
		return Result{State: Delivered, Record: rec}, nil
	}
	if c, ok := m.inflight[d]; ok {
		if c.exp > now {
			return Result{State: InFlight}, nil
		}
		m.endClaim(d, c)
	}
	if len(m.inflight) >= m.maxInFlight {
		m.sweepClaims(now)
		if len(m.inflight) >= m.maxInFlight {
			return Result{}, fmt.Errorf("%w: %d claims in flight", ErrUnavailable, len(m.inflight))
		}
	}
	token, err := newToken()
	if err != nil {
		return Result{}, err
	}
	m.inflight[d] = claim{token: token, exp: now + m.inFlightTTL}
	return Result{State: Claimed, Token: token}, nil
}

// Complete implements Store.
func (m *Memory) Complete(ctx context.Context, key, token string, rec Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	enc := encodeRecord(rec)
	d := digestOf(key)

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	now := m.clock()
	if err := m.takeClaim(d, token, now); err != nil {
		return err
	}
	// Most apps answer every event alike: keep one copy of that answer.
	if enc == m.lastRec {
		enc = m.lastRec
	} else {
		m.lastRec = enc
	}
	m.delivered.expire(now)
	if exp, ok := m.delivered.add(d, now+m.ttl, enc); ok {
		// exp - ttl is when the evicted key was delivered.
		m.evicted++
		if now-(exp-m.ttl) < m.window {
			m.evictedInWindow++
		}
	}
	return nil
}

// Local implements Local: Memory's calls only take its mutex.
func (m *Memory) Local() bool { return true }

// Stats implements StatsReporter.
func (m *Memory) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Stats{Kept: len(m.delivered.index), Evicted: m.evicted, EvictedInWindow: m.evictedInWindow}
}

// Release implements Store.
func (m *Memory) Release(ctx context.Context, key, token string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d := digestOf(key)

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	return m.takeClaim(d, token, m.clock())
}

// Wait implements Waiter. It returns nil once key is completed, released or
// its claim expired (at once if key is not in flight), and ctx.Err() if ctx
// is done first. The expiry timer runs on real time, computed from Now when
// Wait is called.
func (m *Memory) Wait(ctx context.Context, key string) error {
	d := digestOf(key)

	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errClosed
	}
	now := m.clock()
	c, ok := m.inflight[d]
	if !ok {
		m.mu.Unlock()
		return nil
	}
	if c.exp <= now {
		m.endClaim(d, c)
		m.mu.Unlock()
		return nil
	}
	if c.done == nil {
		c.done = make(chan struct{})
		m.inflight[d] = c
	}
	m.mu.Unlock()

	t := time.NewTimer(time.Duration(c.exp - now))
	defer t.Stop()
	select {
	case <-c.done:
		return nil
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close forgets every key and wakes every waiter; later calls return an error
// wrapping ErrUnavailable. Memory runs no goroutine, so there is nothing else
// to stop. Close is idempotent.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	for d, c := range m.inflight {
		m.endClaim(d, c)
	}
	m.inflight = nil
	m.delivered = ring{}
	return nil
}

// takeClaim ends the claim on d if token holds it. Call with m.mu held.
func (m *Memory) takeClaim(d digest, token string, now int64) error {
	c, ok := m.inflight[d]
	if !ok {
		return ErrNotOwner
	}
	if c.exp <= now {
		m.endClaim(d, c)
		return ErrNotOwner
	}
	if c.token != token {
		return ErrNotOwner
	}
	m.endClaim(d, c)
	return nil
}

// endClaim removes the claim c on d and wakes its waiters. Call with m.mu
// held.
func (m *Memory) endClaim(d digest, c claim) {
	delete(m.inflight, d)
	if c.done != nil {
		close(c.done)
	}
}

// sweepClaims drops expired claims, unless none can have expired yet. A
// claim whose holder finishes is removed at once, so only holders that died
// leave claims to sweep; this runs only when the inflight map is full. Call
// with m.mu held.
func (m *Memory) sweepClaims(now int64) {
	if now < m.sweepAt {
		return
	}
	next := int64(0)
	for d, c := range m.inflight {
		if c.exp <= now {
			m.endClaim(d, c)
		} else if next == 0 || c.exp < next {
			next = c.exp
		}
	}
	m.sweepAt = next
}
