package queue

// The Redis store's Admin side: stats, dead letters, replay, drop, sweep.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

func (r *Redis) routes(ctx context.Context) ([]string, error) {
	routes, err := r.client.SMembers(ctx, r.prefix+"routes").Result()
	if err != nil {
		return nil, r.unavailable(err)
	}
	return routes, nil
}

// Stats implements Admin.
func (r *Redis) Stats(ctx context.Context) ([]RouteStats, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	routes, err := r.routes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]RouteStats, 0, len(routes))
	for _, route := range routes {
		k := r.keys(route)
		v, err := statsScript.Run(ctx, r.client, []string{k.stream, k.delay, k.dead, k.pendingz}).Slice()
		if err != nil {
			return nil, r.unavailable(err)
		}
		if len(v) != 5 {
			return nil, fmt.Errorf("%w: unexpected stats reply %v", ErrUnavailable, v)
		}
		length, running, retrying, dead := num(v[0]), num(v[1]), num(v[2]), num(v[3])
		s := RouteStats{Route: route, Available: length - running, Running: running, Retrying: retrying, Dead: dead}
		if o, err := strconv.ParseInt(str(v[4]), 10, 64); err == nil && o >= 0 {
			s.Oldest = time.UnixMilli(o).UTC()
		}
		out = append(out, s)
	}
	return out, nil
}

// DeadLetters implements Admin.
func (r *Redis) DeadLetters(ctx context.Context, route string, limit int) ([]DeadLetter, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	routes := []string{route}
	if route == "" {
		var err error
		if routes, err = r.routes(ctx); err != nil {
			return nil, err
		}
	}
	var out []DeadLetter
	for _, route := range routes {
		k := r.keys(route)
		ids, err := r.client.ZRange(ctx, k.dead, 0, int64(limit)-1).Result()
		if err != nil {
			return nil, r.unavailable(err)
		}
		if len(ids) == 0 {
			continue
		}
		recs, err := r.client.HMGet(ctx, k.events, ids...).Result()
		if err != nil {
			return nil, r.unavailable(err)
		}
		for i, rec := range recs {
			s, ok := rec.(string)
			if !ok {
				continue // dropped meanwhile
			}
			ev, err := decodeRecord(ids[i], []byte(s))
			if err != nil {
				return nil, err
			}
			out = append(out, ev.Summary())
		}
	}
	sortDeadLetters(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// deadRecord reads dead letter id and its route's keys.
func (r *Redis) deadRecord(ctx context.Context, id string) (*Event, routeKeys, error) {
	if err := r.check(); err != nil {
		return nil, routeKeys{}, err
	}
	route, err := r.client.HGet(ctx, r.prefix+"deadidx", id).Result()
	if errors.Is(err, redis.Nil) {
		return nil, routeKeys{}, fmt.Errorf("%w: dead letter %q", ErrNotFound, id)
	}
	if err != nil {
		return nil, routeKeys{}, r.unavailable(err)
	}
	k := r.keys(route)
	rec, err := r.client.HGet(ctx, k.events, id).Result()
	if errors.Is(err, redis.Nil) {
		return nil, routeKeys{}, fmt.Errorf("%w: dead letter %q", ErrNotFound, id)
	}
	if err != nil {
		return nil, routeKeys{}, r.unavailable(err)
	}
	ev, err := decodeRecord(id, []byte(rec))
	if err != nil {
		return nil, routeKeys{}, err
	}
	if ev.State != StateDead {
		return nil, routeKeys{}, fmt.Errorf("%w: dead letter %q", ErrNotFound, id)
	}
	return ev, k, nil
}

// DeadLetter implements Admin.
func (r *Redis) DeadLetter(ctx context.Context, id string) (*Event, error) {
	ev, _, err := r.deadRecord(ctx, id)
	return ev, err
}

// Replay implements Admin.
func (r *Redis) Replay(ctx context.Context, id string) error {
	ev, k, err := r.deadRecord(ctx, id)
	if err != nil {
		return err
	}
	now := r.now().UTC()
	code, err := replayScript.Run(ctx, r.client,
		[]string{k.events, k.dead, r.prefix + "deadidx", k.stream, k.pendingz, r.prefix + "pending"},
		id, encodeRecord(nil, replayed(ev, now)), ms(ev.EnqueuedAt), r.maxEvents).Int()
	switch {
	case err != nil:
		return r.unavailable(err)
	case code == 0:
		return fmt.Errorf("%w: dead letter %q", ErrNotFound, id)
	case code == 2:
		return fmt.Errorf("%w: %d events not yet delivered", ErrFull, r.maxEvents)
	}
	return nil
}

// ReplayAll implements Admin.
func (r *Redis) ReplayAll(ctx context.Context, route string) (int, error) {
	if err := r.check(); err != nil {
		return 0, err
	}
	k := r.keys(route)
	total := 0
	for {
		ids, err := r.client.ZRange(ctx, k.dead, 0, sweepChunk-1).Result()
		if err != nil {
			return total, r.unavailable(err)
		}
		for _, id := range ids {
			err := r.Replay(ctx, id)
			switch {
			case errors.Is(err, ErrNotFound):
			case err != nil:
				return total, err
			default:
				total++
			}
		}
		if len(ids) < sweepChunk {
			return total, nil
		}
	}
}

// Drop implements Admin.
func (r *Redis) Drop(ctx context.Context, id string) error {
	ev, k, err := r.deadRecord(ctx, id)
	if err != nil {
		return err
	}
	return r.drop(ctx, k, ev)
}

func (r *Redis) drop(ctx context.Context, k routeKeys, ev *Event) error {
	code, err := dropScript.Run(ctx, r.client, []string{k.events, k.dead, r.prefix + "deadidx", k.mark + ev.DedupeKey}, ev.ID).Int()
	if err != nil {
		return r.unavailable(err)
	}
	if code != 1 {
		return fmt.Errorf("%w: dead letter %q", ErrNotFound, ev.ID)
	}
	return nil
}

// Sweep implements Store. Delivered dedupe marks expire on the server.
func (r *Redis) Sweep(ctx context.Context) error {
	if err := r.check(); err != nil {
		return err
	}
	routes, err := r.routes(ctx)
	if err != nil {
		return err
	}
	cutoff := strconv.FormatInt(ms(r.now().Add(-r.deadMaxAge)), 10)
	for _, route := range routes {
		k := r.keys(route)
		for {
			ids, err := r.client.ZRangeByScore(ctx, k.dead, &redis.ZRangeBy{Min: "-inf", Max: cutoff, Count: sweepChunk}).Result()
			if err != nil {
				return r.unavailable(err)
			}
			for _, id := range ids {
				ev, _, err := r.deadRecord(ctx, id)
				if errors.Is(err, ErrNotFound) {
					// No record or index: remove the stray entry.
					if err := r.client.ZRem(ctx, k.dead, id).Err(); err != nil {
						return r.unavailable(err)
					}
					continue
				}
				if err != nil {
					return err
				}
				if err := r.drop(ctx, k, ev); err != nil && !errors.Is(err, ErrNotFound) {
					return err
				}
			}
			if len(ids) < sweepChunk {
				break
			}
		}
	}
	return nil
}
