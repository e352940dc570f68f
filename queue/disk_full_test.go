package queue

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// envFullDisk tells a test binary started by TestDiskFullDisk to be the
// writer that runs out of space: its value is the store's path.
const envFullDisk = "HOOKGUARD_QUEUE_FULL_DISK_PATH"

// TestDiskFullDisk runs a writer whose file size is capped (RLIMIT_FSIZE,
// as a full disk: writes past it fail with EFBIG) until its Enqueues fail,
// then reopens the file without the cap: every Enqueue that succeeded is
// there, and nothing else. A write error must fail the Enqueue, never a
// success followed by loss.
func TestDiskFullDisk(t *testing.T) {
	if path := os.Getenv(envFullDisk); path != "" {
		fullDiskWriter(path)
		return
	}
	path := filepath.Join(t.TempDir(), "queue.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestDiskFullDisk$", "-test.count=1")
	cmd.Env = append(os.Environ(), envFullDisk+"="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("writer: %v\n%s", err, out)
	}
	stored := map[string]bool{}
	var failures []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 2)
		switch {
		case len(f) == 2 && f[0] == "ok":
			stored[f[1]] = true
		case len(f) == 2 && f[0] == "err":
			failures = append(failures, f[1])
		}
	}
	if len(stored) == 0 || len(failures) == 0 {
		t.Fatalf("writer stored %d and failed %d times; want both\n%s", len(stored), len(failures), out)
	}
	t.Logf("writer: %d stored, %d failed, first failure: %s", len(stored), len(failures), failures[0])
	for _, f := range failures {
		if !strings.Contains(f, ErrUnavailable.Error()) {
			t.Errorf("failure %q does not wrap ErrUnavailable", f)
		}
	}

	d := openTestDisk(t, DiskConfig{Path: path})
	found := map[string]bool{}
	for {
		evs := take(t, d, "/full", 100)
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			found[ev.ID] = true
		}
	}
	for id := range stored {
		if !found[id] {
			t.Errorf("event %s was acknowledged but is lost", id)
		}
	}
	for id := range found {
		if !stored[id] {
			t.Errorf("event %s is stored but its Enqueue failed", id)
		}
	}
}

// fullDiskWriter caps its file size, enqueues until Enqueue has failed a
// few times, and prints "ok <id>" or "err <error>" for each Enqueue.
func fullDiskWriter(path string) {
	signal.Ignore(syscall.SIGXFSZ) // get EFBIG instead of being killed
	d, err := OpenDisk(DiskConfig{Path: path})
	if err != nil {
		fmt.Println("open", err)
		os.Exit(1)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		fmt.Println("getrlimit", err)
		os.Exit(1)
	}
	lim.Cur = 1 << 20
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		fmt.Println("setrlimit", err)
		os.Exit(1)
	}
	body := bytes.Repeat([]byte("b"), 8<<10)
	failed := 0
	for i := 0; failed < 5 && i < 10000; i++ {
		ev := newEvent("/full", fmt.Sprint("k", i))
		ev.Body = body
		res, err := d.Enqueue(context.Background(), ev)
		switch {
		case err != nil:
			failed++
			fmt.Println("err", strings.ReplaceAll(err.Error(), "\n", " "))
		case res.Duplicate:
			fmt.Println("dup", i)
		default:
			fmt.Println("ok", res.ID)
		}
	}
	if err := d.Close(); err != nil && !errors.Is(err, ErrUnavailable) {
		fmt.Println("close", err)
	}
}
