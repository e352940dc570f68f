package dedupe

// ring is a bounded FIFO of delivered keys with expiry: slots in insertion
// order in a circular buffer that grows by doubling up to max, and an index
// from key to slot. Not safe for concurrent use.
type ring struct {
	max   int
	slots []slot
	head  int // where the next slot is written
	n     int // slots in use, ending just before head
	index map[digest]uint32
}

type slot struct {
	key digest
	exp int64
	rec string // encoded Record; "" when none was kept
}

// minRingSlots is the first allocation of a ring's slots.
const minRingSlots = 64

func newRing(size int) ring {
	return ring{max: size, index: make(map[digest]uint32)}
}

// tail is the position of the oldest slot; r.n must be > 0.
func (r *ring) tail() int {
	return (r.head - r.n + len(r.slots)) % len(r.slots)
}

// get returns the record kept for key, if key is kept and not expired.
func (r *ring) get(key digest, now int64) (string, bool) {
	i, ok := r.index[key]
	if !ok {
		return "", false
	}
	s := &r.slots[i]
	if s.exp <= now {
		return "", false
	}
	return s.rec, true
}

// expire drops the oldest slots while they are expired. With one TTL and a
// clock that does not go back, that is every expired slot; if the clock went
// back, get still refuses a later expired slot until it reaches the tail.
func (r *ring) expire(now int64) {
	for r.n > 0 {
		t := r.tail()
		if r.slots[t].exp > now {
			return
		}
		r.dropTail(t)
	}
}

// dropTail drops the oldest slot, at position t.
func (r *ring) dropTail(t int) {
	s := &r.slots[t]
	// The index may point at a newer slot for the same key (see add).
	if i, ok := r.index[s.key]; ok && int(i) == t {
		delete(r.index, s.key)
	}
	*s = slot{}
	r.n--
}

// add keeps key until exp with rec, dropping the oldest slot if full. It
// returns the expiry of the live key it evicted for room, if any.
func (r *ring) add(key digest, exp int64, rec string) (evictedExp int64, evicted bool) {
	if old, ok := r.index[key]; ok {
		// key is already kept (its slot expired out of order after the
		// clock went back): the old slot stays in place, dead because the
		// index no longer points at it, until it reaches the tail.
		r.slots[old].rec = ""
		delete(r.index, key)
	}
	if r.n == len(r.slots) {
		if len(r.slots) < r.max {
			r.grow()
		} else {
			t := r.tail()
			s := &r.slots[t]
			// A dead slot (its key re-added later) is no eviction.
			if i, ok := r.index[s.key]; ok && int(i) == t {
				evictedExp, evicted = s.exp, true
			}
			r.dropTail(t)
		}
	}
	r.slots[r.head] = slot{key: key, exp: exp, rec: rec}
	r.index[key] = uint32(r.head)
	r.head = (r.head + 1) % len(r.slots)
	r.n++
	return evictedExp, evicted
}

// grow doubles the slots (up to max), moving live slots in order to the
// start of the new buffer and leaving dead ones behind.
func (r *ring) grow() {
	size := min(max(2*len(r.slots), minRingSlots), r.max)
	slots := make([]slot, size)
	n := 0
	if r.n > 0 {
		for i, t := 0, r.tail(); i < r.n; i, t = i+1, (t+1)%len(r.slots) {
			s := r.slots[t]
			// A dead slot is older than the live slot of its key, so the
			// index still holds that live slot's old position here.
			if j, ok := r.index[s.key]; !ok || int(j) != t {
				continue
			}
			slots[n] = s
			r.index[s.key] = uint32(n)
			n++
		}
	}
	r.slots = slots
	r.n = n
	r.head = n % size
}

var (
	_ Store         = (*Memory)(nil)
	_ Waiter        = (*Memory)(nil)
	_ StatsReporter = (*Memory)(nil)
)
