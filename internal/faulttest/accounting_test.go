package faulttest

import (
	"reflect"
	"testing"
	"time"
)

// TestTally checks the accounting itself on made-up histories: each
// violation it must catch, and each allowed redelivery it must count but
// not flag.
func TestTally(t *testing.T) {
	t0 := time.Unix(1795344706, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	try := func(from, to, status int) attempt { return attempt{start: at(from), end: at(to), status: status} }
	got := func(id string, n, ms int, kind string, status int) delivery {
		return delivery{id: id, n: n, kind: kind, status: status, recv: at(ms), answered: at(ms + 1)}
	}
	one := []epoch{{start: at(0), end: at(100000)}}
	two := []epoch{{start: at(0), end: at(5000)}, {start: at(5000), end: at(100000)}}

	tests := []struct {
		name     string
		events   []*eventLog
		got      []delivery
		refusals [][2]time.Time
		downs    [][2]time.Time
		epochs   []epoch
		want     summary
		problems bool
	}{
		{
			name:   "delivered once",
			events: []*eventLog{{id: "a", final: "2xx", attempts: []attempt{try(0, 10, 200)}}},
			got:    []delivery{got("a", 0, 5, answerAck, 200)},
			epochs: one,
			want:   summary{events: 1, delivered: 1},
		},
		{
			name:   "sender told 2xx, app never received",
			events: []*eventLog{{id: "a", final: "2xx", attempts: []attempt{try(0, 10, 200)}}},
			epochs: one, want: summary{events: 1, lost: 1}, problems: true,
		},
		{
			name:   "delivered again after an ack, same process",
			events: []*eventLog{{id: "a", final: "2xx", attempts: []attempt{try(0, 10, 200)}}},
			got:    []delivery{got("a", 0, 5, answerAck, 200), got("a", 1, 25, answerAck, 200)},
			epochs: one, want: summary{events: 1, delivered: 1, dupAfterAck: 1}, problems: true,
		},
		{
			name:   "delivered again after an ack hookguard said it did not get",
			events: []*eventLog{{id: "a", final: "2xx", attempts: []attempt{try(0, 10, 502), try(20, 30, 200)}}},
			got:    []delivery{got("a", 0, 5, answerAck, 200), got("a", 1, 25, answerAck, 200)},
			epochs: one, want: summary{events: 1, delivered: 1, retried: 1, redeliveredUnacked: 1, lost: 1}, problems: true,
		},
		{
			name:   "late 2xx then redelivered",
			events: []*eventLog{{id: "a", final: "2xx", attempts: []attempt{try(0, 1000, 504), try(1010, 1020, 200)}}},
			got:    []delivery{got("a", 0, 5, answerLate, 200), got("a", 1, 1015, answerAck, 200)},
			epochs: one, want: summary{events: 1, delivered: 1, retried: 1, redeliveredUnacked: 1},
		},
		{
			name:   "5xx then retried",
			events: []*eventLog{{id: "a", final: "2xx", attempts: []attempt{try(0, 10, 503), try(20, 30, 200)}}},
			got:    []delivery{got("a", 0, 5, answerFail, 503), got("a", 1, 25, answerAck, 200)},
			epochs: one, want: summary{events: 1, delivered: 1, retried: 1, retriedAfterRefusal: 1},
		},
		{
			name:   "ack lost with a crashed process, redelivered by the next",
			events: []*eventLog{{id: "a", final: "2xx", attempts: []attempt{{start: at(4900), end: at(5001), err: "reset"}, try(5200, 5300, 200)}}},
			got:    []delivery{got("a", 0, 4950, answerAck, 200), got("a", 1, 5250, answerAck, 200)},
			downs:  [][2]time.Time{{at(5000), at(5100)}},
			epochs: two, want: summary{events: 1, delivered: 1, retried: 1, redeliveredRestart: 1},
		},
		{
			name: "redelivered by the next process although the sender was told 2xx",
			events: []*eventLog{{id: "a", final: "2xx", attempts: []attempt{try(4900, 4960, 200)}},
				{id: "b", final: "2xx", attempts: []attempt{try(5200, 5300, 200)}}},
			got:    []delivery{got("a", 0, 4950, answerAck, 200), got("a", 1, 5250, answerAck, 200), got("b", 0, 5250, answerAck, 200)},
			epochs: two, want: summary{events: 2, delivered: 2, dupAfterAck: 1}, problems: true,
		},
		{
			name:   "failure nothing explains",
			events: []*eventLog{{id: "a", final: "2xx", attempts: []attempt{try(0, 10, 502), try(20, 30, 200)}}},
			got:    []delivery{got("a", 0, 25, answerAck, 200)},
			epochs: one, want: summary{events: 1, delivered: 1, retried: 1, lost: 1}, problems: true,
		},
		{
			name:     "failure during a refusal window",
			events:   []*eventLog{{id: "a", final: "2xx", attempts: []attempt{{start: at(0), end: at(3), err: "refused"}, try(20, 30, 200)}}},
			got:      []delivery{got("a", 0, 25, answerAck, 200)},
			refusals: [][2]time.Time{{at(1), at(10)}},
			epochs:   one, want: summary{events: 1, delivered: 1, retried: 1},
		},
		{
			name:   "valid event refused with 4xx",
			events: []*eventLog{{id: "a", final: "4xx", attempts: []attempt{try(0, 10, 401)}}},
			epochs: one, want: summary{events: 1, lost: 1}, problems: true,
		},
		{
			name: "sender gave up, every failure injected",
			events: []*eventLog{{id: "a", final: "gave_up", attempts: []attempt{try(0, 10, 500), try(20, 30, 500), try(40, 50, 500),
				try(60, 70, 500), try(80, 90, 500)}}},
			got: []delivery{got("a", 0, 5, answerFail, 500), got("a", 1, 25, answerFail, 500), got("a", 2, 45, answerFail, 500),
				got("a", 3, 65, answerFail, 500), got("a", 4, 85, answerFail, 500)},
			epochs: one, want: summary{events: 1, retried: 4, retriedAfterRefusal: 4, gaveUp: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events := map[string]*eventLog{}
			for _, e := range tt.events {
				events[e.id] = e
			}
			got, problems := tally("", events, tt.got, tt.refusals, tt.downs, tt.epochs)
			got.notes = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("summary\n got %+v\nwant %+v", got, tt.want)
			}
			if (len(problems) > 0) != tt.problems {
				t.Errorf("problems %q, want any: %v", problems, tt.problems)
			}
		})
	}
}
