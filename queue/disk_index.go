package queue

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// txn reads and writes the Disk store's buckets within one transaction,
// keeping the indexes and counts in step with the records.
type txn struct {
	tx *bolt.Tx
}

func idKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

func keyID(k []byte) string { return strconv.FormatUint(binary.BigEndian.Uint64(k), 10) }

// parseID turns an Event.ID into its key; false for what no Disk issued.
func parseID(id string) ([]byte, bool) {
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil || n == 0 || strconv.FormatUint(n, 10) != id {
		return nil, false
	}
	return idKey(n), true
}

func timeKey(t time.Time, id []byte) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(id)), uint64(t.UnixNano()))
	return append(k, id...)
}

func keyTime(k []byte) time.Time { return time.Unix(0, int64(binary.BigEndian.Uint64(k))).UTC() }

func markKey(route, dedupeKey string) []byte {
	k := make([]byte, 0, len(route)+1+len(dedupeKey))
	k = append(k, route...)
	k = append(k, 0)
	return append(k, dedupeKey...)
}

func queuedMark(id []byte) []byte { return append([]byte{'q'}, id...) }

func deliveredMark(exp time.Time) []byte {
	return binary.BigEndian.AppendUint64([]byte{'d'}, uint64(exp.UnixNano()))
}

// sub returns the route's bucket under top, creating it when create is set;
// nil if it does not exist.
func (t txn) sub(top []byte, route string, create bool) (*bolt.Bucket, error) {
	b := t.tx.Bucket(top)
	if create {
		return b.CreateBucketIfNotExists([]byte(route))
	}
	return b.Bucket([]byte(route)), nil
}

// get reads the record at id.
func (t txn) get(id []byte) (*Event, error) {
	v := t.tx.Bucket(bEvents).Get(id)
	if v == nil {
		return nil, ErrNotFound
	}
	return decodeRecord(keyID(id), v)
}

// counts are a route's figures as kept in the counts bucket.
type counts [4]uint64 // available, running, retrying, dead

func (t txn) counts(route string) counts {
	var c counts
	v := t.tx.Bucket(bCounts).Get([]byte(route))
	if len(v) == 32 {
		for i := range c {
			c[i] = binary.BigEndian.Uint64(v[8*i:])
		}
	}
	return c
}

func (t txn) addCount(route string, s State, delta int) error {
	c := t.counts(route)
	c[s-StateAvailable] += uint64(delta)
	v := make([]byte, 0, 32)
	for _, n := range c {
		v = binary.BigEndian.AppendUint64(v, n)
	}
	return t.tx.Bucket(bCounts).Put([]byte(route), v)
}

// pendingTotal counts the events of every route that are not yet delivered
// nor dead.
func (t txn) pendingTotal() int {
	var n uint64
	_ = t.tx.Bucket(bCounts).ForEach(func(k, _ []byte) error {
		c := t.counts(string(k))
		n += c[0] + c[1] + c[2]
		return nil
	})
	return int(n)
}

// dueAt is when a record is due for Take: a running one when its lease ends.
func dueAt(ev *Event) time.Time {
	if ev.State == StateRunning {
		return ev.LeaseUntil
	}
	return ev.NextAttempt
}

// index adds ev's index entries and counts it.
func (t txn) index(id []byte, ev *Event) error {
	switch ev.State {
	case StateAvailable, StateRetrying, StateRunning:
		due, err := t.sub(bDue, ev.Route, true)
		if err != nil {
			return err
		}
		if err := due.Put(timeKey(dueAt(ev), id), nil); err != nil {
			return err
		}
		pending, err := t.sub(bPending, ev.Route, true)
		if err != nil {
			return err
		}
		if err := pending.Put(id, nil); err != nil {
			return err
		}
		if ev.State == StateRunning {
			if err := t.tx.Bucket(bLeased).Put(id, nil); err != nil {
				return err
			}
		}
	case StateDead:
		dead, err := t.sub(bDead, ev.Route, true)
		if err != nil {
			return err
		}
		if err := dead.Put(timeKey(ev.DeadAt, id), nil); err != nil {
			return err
		}
	}
	return t.addCount(ev.Route, ev.State, 1)
}

// unindex removes ev's index entries and uncounts it.
func (t txn) unindex(id []byte, ev *Event) error {
	switch ev.State {
	case StateAvailable, StateRetrying, StateRunning:
		if due, _ := t.sub(bDue, ev.Route, false); due != nil {
			if err := due.Delete(timeKey(dueAt(ev), id)); err != nil {
				return err
			}
		}
		if pending, _ := t.sub(bPending, ev.Route, false); pending != nil {
			if err := pending.Delete(id); err != nil {
				return err
			}
		}
		if ev.State == StateRunning {
			if err := t.tx.Bucket(bLeased).Delete(id); err != nil {
				return err
			}
		}
	case StateDead:
		if dead, _ := t.sub(bDead, ev.Route, false); dead != nil {
			if err := dead.Delete(timeKey(ev.DeadAt, id)); err != nil {
				return err
			}
		}
	}
	return t.addCount(ev.Route, ev.State, -1)
}

// insert stores a new record.
func (t txn) insert(id []byte, ev *Event) error {
	if err := t.index(id, ev); err != nil {
		return err
	}
	return t.tx.Bucket(bEvents).Put(id, encodeRecord(nil, ev))
}

// replace stores ev over old.
func (t txn) replace(id []byte, old, ev *Event) error {
	if err := t.unindex(id, old); err != nil {
		return err
	}
	return t.insert(id, ev)
}

// remove deletes the record.
func (t txn) remove(id []byte, old *Event) error {
	if err := t.unindex(id, old); err != nil {
		return err
	}
	return t.tx.Bucket(bEvents).Delete(id)
}

// freeMark deletes the dedupe mark of ev if it still names ev.
func (t txn) freeMark(id []byte, ev *Event) error {
	marks := t.tx.Bucket(bMarks)
	mk := markKey(ev.Route, ev.DedupeKey)
	if bytes.Equal(marks.Get(mk), queuedMark(id)) {
		return marks.Delete(mk)
	}
	return nil
}

// markDelivered replaces the queued mark of ev by a delivered one until exp.
func (t txn) markDelivered(id []byte, ev *Event, exp time.Time) error {
	marks := t.tx.Bucket(bMarks)
	mk := markKey(ev.Route, ev.DedupeKey)
	if v := marks.Get(mk); v != nil && !bytes.Equal(v, queuedMark(id)) {
		return nil // the key was freed and taken again meanwhile
	}
	if err := marks.Put(mk, deliveredMark(exp)); err != nil {
		return err
	}
	return t.tx.Bucket(bMarkExp).Put(timeKey(exp, mk), nil)
}
