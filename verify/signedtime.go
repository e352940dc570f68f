package verify

import (
	"errors"
	"time"
)

// Signed times (a header's or query's Unix time, a body's timestamp) come
// from the sender and may be anything an int64 holds: milliseconds where
// seconds are expected, 18 digits, the year 2400, negative. They are
// converted only inside a range no sender writes outside of, and compared
// as times, never by subtracting them into a time.Duration (which
// saturates, so that the negation of a far-future difference stayed
// negative and passed any tolerance).
//
// A time outside the range is malformed, whether or not freshness is
// checked: ErrMalformedSignature for a header or query time (it is part of
// the signature's metadata), ErrMalformedBody for a time inside the body
// (the body's signature already checked out).

// The range of signed times accepted, inclusive, as Unix seconds:
// 2000-01-01T00:00:00Z to 2200-01-01T00:00:00Z.
const (
	minSignedUnix = 946684800
	maxSignedUnix = 7258118400
)

var errTimeRange = errors.New("time outside 2000-01-01 to 2200-01-01")

// signedTime converts n, a count of unit (time.Second or time.Millisecond)
// since the Unix epoch, to a UTC time. It fails for n outside the range
// above, before any arithmetic on it: the bounds are compared in n's own
// unit.
func signedTime(n int64, unit time.Duration) (time.Time, error) {
	switch unit {
	case time.Second:
		if n < minSignedUnix || n > maxSignedUnix {
			return time.Time{}, errTimeRange
		}
		return time.Unix(n, 0).UTC(), nil
	case time.Millisecond:
		if n < minSignedUnix*1000 || n > maxSignedUnix*1000 {
			return time.Time{}, errTimeRange
		}
		return time.UnixMilli(n).UTC(), nil
	}
	panic("verify: signedTime: unit must be time.Second or time.Millisecond")
}

// within reports whether t lies within tol of now, in either direction,
// bounds included. It compares times (seconds, then nanoseconds), so no
// difference of t and now is ever computed; tol must not be negative.
func within(t, now time.Time, tol time.Duration) bool {
	return !t.Before(now.Add(-tol)) && !t.After(now.Add(tol))
}
