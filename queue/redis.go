package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisPrefix prefixes the Redis store's keys when
// RedisConfig.Prefix is empty.
const DefaultRedisPrefix = "hookguard:queue:"

// RedisConfig configures a Redis store.
type RedisConfig struct {
	// URL of the server, as redis.ParseURL takes it: redis://, rediss://
	// or unix://. Ignored when Client is set; one of the two is required.
	URL string
	// Client is used instead of dialling URL (e.g. a sentinel failover
	// client; not a cluster client: see Redis). The caller keeps it:
	// Close does not close it.
	Client redis.UniversalClient
	// Prefix starts every key. If empty, DefaultRedisPrefix.
	Prefix string
	// Consumer names this instance in the routes' consumer groups. It
	// must differ between instances running at once; kept across a
	// restart, the new process resends at once what the old one had in
	// flight (otherwise another instance takes it over after the lease).
	// If empty, the host name.
	Consumer string
	// MaxEvents bounds the events not yet delivered nor dead, across
	// routes. If 0, DefaultMaxEvents.
	MaxEvents int
	// DeadMaxAge is how long Sweep keeps dead letters. If 0,
	// DefaultDeadMaxAge.
	DeadMaxAge time.Duration
	// DedupeTTL is how long the dedupe key of a delivered event is
	// remembered (expired by Redis). If 0, DefaultDedupeTTL.
	DedupeTTL time.Duration
	// Now is the clock for enqueue, retry and dead-letter times. Leases
	// and dedupe TTLs run on the server's clock. If nil, time.Now.
	Now func() time.Time
	// Logger receives the store's few log lines. If nil, nothing is
	// logged.
	Logger *slog.Logger
	// Observer receives Enqueue latencies. If nil, none.
	Observer Observer
}

// Redis is a Store shared by several instances through one Redis server
// (a primary, with replicas or sentinels if wanted; not a Redis Cluster: a
// route's scripts touch keys of the store as a whole).
//
// Each route has a stream (one entry per event to deliver) read through the
// consumer group "hookguard", one consumer per instance: Take reads new
// entries with XREADGROUP and takes over, with XAUTOCLAIM, entries another
// consumer has held longer than the lease; Ack, Retry and Dead XACK and
// delete the entry. The record of an event lives in a hash beside the
// stream; delayed retries wait in a sorted set until due; dead letters are
// a sorted set by time of death. Every change is one Lua script, so an event
// and its dedupe mark are written together. Keys, under Prefix:
//
//	seq, pending              event ids; events not yet delivered nor dead
//	routes                    set of route names
//	deadidx                   hash: dead letter id -> route
//	r:<route>:s               stream of ids to deliver
//	r:<route>:ev              hash: id -> record (encodeRecord)
//	r:<route>:delay           sorted set: id by retry time
//	r:<route>:dead            sorted set: id by death time
//	r:<route>:pz              sorted set: id by enqueue time, not yet delivered nor dead
//	r:<route>:m:<dedupe key>  "q:<id>" queued or dead; "d" delivered, expiring after DedupeTTL
//
// Durability is Redis's: Enqueue returns once the server has applied the
// script, which is as durable as its persistence settings make it.
//
//   - appendonly yes, appendfsync always: the server fsyncs the AOF before
//     it answers, so an acknowledged event survives a crash of Redis or of
//     its machine. Slowest; the closest match to the disk store.
//   - appendonly yes, appendfsync everysec (Redis's default for AOF): an
//     acknowledged event survives a crash of the Redis process, but a power
//     loss or kernel crash may lose the last second or so of writes.
//   - RDB snapshots only (appendonly no): a crash loses everything since
//     the last snapshot, minutes of acknowledged events. Not durable.
//
// Replication is asynchronous: a failover to a replica may lose what the
// primary acknowledged last, whatever the settings.
type Redis struct {
	limits
	client   redis.UniversalClient
	owned    bool
	prefix   string
	consumer string
	closed   atomic.Bool
	once     sync.Once
	closeErr error

	mu      sync.Mutex
	resumed map[string]bool   // routes whose entries left by this consumer's last process were resumed
	cursor  map[string]string // XAUTOCLAIM cursor per route
}

// NewRedis returns a Redis store configured by cfg. It does not dial; use
// Ping to check the server.
func NewRedis(cfg RedisConfig) (*Redis, error) {
	l, err := newLimits("RedisConfig", cfg.MaxEvents, cfg.DeadMaxAge, cfg.DedupeTTL, cfg.Now, cfg.Logger, cfg.Observer)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if cfg.URL == "" && cfg.Client == nil {
		errs = append(errs, errors.New("queue: RedisConfig.URL or RedisConfig.Client is required"))
	}
	var opts *redis.Options
	if cfg.Client == nil && cfg.URL != "" {
		if opts, err = redis.ParseURL(cfg.URL); err != nil {
			// The URL may hold a password: name the field, not the value.
			errs = append(errs, fmt.Errorf("queue: RedisConfig.URL: %w", err))
		}
	}
	if cfg.Consumer == "" {
		if cfg.Consumer, err = os.Hostname(); err != nil || cfg.Consumer == "" {
			errs = append(errs, errors.New("queue: RedisConfig.Consumer is empty and the host name is unknown"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	r := &Redis{
		limits:   l,
		client:   cfg.Client,
		prefix:   cfg.Prefix,
		consumer: cfg.Consumer,
		resumed:  make(map[string]bool),
		cursor:   make(map[string]string),
	}
	if r.prefix == "" {
		r.prefix = DefaultRedisPrefix
	}
	if r.client == nil {
		r.client = redis.NewClient(opts)
		r.owned = true
	}
	return r, nil
}

// routeKeys are the keys of one route.
type routeKeys struct {
	stream, events, delay, dead, pendingz, mark string
}

func (r *Redis) keys(route string) routeKeys {
	p := r.prefix + "r:" + route + ":"
	return routeKeys{stream: p + "s", events: p + "ev", delay: p + "delay", dead: p + "dead", pendingz: p + "pz", mark: p + "m:"}
}

func (r *Redis) check() error {
	if r.closed.Load() {
		return ErrClosed
	}
	return nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// Enqueue implements Enqueuer.
func (r *Redis) Enqueue(ctx context.Context, ev *Event) (Enqueued, error) {
	start := r.now()
	if err := checkEvent(ev); err != nil {
		return Enqueued{}, err
	}
	if err := r.check(); err != nil {
		return Enqueued{}, err
	}
	now := r.now().UTC()
	k := r.keys(ev.Route)
	rec := encodeRecord(nil, newRecord(ev, now))
	reply, err := enqueueScript.Run(ctx, r.client,
		[]string{k.mark + ev.DedupeKey, k.events, k.stream, k.pendingz, r.prefix + "pending", r.prefix + "seq", r.prefix + "routes"},
		rec, ms(now), r.maxEvents, ev.Route).Slice()
	var res Enqueued
	switch {
	case err != nil:
		err = r.unavailable(err)
	case len(reply) == 2 && reply[0] == int64(0):
		res = Enqueued{ID: str(reply[1])}
	case len(reply) == 2 && reply[0] == int64(1):
		res = Enqueued{Duplicate: true, ID: strings.TrimPrefix(str(reply[1]), "q:")}
		if res.ID == "d" {
			res.ID = ""
		}
	case len(reply) == 1 && reply[0] == int64(2):
		err = fmt.Errorf("%w: %d events not yet delivered", ErrFull, r.maxEvents)
	default:
		err = fmt.Errorf("%w: unexpected enqueue reply %v", ErrUnavailable, reply)
	}
	r.observeEnqueue(ev.Route, start, res, err)
	return res, err
}

// Take implements Consumer. The first Take of a route by this instance
// first puts back in line what this consumer had in flight when its last
// process stopped.
func (r *Redis) Take(ctx context.Context, route string, n int, lease time.Duration) ([]*Event, error) {
	if n <= 0 || lease < time.Millisecond {
		return nil, fmt.Errorf("%w: Take: n and lease must be positive", ErrInvalid)
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	k := r.keys(route)
	if err := r.resume(ctx, route, k); err != nil {
		return nil, err
	}
	r.mu.Lock()
	cursor := r.cursor[route]
	r.mu.Unlock()
	if cursor == "" {
		cursor = "0-0"
	}
	now := r.now().UTC()
	reply, err := takeScript.Run(ctx, r.client, []string{k.stream, k.delay, k.events},
		r.consumer, ms(now), n, lease.Milliseconds(), cursor).Slice()
	if err != nil {
		return nil, r.unavailable(err)
	}
	if len(reply) != 2 {
		return nil, fmt.Errorf("%w: unexpected take reply %v", ErrUnavailable, reply)
	}
	r.mu.Lock()
	r.cursor[route] = str(reply[0])
	r.mu.Unlock()
	entries, _ := reply[1].([]any)
	evs := make([]*Event, 0, len(entries))
	for _, e := range entries {
		f, _ := e.([]any)
		if len(f) != 4 {
			return nil, fmt.Errorf("%w: unexpected take entry %v", ErrUnavailable, e)
		}
		sid, count, id, rec := str(f[0]), str(f[1]), str(f[2]), str(f[3])
		ev, err := decodeRecord(id, []byte(rec))
		if err != nil {
			// Leave it pending: it will be taken over after the lease and
			// logged again, but not lost.
			r.log.Error("queue: unreadable event", "route", route, "id", id, "err", err)
			continue
		}
		ev.State = StateRunning
		ev.Lease = sid + "/" + count
		ev.LeaseUntil = now.Add(lease)
		evs = append(evs, ev)
	}
	return evs, nil
}

// resume runs resumeScript for route once per instance.
func (r *Redis) resume(ctx context.Context, route string, k routeKeys) error {
	r.mu.Lock()
	done := r.resumed[route]
	r.mu.Unlock()
	if done {
		return nil
	}
	const chunk = 100
	total := 0
	for {
		n, err := resumeScript.Run(ctx, r.client, []string{k.stream}, r.consumer, chunk).Int()
		if err != nil {
			return r.unavailable(err)
		}
		total += n
		if n < chunk {
			break
		}
	}
	if total > 0 {
		r.log.Info("queue: events this consumer had in flight are due again", "route", route, "consumer", r.consumer, "events", total)
	}
	r.mu.Lock()
	r.resumed[route] = true
	r.mu.Unlock()
	return nil
}

// lease splits ev.Lease into its stream entry id and delivery count.
func lease(ev *Event) (sid, count string, err error) {
	sid, count, ok := strings.Cut(ev.Lease, "/")
	if !ok || sid == "" {
		return "", "", fmt.Errorf("%w: event %s", ErrLeaseLost, ev.ID)
	}
	return sid, count, nil
}

// settle runs a script that answers 1 when done and 0 when the lease is
// lost.
func (r *Redis) settle(ctx context.Context, ev *Event, run func(sid, count string) *redis.Cmd) error {
	if err := r.check(); err != nil {
		return err
	}
	sid, count, err := lease(ev)
	if err != nil {
		return err
	}
	done, err := run(sid, count).Int()
	if err != nil {
		return r.unavailable(err)
	}
	if done != 1 {
		return fmt.Errorf("%w: event %s", ErrLeaseLost, ev.ID)
	}
	return nil
}

// Ack implements Consumer.
func (r *Redis) Ack(ctx context.Context, ev *Event) error {
	k := r.keys(ev.Route)
	return r.settle(ctx, ev, func(sid, count string) *redis.Cmd {
		return ackScript.Run(ctx, r.client, []string{k.stream, k.events, k.pendingz, r.prefix + "pending", k.mark + ev.DedupeKey},
			r.consumer, sid, count, ev.ID, r.dedupeTTL.Milliseconds())
	})
}

// stored is ev as the store keeps it between attempts: no lease.
func stored(ev *Event) *Event {
	n := *ev
	n.Lease, n.LeaseUntil = "", time.Time{}
	return &n
}

// Retry implements Consumer.
func (r *Redis) Retry(ctx context.Context, ev *Event, a Attempt, next time.Time) error {
	k := r.keys(ev.Route)
	n := withAttempt(stored(ev), a)
	n.State = StateRetrying
	n.NextAttempt = next.UTC()
	rec := encodeRecord(nil, n)
	return r.settle(ctx, ev, func(sid, count string) *redis.Cmd {
		return retryScript.Run(ctx, r.client, []string{k.stream, k.events, k.delay},
			r.consumer, sid, count, ev.ID, rec, ms(next))
	})
}

// Dead implements Consumer.
func (r *Redis) Dead(ctx context.Context, ev *Event, a Attempt, ans *Answer) error {
	k := r.keys(ev.Route)
	now := r.now().UTC()
	n := withAttempt(stored(ev), a)
	n.State = StateDead
	n.DeadAt = now
	n.Answer = keptAnswer(ans)
	rec := encodeRecord(nil, n)
	return r.settle(ctx, ev, func(sid, count string) *redis.Cmd {
		return deadScript.Run(ctx, r.client,
			[]string{k.stream, k.events, k.dead, k.pendingz, r.prefix + "pending", r.prefix + "deadidx"},
			r.consumer, sid, count, ev.ID, rec, ms(now), ev.Route)
	})
}

// Ping implements Pinger.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.check(); err != nil {
		return err
	}
	return r.unavailable(r.client.Ping(ctx).Err())
}

// Close closes the client made from RedisConfig.URL; a RedisConfig.Client
// is left open for its owner. Close is idempotent.
func (r *Redis) Close() error {
	r.once.Do(func() {
		r.closed.Store(true)
		if r.owned {
			r.closeErr = r.client.Close()
		}
	})
	return r.closeErr
}

// unavailable wraps a Redis error; a closed client reads as ErrClosed.
func (r *Redis) unavailable(err error) error {
	if errors.Is(err, redis.ErrClosed) {
		return ErrClosed
	}
	return unavailable(err)
}

func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return ""
}

func num(v any) int {
	switch v := v.(type) {
	case int64:
		return int(v)
	case string:
		n, _ := strconv.Atoi(v)
		return n
	}
	return 0
}

var (
	_ Store  = (*Redis)(nil)
	_ Pinger = (*Redis)(nil)
)
