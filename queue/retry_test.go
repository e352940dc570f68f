package queue

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"
)

func TestOutcomeClass(t *testing.T) {
	tests := []struct {
		out                  Outcome
		delivered, retryable bool
	}{
		{Outcome{Status: 200}, true, false},
		{Outcome{Status: 204}, true, false},
		{Outcome{Err: errors.New("connection refused")}, false, true},
		{Outcome{}, false, true},
		{Outcome{Status: 408}, false, true},
		{Outcome{Status: 429}, false, true},
		{Outcome{Status: 500}, false, true},
		{Outcome{Status: 503}, false, true},
		{Outcome{Status: 400}, false, false},
		{Outcome{Status: 404}, false, false},
		{Outcome{Status: 422}, false, false},
		{Outcome{Status: 302}, false, false},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.out.Status), func(t *testing.T) {
			if got := tt.out.Delivered(); got != tt.delivered {
				t.Errorf("Delivered() = %v", got)
			}
			if got := tt.out.Retryable(); got != tt.retryable {
				t.Errorf("Retryable() = %v", got)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name  string
		value string
		want  time.Duration
		ok    bool
	}{
		{"seconds", "120", 2 * time.Minute, true},
		{"zero", "0", 0, true},
		{"spaces", " 7 ", 7 * time.Second, true},
		{"date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"past date", now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"empty", "", 0, false},
		{"negative", "-1", 0, false},
		{"garbage", "soon", 0, false},
		{"huge", "99999999999999", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseRetryAfter(tt.value, now)
			if got != tt.want || ok != tt.ok {
				t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.value, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// failedEvent is an event enqueued at start that has had attempts failed
// attempts, as NextRetry sees it.
func failedEvent(start time.Time, attempts int) *Event {
	return &Event{EnqueuedAt: start, Attempts: attempts, TotalAttempts: attempts}
}

func TestBackoffJitterBounds(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b := &Backoff{InitialBackoff: time.Second, MaxBackoff: time.Minute, MaxAttempts: 100, MaxAge: 1000 * time.Hour, Now: func() time.Time { return now }}
	ceilings := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute, time.Minute}
	for i, ceiling := range ceilings {
		attempts := i + 1
		// The extremes of the random source give the bounds: [0, ceiling).
		b.Rand = func(n int64) int64 {
			if n != int64(ceiling) {
				t.Errorf("attempt %d: jitter drawn from [0, %v), want [0, %v)", attempts, time.Duration(n), ceiling)
			}
			return 0
		}
		if next, ok := b.NextRetry(failedEvent(now, attempts), Outcome{Status: 503}); !ok || !next.Equal(now) {
			t.Errorf("attempt %d with the smallest draw: %v, %v; want now", attempts, next, ok)
		}
		b.Rand = func(n int64) int64 { return n - 1 }
		if next, ok := b.NextRetry(failedEvent(now, attempts), Outcome{Status: 503}); !ok || next.Sub(now) != ceiling-1 {
			t.Errorf("attempt %d with the largest draw: wait %v, want %v", attempts, next.Sub(now), ceiling-1)
		}
	}
	// The default source stays within the bounds and spreads over them.
	b.Rand = rand.New(rand.NewPCG(1, 2)).Int64N
	var low, high int
	for range 1000 {
		next, _ := b.NextRetry(failedEvent(now, 3), Outcome{})
		w := next.Sub(now)
		if w < 0 || w >= 4*time.Second {
			t.Fatalf("wait %v out of [0, 4s)", w)
		}
		if w < time.Second {
			low++
		}
		if w >= 3*time.Second {
			high++
		}
	}
	if low < 150 || high < 150 {
		t.Errorf("waits not spread: %d under 1s, %d over 3s of 1000", low, high)
	}
}

func TestBackoffRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b := &Backoff{InitialBackoff: time.Second, MaxBackoff: time.Minute, Now: func() time.Time { return now }, Rand: func(n int64) int64 { return n / 2 }}
	tests := []struct {
		name       string
		retryAfter time.Duration
		want       time.Duration
	}{
		{"none", 0, 500 * time.Millisecond},
		{"shorter than the backoff", 100 * time.Millisecond, 500 * time.Millisecond},
		{"longer", 30 * time.Second, 30 * time.Second},
		{"capped by MaxBackoff", time.Hour, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, ok := b.NextRetry(failedEvent(now, 1), Outcome{Status: 429, RetryAfter: tt.retryAfter})
			if !ok || next.Sub(now) != tt.want {
				t.Errorf("wait %v, %v; want %v", next.Sub(now), ok, tt.want)
			}
		})
	}
}

func TestBackoffGivesUp(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := start
	b := &Backoff{MaxAttempts: 3, MaxAge: time.Hour, InitialBackoff: 10 * time.Minute, MaxBackoff: 40 * time.Minute,
		Now: func() time.Time { return now }, Rand: func(n int64) int64 { return n - 1 }}

	if _, ok := b.NextRetry(failedEvent(start, 2), Outcome{}); !ok {
		t.Error("gave up after 2 of 3 attempts")
	}
	if _, ok := b.NextRetry(failedEvent(start, 3), Outcome{}); ok {
		t.Error("retries after MaxAttempts")
	}
	// The last retry is moved forward to the deadline, not past it.
	now = start.Add(50 * time.Minute)
	if next, ok := b.NextRetry(failedEvent(start, 2), Outcome{}); !ok || !next.Equal(start.Add(time.Hour)) {
		t.Errorf("near MaxAge: %v, %v; want the deadline", next, ok)
	}
	now = start.Add(time.Hour)
	if _, ok := b.NextRetry(failedEvent(start, 1), Outcome{}); ok {
		t.Error("retries at MaxAge")
	}
	// A replayed event's age counts from its replay.
	ev := failedEvent(start, 1)
	ev.ReplayedAt = now.Add(-time.Minute)
	if _, ok := b.NextRetry(ev, Outcome{}); !ok {
		t.Error("a replayed event is too old at once")
	}
}

func TestBackoffDefaults(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b := &Backoff{Now: func() time.Time { return now }, Rand: func(n int64) int64 { return n - 1 }}
	if next, _ := b.NextRetry(failedEvent(now, 1), Outcome{}); next.Sub(now) != DefaultInitialBackoff-1 {
		t.Errorf("first wait %v, want just under %v", next.Sub(now), DefaultInitialBackoff)
	}
	if next, _ := b.NextRetry(failedEvent(now, 20), Outcome{}); next.Sub(now) != DefaultMaxBackoff-1 {
		t.Errorf("20th wait %v, want just under %v", next.Sub(now), DefaultMaxBackoff)
	}
	if _, ok := b.NextRetry(failedEvent(now, DefaultMaxAttempts), Outcome{}); ok {
		t.Errorf("retries after %d attempts", DefaultMaxAttempts)
	}
	if _, ok := b.NextRetry(failedEvent(now.Add(-DefaultMaxAge), 1), Outcome{}); ok {
		t.Errorf("retries after %v", DefaultMaxAge)
	}
	for name, bad := range map[string]Backoff{
		"MaxAttempts":    {MaxAttempts: -1},
		"MaxAge":         {MaxAge: -1},
		"InitialBackoff": {InitialBackoff: time.Hour, MaxBackoff: time.Minute},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("Validate accepted a bad %s", name)
		}
	}
}
