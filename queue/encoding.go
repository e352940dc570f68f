package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// The record encoding is how both stores keep an event: one byte string,
// recordMagic and recordVersion, then the fields of Event in a fixed order
// (ID excepted: it is the record's key). Strings and byte strings are a
// uvarint length and the bytes; integers are varints; a time is its Unix
// nanoseconds as a varint, 0 for the zero time; a header is the number of
// names, then each name with the number of its values and the values, names
// sorted.
const (
	recordMagic   = 'Q'
	recordVersion = 1
)

// encodeRecord appends the record of ev to dst.
func encodeRecord(dst []byte, ev *Event) []byte {
	n := 64 + len(ev.Route) + len(ev.DedupeKey) + len(ev.EventID) + len(ev.Type) +
		len(ev.Provider) + len(ev.Body) + len(ev.RawQuery) + len(ev.Lease) + 32*len(ev.History)
	for k, vs := range ev.Header {
		n += len(k) + 2
		for _, v := range vs {
			n += len(v) + 2
		}
	}
	if ev.Answer != nil {
		n += len(ev.Answer.ContentType) + len(ev.Answer.Body) + 8
	}
	b := slices.Grow(dst, n)
	b = append(b, recordMagic, recordVersion)
	b = appendString(b, ev.Route)
	b = appendString(b, ev.DedupeKey)
	b = appendString(b, ev.EventID)
	b = appendString(b, ev.Type)
	b = appendString(b, ev.Provider)
	b = appendBytes(b, ev.Body)
	names := make([]string, 0, len(ev.Header))
	for k := range ev.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, k := range names {
		b = appendString(b, k)
		vs := ev.Header[k]
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = appendString(b, v)
		}
	}
	b = appendString(b, ev.RawQuery)
	b = appendTime(b, ev.EnqueuedAt)
	b = append(b, byte(ev.State))
	b = appendTime(b, ev.NextAttempt)
	b = binary.AppendVarint(b, int64(ev.Attempts))
	b = binary.AppendVarint(b, int64(ev.TotalAttempts))
	b = binary.AppendUvarint(b, uint64(len(ev.History)))
	for _, a := range ev.History {
		b = appendTime(b, a.At)
		b = binary.AppendVarint(b, int64(a.Status))
		b = appendString(b, a.Error)
		b = binary.AppendVarint(b, int64(a.Duration))
	}
	b = appendTime(b, ev.ReplayedAt)
	b = appendTime(b, ev.DeadAt)
	if ev.Answer == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.AppendVarint(b, int64(ev.Answer.Status))
		b = appendString(b, ev.Answer.ContentType)
		b = appendBytes(b, ev.Answer.Body)
	}
	b = appendTime(b, ev.LeaseUntil)
	b = appendString(b, ev.Lease)
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

// decodeRecord decodes a record made by encodeRecord into an Event with ID
// id. Bytes that encodeRecord cannot have made give an error wrapping
// ErrCorrupt. The Event does not share memory with b.
func decodeRecord(id string, b []byte) (*Event, error) {
	d := decoder{b: b}
	if len(b) < 2 || b[0] != recordMagic {
		return nil, fmt.Errorf("%w: event %s: not a record", ErrCorrupt, id)
	}
	if b[1] != recordVersion {
		return nil, fmt.Errorf("%w: event %s: record version %d, want %d", ErrCorrupt, id, b[1], recordVersion)
	}
	d.b = b[2:]
	ev := &Event{ID: id}
	ev.Route = d.string()
	ev.DedupeKey = d.string()
	ev.EventID = d.string()
	ev.Type = d.string()
	ev.Provider = d.string()
	ev.Body = d.bytes()
	if n := d.count(); n > 0 {
		ev.Header = make(http.Header, n)
		for range n {
			k := d.string()
			var vs []string
			if m := d.count(); m > 0 {
				vs = make([]string, m)
				for j := range vs {
					vs[j] = d.string()
				}
			}
			if _, dup := ev.Header[k]; dup && d.err == nil {
				d.err = errors.New("repeated header name")
			}
			ev.Header[k] = vs
		}
	}
	ev.RawQuery = d.string()
	ev.EnqueuedAt = d.time()
	ev.State = State(d.byte())
	if d.err == nil && ev.State.String() == "invalid" {
		d.err = fmt.Errorf("state %d", ev.State)
	}
	ev.NextAttempt = d.time()
	ev.Attempts = d.int()
	ev.TotalAttempts = d.int()
	if n := d.count(); n > 0 {
		ev.History = make([]Attempt, n)
		for i := range ev.History {
			a := &ev.History[i]
			a.At = d.time()
			a.Status = d.int()
			a.Error = d.string()
			a.Duration = time.Duration(d.varint())
		}
	}
	ev.ReplayedAt = d.time()
	ev.DeadAt = d.time()
	switch d.byte() {
	case 0:
	case 1:
		ev.Answer = &Answer{Status: d.int(), ContentType: d.string(), Body: d.bytes()}
	default:
		if d.err == nil {
			d.err = errors.New("answer flag")
		}
	}
	ev.LeaseUntil = d.time()
	ev.Lease = d.string()
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: event %s: %w", ErrCorrupt, id, d.err)
	}
	return ev, nil
}

// decoder reads a record; the first error sticks and later reads return
// zero values.
type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("record cut short")

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

// int reads a varint that must fit an int32 (statuses, counts).
func (d *decoder) int() int {
	v := d.varint()
	if v < -1<<31 || v > 1<<31-1 {
		if d.err == nil {
			d.err = fmt.Errorf("integer %d out of range", v)
		}
		return 0
	}
	return int(v)
}

// count reads a number of elements, each at least one byte long, so it is
// bounded by what is left: a corrupt count cannot make a huge allocation.
func (d *decoder) count() int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.err = errShort
		return 0
	}
	return int(n)
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.err = errShort
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) raw() []byte {
	n := d.count()
	if d.err != nil {
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) string() string { return string(d.raw()) }

func (d *decoder) bytes() []byte {
	p := d.raw()
	if len(p) == 0 {
		return nil
	}
	return slices.Clone(p)
}

func (d *decoder) time() time.Time {
	n := d.varint()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
