package queue

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDisk(t *testing.T) {
	testStore(t, func(t *testing.T, cfg suiteConfig) *backend {
		clock := newFakeClock()
		path := filepath.Join(t.TempDir(), "queue.db")
		return &backend{clock: clock, open: func(t *testing.T) Store {
			return openTestDisk(t, DiskConfig{
				Path: path, MaxEvents: cfg.MaxEvents, DeadMaxAge: suiteDeadMaxAge,
				DedupeTTL: suiteDedupeTTL, Now: clock.Now,
			})
		}}
	})
}

func openTestDisk(t testing.TB, cfg DiskConfig) *Disk {
	t.Helper()
	d, err := OpenDisk(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
	return d
}

func TestOpenDiskConfig(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		cfg     DiskConfig
		wantErr string
	}{
		{"no path", DiskConfig{}, "DiskConfig.Path"},
		{"negative max events", DiskConfig{Path: filepath.Join(dir, "a"), MaxEvents: -1}, "DiskConfig.MaxEvents"},
		{"negative dead age", DiskConfig{Path: filepath.Join(dir, "b"), DeadMaxAge: -1}, "DiskConfig.DeadMaxAge"},
		{"dedupe ttl under 1ms", DiskConfig{Path: filepath.Join(dir, "c"), DedupeTTL: time.Microsecond}, "DiskConfig.DedupeTTL"},
		{"negative lock timeout", DiskConfig{Path: filepath.Join(dir, "d"), LockTimeout: -1}, "DiskConfig.LockTimeout"},
		{"missing directory", DiskConfig{Path: filepath.Join(dir, "missing", "q.db")}, "queue: open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := OpenDisk(tt.cfg)
			if err == nil {
				d.Close()
				t.Fatal("OpenDisk succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not name %s", err, tt.wantErr)
			}
		})
	}
	d := openTestDisk(t, DiskConfig{Path: filepath.Join(dir, "ok")})
	if d.maxEvents != DefaultMaxEvents || d.deadMaxAge != DefaultDeadMaxAge || d.dedupeTTL != DefaultDedupeTTL || d.maxBatch != DefaultMaxBatch {
		t.Errorf("defaults not applied: %+v", d.limits)
	}
}

// A second opener of the file fails fast with ErrLocked (flock is per open
// file, so this holds within one process as across two).
func TestDiskLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	openTestDisk(t, DiskConfig{Path: path})
	start := time.Now()
	d, err := OpenDisk(DiskConfig{Path: path, LockTimeout: 200 * time.Millisecond})
	if err == nil {
		d.Close()
		t.Fatal("second OpenDisk succeeded")
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Errorf("error %v, want ErrLocked naming the file", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v to fail", took)
	}
}

func TestDiskNotify(t *testing.T) {
	d := openTestDisk(t, DiskConfig{Path: filepath.Join(t.TempDir(), "queue.db")})
	c := d.Notify("/a")
	other := d.Notify("/b")
	enqueue(t, d, newEvent("/a", "k"))
	select {
	case <-c:
	case <-time.After(5 * time.Second):
		t.Fatal("Notify channel not closed by Enqueue")
	}
	select {
	case <-other:
		t.Error("another route was notified")
	default:
	}
	if d.Notify("/a") == c {
		t.Error("Notify returned the closed channel again")
	}
}

// Concurrent Enqueues share commits; a lone one does not wait for company.
func TestDiskGroupCommit(t *testing.T) {
	d := openTestDisk(t, DiskConfig{Path: filepath.Join(t.TempDir(), "queue.db")})
	before := d.commits.Load()
	start := time.Now()
	enqueue(t, d, newEvent("/a", "alone"))
	if n := d.commits.Load() - before; n != 1 {
		t.Errorf("a lone Enqueue took %d commits, want 1", n)
	}
	t.Logf("lone Enqueue: %v", time.Since(start))

	const n = 64
	before = d.commits.Load()
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := d.Enqueue(context.Background(), newEvent("/a", "k"+string(rune('A'+i))))
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	commits := d.commits.Load() - before
	t.Logf("%d concurrent Enqueues: %d commits", n, commits)
	if commits >= n {
		t.Errorf("%d concurrent Enqueues took %d commits: no group commit", n, commits)
	}
}
