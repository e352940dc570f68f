package faulttest

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMLosesNoLogLine sends webhooks, stops the binary with SIGTERM
// right after the last answer, and finds one log line per webhook: the
// log is buffered (written out every 100 ms), and written out whole on
// the way out.
func TestSIGTERMLosesNoLogLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := newApp(t, func(string, int) (string, int, time.Duration) { return answerAck, http.StatusOK, 0 })
	addr, admin := freeAddr(t), freeAddr(t)
	hg := startHookguard(t, dir, hgConfig(t, dir, addr, admin, a.addr), addr, admin, 0)

	const n = 50
	s := newSender("http://"+addr+"/livekit", 4, [4]time.Duration{})
	for i := range n {
		if ev := s.deliver(fmt.Sprintf("EV_sigterm_%d", i)); ev.final != "2xx" {
			t.Fatalf("event %d: %s", i, ev.final)
		}
	}
	if err := hg.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hg.done:
	case <-time.After(30 * time.Second):
		t.Fatal("hookguard did not stop after SIGTERM")
	}
	log, err := os.ReadFile(hg.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(log), `"msg":"webhook"`); got != n {
		t.Fatalf("%d webhook log lines after SIGTERM, want %d:\n%s", got, n, hg.log())
	}
	hg.checkLog(t)
}
