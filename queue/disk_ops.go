package queue

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// sweepChunk bounds the deletions of one Sweep or ReplayAll transaction.
const sweepChunk = 1000

// Enqueue implements Enqueuer. It returns once the event and its dedupe mark
// are committed to the file and fsync'd.
func (d *Disk) Enqueue(ctx context.Context, ev *Event) (Enqueued, error) {
	start := d.now()
	if err := checkEvent(ev); err != nil {
		return Enqueued{}, err
	}
	mk := markKey(ev.Route, ev.DedupeKey)
	var (
		res  Enqueued
		full bool
	)
	fn := func(tx *bolt.Tx) error {
		res, full = Enqueued{}, false
		t := txn{tx: tx}
		now := d.now().UTC()
		marks := tx.Bucket(bMarks)
		if v := marks.Get(mk); len(v) == 9 {
			switch v[0] {
			case 'q':
				res = Enqueued{ID: keyID(v[1:]), Duplicate: true}
				return nil
			case 'd':
				exp := keyTime(v[1:])
				if now.Before(exp) {
					res = Enqueued{Duplicate: true}
					return nil
				}
				// Expired but not yet swept.
				if err := tx.Bucket(bMarkExp).Delete(timeKey(exp, mk)); err != nil {
					return err
				}
			}
		}
		if t.pendingTotal() >= d.maxEvents {
			full = true
			return nil
		}
		seq, err := tx.Bucket(bEvents).NextSequence()
		if err != nil {
			return err
		}
		id := idKey(seq)
		if err := t.insert(id, newRecord(ev, now)); err != nil {
			return err
		}
		if err := marks.Put(mk, queuedMark(id)); err != nil {
			return err
		}
		res = Enqueued{ID: keyID(id)}
		return nil
	}
	var err error
	if d.boltBat {
		err = d.batchUpdate(fn)
	} else {
		err = d.update(ctx, fn)
	}
	switch {
	case err != nil:
		res = Enqueued{}
	case full:
		err = fmt.Errorf("%w: %d events not yet delivered", ErrFull, d.maxEvents)
	case !res.Duplicate:
		d.wake(ev.Route)
	}
	d.observeEnqueue(ev.Route, start, res, err)
	return res, err
}

// Take implements Consumer.
func (d *Disk) Take(ctx context.Context, route string, n int, lease time.Duration) ([]*Event, error) {
	if n <= 0 || lease <= 0 {
		return nil, fmt.Errorf("%w: Take: n and lease must be positive", ErrInvalid)
	}
	// Look first without a write transaction: most polls find nothing due.
	var due bool
	if err := d.view(func(t txn) error {
		b, _ := t.sub(bDue, route, false)
		if b == nil {
			return nil
		}
		k, _ := b.Cursor().First()
		due = k != nil && !keyTime(k).After(d.now())
		return nil
	}); err != nil || !due {
		return nil, err
	}
	var taken []*Event
	err := d.update(ctx, func(tx *bolt.Tx) error {
		taken = taken[:0]
		t := txn{tx: tx}
		b, _ := t.sub(bDue, route, false)
		if b == nil {
			return nil
		}
		now := d.now().UTC()
		var keys [][]byte
		c := b.Cursor()
		for k, _ := c.First(); k != nil && len(keys) < n && !keyTime(k).After(now); k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		token := strconv.FormatUint(uint64(tx.ID()), 10)
		for _, k := range keys {
			id := k[8:]
			old, err := t.get(id)
			if err != nil {
				// Unreadable: take it out of the line so that it does not
				// stop the route; the record stays for inspection.
				d.log.Error("queue: skipping an unreadable event", "route", route, "id", keyID(id), "err", err)
				if err := b.Delete(k); err != nil {
					return err
				}
				continue
			}
			ev := *old
			ev.State = StateRunning
			ev.LeaseUntil = now.Add(lease)
			ev.Lease = token
			if err := t.replace(id, old, &ev); err != nil {
				return err
			}
			taken = append(taken, &ev)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return taken, nil
}

// leased reads the record of ev and checks that ev's lease still holds it.
func (t txn) leased(ev *Event) ([]byte, *Event, error) {
	id, ok := parseID(ev.ID)
	if !ok {
		return nil, nil, fmt.Errorf("%w: event %q", ErrLeaseLost, ev.ID)
	}
	old, err := t.get(id)
	if errors.Is(err, ErrNotFound) || err == nil && (old.State != StateRunning || old.Lease != ev.Lease) {
		return nil, nil, fmt.Errorf("%w: event %s", ErrLeaseLost, ev.ID)
	}
	return id, old, err
}

// settle runs change on the record of a leased ev in the commit loop.
func (d *Disk) settle(ctx context.Context, ev *Event, change func(t txn, id []byte, old *Event, now time.Time) error) error {
	var lost error
	err := d.update(ctx, func(tx *bolt.Tx) error {
		lost = nil
		t := txn{tx: tx}
		id, old, err := t.leased(ev)
		if err != nil {
			lost = err
			return nil
		}
		return change(t, id, old, d.now().UTC())
	})
	if err != nil {
		return err
	}
	return lost
}

// Ack implements Consumer.
func (d *Disk) Ack(ctx context.Context, ev *Event) error {
	return d.settle(ctx, ev, func(t txn, id []byte, old *Event, now time.Time) error {
		if err := t.remove(id, old); err != nil {
			return err
		}
		return t.markDelivered(id, old, now.Add(d.dedupeTTL))
	})
}

// Retry implements Consumer.
func (d *Disk) Retry(ctx context.Context, ev *Event, a Attempt, next time.Time) error {
	return d.settle(ctx, ev, func(t txn, id []byte, old *Event, now time.Time) error {
		n := withAttempt(old, a)
		n.State = StateRetrying
		n.NextAttempt = next.UTC()
		return t.replace(id, old, n)
	})
}

// Dead implements Consumer.
func (d *Disk) Dead(ctx context.Context, ev *Event, a Attempt, ans *Answer) error {
	return d.settle(ctx, ev, func(t txn, id []byte, old *Event, now time.Time) error {
		n := withAttempt(old, a)
		n.State = StateDead
		n.DeadAt = now
		n.Answer = keptAnswer(ans)
		return t.replace(id, old, n)
	})
}

// Stats implements Admin.
func (d *Disk) Stats(ctx context.Context) ([]RouteStats, error) {
	var out []RouteStats
	err := d.view(func(t txn) error {
		return t.tx.Bucket(bCounts).ForEach(func(k, _ []byte) error {
			route := string(k)
			c := t.counts(route)
			s := RouteStats{Route: route, Available: int(c[0]), Running: int(c[1]), Retrying: int(c[2]), Dead: int(c[3])}
			if b, _ := t.sub(bPending, route, false); b != nil {
				if id, _ := b.Cursor().First(); id != nil {
					ev, err := t.get(id)
					if err != nil {
						return err
					}
					s.Oldest = ev.EnqueuedAt
				}
			}
			out = append(out, s)
			return nil
		})
	})
	return out, err
}

// DeadLetters implements Admin.
func (d *Disk) DeadLetters(ctx context.Context, route string, limit int) ([]DeadLetter, error) {
	var out []DeadLetter
	err := d.view(func(t txn) error {
		var routes []string
		if route != "" {
			routes = []string{route}
		} else {
			_ = t.tx.Bucket(bDead).ForEachBucket(func(k []byte) error {
				routes = append(routes, string(k))
				return nil
			})
		}
		for _, r := range routes {
			b, _ := t.sub(bDead, r, false)
			if b == nil {
				continue
			}
			c := b.Cursor()
			for n, k := 0, firstKey(c); k != nil && (limit == 0 || n < limit); n, k = n+1, nextKey(c) {
				ev, err := t.get(k[8:])
				if err != nil {
					return err
				}
				out = append(out, ev.Summary())
			}
		}
		return nil
	})
	sortDeadLetters(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, err
}

// sortDeadLetters orders dead letters oldest first.
func sortDeadLetters(out []DeadLetter) {
	slices.SortStableFunc(out, func(a, b DeadLetter) int { return a.DeadAt.Compare(b.DeadAt) })
}

func firstKey(c *bolt.Cursor) []byte { k, _ := c.First(); return k }
func nextKey(c *bolt.Cursor) []byte  { k, _ := c.Next(); return k }

// DeadLetter implements Admin.
func (d *Disk) DeadLetter(ctx context.Context, id string) (*Event, error) {
	var ev *Event
	err := d.view(func(t txn) error {
		var err error
		ev, err = t.dead(id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ev, nil
}

// dead reads dead letter id.
func (t txn) dead(id string) (*Event, error) {
	k, ok := parseID(id)
	if !ok {
		return nil, fmt.Errorf("%w: dead letter %q", ErrNotFound, id)
	}
	ev, err := t.get(k)
	if errors.Is(err, ErrNotFound) || err == nil && ev.State != StateDead {
		return nil, fmt.Errorf("%w: dead letter %s", ErrNotFound, id)
	}
	return ev, err
}

// Replay implements Admin.
func (d *Disk) Replay(ctx context.Context, id string) error {
	var (
		logical error
		route   string
	)
	err := d.update(ctx, func(tx *bolt.Tx) error {
		logical = nil
		t := txn{tx: tx}
		old, err := t.dead(id)
		if err != nil {
			logical = err
			return nil
		}
		route = old.Route
		if t.pendingTotal() >= d.maxEvents {
			logical = fmt.Errorf("%w: %d events not yet delivered", ErrFull, d.maxEvents)
			return nil
		}
		k, _ := parseID(id)
		return t.replace(k, old, replayed(old, d.now().UTC()))
	})
	if err == nil && logical == nil {
		d.wake(route)
	}
	return cmp.Or(err, logical)
}

// ReplayAll implements Admin.
func (d *Disk) ReplayAll(ctx context.Context, route string) (int, error) {
	total := 0
	for {
		var (
			n    int
			full bool
		)
		err := d.update(ctx, func(tx *bolt.Tx) error {
			n, full = 0, false
			t := txn{tx: tx}
			b, _ := t.sub(bDead, route, false)
			if b == nil {
				return nil
			}
			var keys [][]byte
			c := b.Cursor()
			for k := firstKey(c); k != nil && len(keys) < sweepChunk; k = nextKey(c) {
				keys = append(keys, bytes.Clone(k))
			}
			now := d.now().UTC()
			room := d.maxEvents - t.pendingTotal()
			for _, k := range keys {
				if n >= room {
					full = true
					return nil
				}
				old, err := t.get(k[8:])
				if err != nil {
					return err
				}
				if err := t.replace(k[8:], old, replayed(old, now)); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if n > 0 {
			d.wake(route)
		}
		if full {
			return total, fmt.Errorf("%w: %d events not yet delivered", ErrFull, d.maxEvents)
		}
		if n < sweepChunk {
			return total, nil
		}
	}
}

// Drop implements Admin.
func (d *Disk) Drop(ctx context.Context, id string) error {
	var logical error
	err := d.update(ctx, func(tx *bolt.Tx) error {
		logical = nil
		t := txn{tx: tx}
		old, err := t.dead(id)
		if err != nil {
			logical = err
			return nil
		}
		k, _ := parseID(id)
		if err := t.remove(k, old); err != nil {
			return err
		}
		return t.freeMark(k, old)
	})
	return cmp.Or(err, logical)
}

// Sweep implements Store.
func (d *Disk) Sweep(ctx context.Context) error {
	for {
		var n int
		err := d.update(ctx, func(tx *bolt.Tx) error {
			n = 0
			t := txn{tx: tx}
			now := d.now().UTC()
			cutoff := now.Add(-d.deadMaxAge)
			// Dead letters past their age.
			var routes [][]byte
			_ = tx.Bucket(bDead).ForEachBucket(func(k []byte) error {
				routes = append(routes, bytes.Clone(k))
				return nil
			})
			for _, r := range routes {
				b := tx.Bucket(bDead).Bucket(r)
				var keys [][]byte
				c := b.Cursor()
				for k := firstKey(c); k != nil && n+len(keys) < sweepChunk && !keyTime(k).After(cutoff); k = nextKey(c) {
					keys = append(keys, bytes.Clone(k))
				}
				for _, k := range keys {
					old, err := t.get(k[8:])
					if err != nil {
						if err := b.Delete(k); err != nil {
							return err
						}
						continue
					}
					if err := t.remove(k[8:], old); err != nil {
						return err
					}
					if err := t.freeMark(k[8:], old); err != nil {
						return err
					}
				}
				n += len(keys)
			}
			// Delivered marks past their TTL.
			exp := tx.Bucket(bMarkExp)
			marks := tx.Bucket(bMarks)
			var keys [][]byte
			c := exp.Cursor()
			for k := firstKey(c); k != nil && n+len(keys) < sweepChunk && !keyTime(k).After(now); k = nextKey(c) {
				keys = append(keys, bytes.Clone(k))
			}
			for _, k := range keys {
				mk := k[8:]
				if v := marks.Get(mk); len(v) == 9 && v[0] == 'd' && binary.BigEndian.Uint64(v[1:]) == binary.BigEndian.Uint64(k) {
					if err := marks.Delete(mk); err != nil {
						return err
					}
				}
				if err := exp.Delete(k); err != nil {
					return err
				}
			}
			n += len(keys)
			return nil
		})
		if err != nil || n < sweepChunk {
			return err
		}
	}
}

var (
	_ Store    = (*Disk)(nil)
	_ Notifier = (*Disk)(nil)
	_ Pinger   = (*Disk)(nil)
)
