package dedupe

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultNamespace prefixes Redis keys when RedisConfig.Namespace is empty.
const DefaultNamespace = "hookguard:"

// RedisConfig configures a Redis store.
type RedisConfig struct {
	// URL of the server, as redis.ParseURL takes it: redis://, rediss:// or
	// unix://. Ignored when Client is set; one of the two is required.
	URL string
	// Client is used instead of dialling URL, e.g. a cluster or sentinel
	// client. The caller keeps it: Redis.Close does not close it.
	Client redis.UniversalClient
	// Namespace prefixes every key. If empty, DefaultNamespace.
	Namespace string
	// TTL is how long a delivered key is remembered. If 0, DefaultTTL.
	TTL time.Duration
	// InFlightTTL is how long a claim holds its key without Complete or
	// Release. If 0, DefaultInFlightTTL.
	InFlightTTL time.Duration
}

// Redis is a Store shared by several instances through one Redis server (or
// cluster: every script touches a single key). Expiry runs on the server
// (PX), so Redis takes no clock.
//
// A key holds "inflight:<token>" while claimed and "d:<record>" once
// delivered (see encodeRecord), each with its own expiry.
type Redis struct {
	client      redis.UniversalClient
	owned       bool // client was made from URL; Close closes it
	ns          string
	ttl         int64 // milliseconds
	inFlightTTL int64 // milliseconds
	closeOnce   sync.Once
	closeErr    error
}

const (
	inflightPrefix  = "inflight:"
	deliveredPrefix = "d:"
)

// Reply of claimScript: {0} claimed, {1, record} delivered, {2} in flight.
var claimScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
  return {0}
end
if string.sub(v, 1, 2) == 'd:' then
  return {1, string.sub(v, 3)}
end
if string.sub(v, 1, 9) == 'inflight:' then
  return {2}
end
return redis.error_reply('hookguard: unrecognized value at key')
`)

// completeScript replaces the claim ARGV[1] with the record ARGV[2] for
// ARGV[3] ms; 1 if done, 0 if the claim is not there.
var completeScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
`)

// releaseScript deletes the claim ARGV[1]; 1 if done, 0 if it is not there.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// NewRedis returns a Redis store configured by cfg. It does not dial; use
// Ping to check the server.
func NewRedis(cfg RedisConfig) (*Redis, error) {
	var errs []error
	if cfg.URL == "" && cfg.Client == nil {
		errs = append(errs, errors.New("dedupe: RedisConfig.URL or RedisConfig.Client is required"))
	}
	if cfg.TTL != 0 && cfg.TTL < time.Millisecond {
		errs = append(errs, errors.New("dedupe: RedisConfig.TTL must be at least 1ms"))
	}
	if cfg.InFlightTTL != 0 && cfg.InFlightTTL < time.Millisecond {
		errs = append(errs, errors.New("dedupe: RedisConfig.InFlightTTL must be at least 1ms"))
	}
	var opts *redis.Options
	if cfg.Client == nil && cfg.URL != "" {
		var err error
		if opts, err = redis.ParseURL(cfg.URL); err != nil {
			// The URL may hold a password: name the field, not the value.
			errs = append(errs, fmt.Errorf("dedupe: RedisConfig.URL: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.InFlightTTL == 0 {
		cfg.InFlightTTL = DefaultInFlightTTL
	}
	r := &Redis{
		client:      cfg.Client,
		ns:          cfg.Namespace,
		ttl:         cfg.TTL.Milliseconds(),
		inFlightTTL: cfg.InFlightTTL.Milliseconds(),
	}
	if r.client == nil {
		r.client = redis.NewClient(opts)
		r.owned = true
	}
	return r, nil
}

// Claim implements Store.
func (r *Redis) Claim(ctx context.Context, key string) (Result, error) {
	token, err := newToken()
	if err != nil {
		return Result{}, err
	}
	reply, err := claimScript.Run(ctx, r.client, []string{r.ns + key}, inflightPrefix+token, r.inFlightTTL).Slice()
	if err != nil {
		return Result{}, unavailable(err)
	}
	code := int64(-1)
	if len(reply) > 0 {
		code, _ = reply[0].(int64)
	}
	switch {
	case code == 0:
		return Result{State: Claimed, Token: token}, nil
	case code == 1 && len(reply) == 2:
		enc, _ := reply[1].(string)
		// A value we cannot read still says "delivered": keep deduplicating
		// and answer without the record.
		rec, _ := decodeRecord(enc)
		return Result{State: Delivered, Record: rec}, nil
	case code == 2:
		return Result{State: InFlight}, nil
	}
	return Result{}, fmt.Errorf("%w: unexpected claim reply %v", ErrUnavailable, reply)
}

// Complete implements Store.
func (r *Redis) Complete(ctx context.Context, key, token string, rec Record) error {
	value := deliveredPrefix + encodeRecord(rec)
	done, err := completeScript.Run(ctx, r.client, []string{r.ns + key}, inflightPrefix+token, value, r.ttl).Int64()
	if err != nil {
		return unavailable(err)
	}
	if done != 1 {
		return ErrNotOwner
	}
	return nil
}

// Release implements Store.
func (r *Redis) Release(ctx context.Context, key, token string) error {
	done, err := releaseScript.Run(ctx, r.client, []string{r.ns + key}, inflightPrefix+token).Int64()
	if err != nil {
		return unavailable(err)
	}
	if done != 1 {
		return ErrNotOwner
	}
	return nil
}

// Wait implements Waiter by polling, every 10 ms at first and backing off to
// every 100 ms. It returns nil once key is not in flight, ctx.Err() when ctx
// is done first, and an error wrapping ErrUnavailable if Redis fails.
func (r *Redis) Wait(ctx context.Context, key string) error {
	const (
		first = 10 * time.Millisecond
		most  = 100 * time.Millisecond
	)
	var t *time.Timer
	for delay := first; ; delay = min(2*delay, most) {
		// Read only the prefix: a delivered value may hold a 4 KiB body.
		head, err := r.client.GetRange(ctx, r.ns+key, 0, int64(len(inflightPrefix)-1)).Result()
		if err != nil {
			return unavailable(err)
		}
		if !strings.HasPrefix(head, inflightPrefix) {
			return nil
		}
		if t == nil {
			t = time.NewTimer(delay)
			defer t.Stop()
		} else {
			t.Reset(delay)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Ping implements Pinger.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.client.Ping(ctx).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// Close closes the client made from RedisConfig.URL; a RedisConfig.Client is
// left open for its owner. Close is idempotent.
func (r *Redis) Close() error {
	r.closeOnce.Do(func() {
		if r.owned {
			r.closeErr = r.client.Close()
		}
	})
	return r.closeErr
}

// unavailable wraps a Redis or network error so that both errors.Is(err,
// ErrUnavailable) and errors.Is(err, <cause>) (e.g. context.DeadlineExceeded)
// hold.
func unavailable(err error) error {
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

var (
	_ Store  = (*Redis)(nil)
	_ Waiter = (*Redis)(nil)
	_ Pinger = (*Redis)(nil)
)
