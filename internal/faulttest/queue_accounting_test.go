package faulttest

import (
	"reflect"
	"testing"
	"time"
)

// TestTallyQueue checks the queue accounting on made-up histories: each
// violation it must catch, and each allowed redelivery it must count but
// not flag.
func TestTallyQueue(t *testing.T) {
	t0 := time.Unix(1795344706, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	stored := func(from, to int) attempt { return attempt{start: at(from), end: at(to), status: 200, queueID: "7"} }
	got := func(id string, n, ms int, kind string, status int) delivery {
		return delivery{id: id, n: n, kind: kind, status: status, recv: at(ms), answered: at(ms + 10)}
	}
	ok := func(id string) *eventLog { return &eventLog{id: id, final: "2xx", attempts: []attempt{stored(0, 5)}} }

	tests := []struct {
		name     string
		events   []*eventLog
		got      []delivery
		faults   [][2]time.Time
		kills    []time.Time
		restarts [][2]time.Time
		hg       map[string]hgAttempts
		want     qsummary
		problems bool
	}{
		{
			name:   "stored, then delivered",
			events: []*eventLog{ok("a")},
			got:    []delivery{got("a", 0, 100, answerAck, 200)},
			want:   qsummary{events: 1, acked: 1, delivered: 1},
		},
		{
			name:   "stored, never delivered",
			events: []*eventLog{ok("a")},
			want:   qsummary{events: 1, acked: 1, lost: 1}, problems: true,
		},
		{
			name:   "delivered after a 500 and a late 200",
			events: []*eventLog{ok("a")},
			got:    []delivery{got("a", 0, 100, answerFail, 500), got("a", 1, 200, answerLate, 200), got("a", 2, 2000, answerAck, 200)},
			want:   qsummary{events: 1, acked: 1, delivered: 1, appRetries: 2, late200: 1},
		},
		{
			name:   "delivered twice, no crash",
			events: []*eventLog{ok("a")},
			got:    []delivery{got("a", 0, 100, answerAck, 200), got("a", 1, 5000, answerAck, 200)},
			want:   qsummary{events: 1, acked: 1, delivered: 1, dupOther: 1}, problems: true,
		},
		{
			name:   "delivered twice, killed right after the app's 2xx",
			events: []*eventLog{ok("a")},
			got:    []delivery{got("a", 0, 100, answerAck, 200), got("a", 1, 5000, answerAck, 200)},
			kills:  []time.Time{at(111)},
			want:   qsummary{events: 1, acked: 1, delivered: 1, kills: 1, dupCrash: 1},
		},
		{
			name:   "delivered twice, killed long after the app's 2xx",
			events: []*eventLog{ok("a")},
			got:    []delivery{got("a", 0, 100, answerAck, 200), got("a", 1, 5000, answerAck, 200)},
			kills:  []time.Time{at(4000)},
			want:   qsummary{events: 1, acked: 1, delivered: 1, kills: 1, dupOther: 1}, problems: true,
		},
		{
			name:   "delivered twice, killed just before the app read the request",
			events: []*eventLog{ok("a")},
			got:    []delivery{got("a", 0, 100, answerAck, 200), got("a", 1, 5000, answerAck, 200)},
			kills:  []time.Time{at(95)},
			want:   qsummary{events: 1, acked: 1, delivered: 1, kills: 1, dupCrash: 1},
		},
		{
			name:   "delivered twice, hookguard timed out on the first",
			events: []*eventLog{ok("a")},
			got:    []delivery{got("a", 0, 100, answerAck, 200), got("a", 1, 5000, answerAck, 200)},
			hg:     map[string]hgAttempts{"a": {unanswered: 1}},
			want:   qsummary{events: 1, acked: 1, delivered: 1, dupUnacked: 1},
		},
		{
			name:     "delivered twice, lease lost while a replica restarted",
			events:   []*eventLog{ok("a")},
			got:      []delivery{got("a", 0, 100, answerAck, 200), got("a", 1, 5000, answerAck, 200)},
			restarts: [][2]time.Time{{at(50), at(150)}},
			hg:       map[string]hgAttempts{"a": {leaseLost: 1}},
			want:     qsummary{events: 1, acked: 1, delivered: 1, dupResume: 1},
		},
		{
			name:     "delivered twice while a replica restarted, no lease lost",
			events:   []*eventLog{ok("a")},
			got:      []delivery{got("a", 0, 100, answerAck, 200), got("a", 1, 5000, answerAck, 200)},
			restarts: [][2]time.Time{{at(50), at(150)}},
			want:     qsummary{events: 1, acked: 1, delivered: 1, dupOther: 1}, problems: true,
		},
		{
			name:   "a forged event reaches the app",
			events: []*eventLog{ok("a")},
			got:    []delivery{got("a", 0, 100, answerAck, 200), got("FORGED_1", 0, 100, answerAck, 200)},
			want:   qsummary{events: 1, acked: 1, delivered: 1, forgedQueued: 1}, problems: true,
		},
		{
			name: "503 while the disk is full, then gave up",
			events: []*eventLog{{id: "a", final: "gave_up", attempts: []attempt{{start: at(0), end: at(5), status: 503},
				{start: at(10), end: at(15), status: 503}}}},
			faults: [][2]time.Time{{at(0), at(20)}},
			want:   qsummary{events: 1, refused503: 2, gaveUp: 1},
		},
		{
			name:   "503 with no fault injected",
			events: []*eventLog{{id: "a", final: "2xx", attempts: []attempt{{start: at(0), end: at(5), status: 503}, stored(10, 15)}}},
			got:    []delivery{got("a", 0, 100, answerAck, 200)},
			want:   qsummary{events: 1, acked: 1, refused503: 1, delivered: 1, lost: 1}, problems: true,
		},
		{
			name:   "a duplicate answer counts as told 2xx",
			events: []*eventLog{{id: "a", final: "2xx", attempts: []attempt{{start: at(0), end: at(5), err: "EOF"}, {start: at(10), end: at(15), status: 200}}}},
			got:    []delivery{got("a", 0, 100, answerAck, 200)},
			faults: [][2]time.Time{{at(1), at(8)}},
			want:   qsummary{events: 1, acked: 1, dupAnswers: 1, senderErrs: 1, delivered: 1},
		},
		{
			name:   "valid event refused with 401",
			events: []*eventLog{{id: "a", final: "4xx", attempts: []attempt{{start: at(0), end: at(5), status: 401}}}},
			want:   qsummary{events: 1, lost: 1}, problems: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events := map[string]*eventLog{}
			for _, e := range tt.events {
				events[e.id] = e
			}
			got, problems := tallyQueue("", events, tt.got, tt.faults, tt.kills, tt.restarts, tt.hg)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("summary\n got %+v\nwant %+v", got, tt.want)
			}
			if (len(problems) > 0) != tt.problems {
				t.Errorf("problems %q, want any: %v", problems, tt.problems)
			}
		})
	}
}
