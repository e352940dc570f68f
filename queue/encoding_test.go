package queue

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func fullEvent() *Event {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	ev := newEvent("/hooks", "livekit:evt_1")
	ev.ID = "42"
	ev.EnqueuedAt = at
	ev.State = StateDead
	ev.NextAttempt = at.Add(time.Second)
	ev.Attempts = 2
	ev.TotalAttempts = 5
	ev.History = []Attempt{
		{At: at, Error: "dial tcp: connection refused", Duration: time.Millisecond},
		{At: at.Add(time.Minute), Status: 422, Duration: 3 * time.Millisecond},
	}
	ev.ReplayedAt = at.Add(time.Hour)
	ev.DeadAt = at.Add(2 * time.Hour)
	ev.Answer = &Answer{Status: 422, ContentType: "application/json", Body: []byte(`{"error":"bad"}`)}
	ev.LeaseUntil = at.Add(3 * time.Hour)
	ev.Lease = "1234"
	return ev
}

func TestRecordRoundTrip(t *testing.T) {
	for name, ev := range map[string]*Event{
		"full":    fullEvent(),
		"minimal": {ID: "1", Route: "/a", DedupeKey: "k", State: StateAvailable},
	} {
		t.Run(name, func(t *testing.T) {
			b := encodeRecord(nil, ev)
			got, err := decodeRecord(ev.ID, b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, ev) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, ev)
			}
		})
	}
}

func TestRecordCorrupt(t *testing.T) {
	good := encodeRecord(nil, fullEvent())
	tests := map[string][]byte{
		"empty":        nil,
		"not a record": []byte("{}"),
		"new version":  append([]byte{recordMagic, recordVersion + 1}, good[2:]...),
		"cut short":    good[:len(good)-3],
		"trailing":     append(append([]byte(nil), good...), 0),
		"huge length":  {recordMagic, recordVersion, 0xff, 0xff, 0xff, 0xff, 0x0f},
	}
	for i := 2; i < len(good); i += len(good) / 7 {
		tests["cut at "+string(rune('0'+i%10))+"."+string(rune('a'+i%26))] = good[:i]
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeRecord("1", b); !errors.Is(err, ErrCorrupt) {
				t.Errorf("decodeRecord: %v, want ErrCorrupt", err)
			}
		})
	}
}

// FuzzDecodeRecord: any bytes give an event or an error, never a panic; an
// event decoded from them encodes to bytes that decode to the same event.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(nil, fullEvent()))
	f.Add(encodeRecord(nil, &Event{Route: "/a", DedupeKey: "k", State: StateAvailable}))
	f.Add([]byte{recordMagic, recordVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := decodeRecord("7", b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again, err := decodeRecord("7", encodeRecord(nil, ev))
		if err != nil {
			t.Fatalf("re-encoded record: %v", err)
		}
		if !reflect.DeepEqual(again, ev) {
			t.Fatalf("re-encoded record differs:\n got %+v\nwant %+v", again, ev)
		}
	})
}
