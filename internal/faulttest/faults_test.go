package faulttest

import (
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// upstreamPlan makes the app misbehave on some deliveries: the first
// delivery of an event fails with probability pFirst, the second with
// pSecond, later ones never (so that app faults alone cannot exhaust the
// sender's 5 attempts). A failure is late (past the route timeout), a reset
// mid-response, or a 500/503/429, chosen by the seed. Prompt answers wait
// up to maxDelay.
func upstreamPlan(seed uint64, pFirst, pSecond float64, kinds []string, minDelay, maxDelay time.Duration) faultPlan {
	return func(id string, n int) (string, int, time.Duration) {
		delay := minDelay + time.Duration(hash01(seed, id, strconv.Itoa(n), "delay")*float64(maxDelay-minDelay))
		p := 0.0
		switch n {
		case 0:
			p = pFirst
		case 1:
			p = pSecond
		}
		if hash01(seed, id, strconv.Itoa(n), "fault") >= p {
			return answerAck, http.StatusOK, delay
		}
		kind := kinds[int(hash01(seed, id, strconv.Itoa(n), "kind")*float64(len(kinds)))]
		status := http.StatusOK
		if kind == answerFail {
			status = []int{http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusTooManyRequests}[int(hash01(seed, id, strconv.Itoa(n), "status")*3)]
		}
		return kind, status, delay
	}
}

// TestUpstreamFaults: the app refuses connections, resets mid-response,
// answers past the route timeout and answers 5xx/429, at random (seeded)
// moments, while a LiveKit-like sender delivers events through one
// hookguard process.
func TestUpstreamFaults(t *testing.T) {
	t.Parallel()
	sd := seed(t)
	dir := t.TempDir()
	a := newApp(t, upstreamPlan(sd, 0.3, 0.15, []string{answerLate, answerReset, answerFail, answerFail}, 0, 20*time.Millisecond))
	addr, admin := freeAddr(t), freeAddr(t)
	hg := startHookguard(t, dir, hgConfig(t, dir, addr, admin, a.addr), addr, admin, 0)
	ep := epoch{start: time.Now()}

	// Refuse connections for 25 ms at random moments, 300-700 ms apart.
	stop := make(chan struct{})
	refuserDone := make(chan error, 1)
	go func() {
		rng := rand.New(rand.NewPCG(sd, 1))
		for {
			select {
			case <-stop:
				refuserDone <- nil
				return
			case <-time.After(300*time.Millisecond + time.Duration(rng.Int64N(int64(400*time.Millisecond)))):
			}
			if err := a.closeFor(25 * time.Millisecond); err != nil {
				refuserDone <- err
				return
			}
		}
	}()

	s := newSender("http://"+addr+"/livekit", 24, [4]time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond})
	events := s.sendAll("EV_up_", 600, 24)
	close(stop)
	if err := <-refuserDone; err != nil {
		t.Fatalf("app could not listen again: %v", err)
	}
	// Late answers still sleeping finish before the books are closed.
	time.Sleep(lateAnswer)
	deliveries, refusals := a.snapshot()
	ep.end = time.Now()
	sum := account(t, "app faults", events, deliveries, refusals, nil, []epoch{ep})
	t.Logf("%d refusal windows; %d deliveries", len(refusals), len(deliveries))
	if len(refusals) == 0 || sum.redeliveredUnacked == 0 || sum.retriedAfterRefusal == 0 {
		t.Errorf("faults were not exercised: %d refusal windows, %d redelivered after unacked 2xx, %d retried after 5xx",
			len(refusals), sum.redeliveredUnacked, sum.retriedAfterRefusal)
	}
	hg.checkLog(t)
	record(sum)
}

// TestRestart: hookguard receives SIGTERM twice in the middle of a run.
// Requests in flight must drain (the sender gets the app's answer), new
// connections must be refused while it drains, it must exit 0, and a new
// process on the same port takes over while the sender's retries go on. The
// memory dedupe store is lost with each process.
func TestRestart(t *testing.T) {
	t.Parallel()
	restartScenario(t, syscall.SIGTERM)
}

// TestCrash: as TestRestart, but hookguard is killed (SIGKILL) instead:
// requests in flight fail, and an acknowledgement the dead process received
// from the app but could not pass on is lost with its memory store, so the
// sender's retry reaches the app again through the new process. That second
// delivery is the allowed "redelivered after restart".
func TestCrash(t *testing.T) {
	t.Parallel()
	restartScenario(t, syscall.SIGKILL)
}

func restartScenario(t *testing.T, sig syscall.Signal) {
	sd := seed(t)
	dir := t.TempDir()
	// Every prompt answer takes 100-400 ms, so that requests are in flight
	// at each SIGTERM; some first deliveries fail (503 etc. or reset).
	a := newApp(t, upstreamPlan(sd, 0.15, 0.05, []string{answerReset, answerFail}, 100*time.Millisecond, 400*time.Millisecond))
	addr, admin := freeAddr(t), freeAddr(t)
	cfg := hgConfig(t, dir, addr, admin, a.addr)
	hg := startHookguard(t, dir, cfg, addr, admin, 0)
	epochs := []epoch{{start: time.Now()}}

	type restart struct {
		sigterm, exited, ready time.Time
		refused                bool
		exitErr                error
	}
	var restarts []restart
	procs := []*hgProc{hg}
	ctlDone := make(chan error, 1)
	stopSending := make(chan struct{})
	go func() {
		defer close(stopSending)
		rng := rand.New(rand.NewPCG(sd, 2))
		for i := range 2 {
			// Restarts are further apart than the sender's 5 attempts
			// (3 s of backoff), so no event meets both.
			time.Sleep(time.Second + time.Duration(i)*3500*time.Millisecond + time.Duration(rng.Int64N(int64(time.Second))))
			// Wait for requests in flight at the app.
			for deadline := time.Now().Add(2 * time.Second); a.inflight.Load() == 0 && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
			var r restart
			r.sigterm = time.Now()
			hg.cmd.Process.Signal(sig)
			// New connections are refused while it drains.
			for {
				c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
				if err == nil {
					c.Close()
				} else if errRefused(err) {
					select {
					case <-hg.done:
					default:
						r.refused = true
					}
					break
				}
				select {
				case <-hg.done:
				case <-time.After(5 * time.Millisecond):
					continue
				}
				break
			}
			select {
			case <-hg.done:
			case <-time.After(routeTimeout + 10*time.Second):
				ctlDone <- errString("hookguard did not exit within its drain time")
				return
			}
			r.exited, r.exitErr = hg.exited, hg.waitErr
			epochs[len(epochs)-1].end = hg.exited
			next, err := launchHookguard(t, dir, cfg, addr, admin, i+1)
			if err != nil {
				ctlDone <- err
				return
			}
			hg = next
			procs = append(procs, hg)
			r.ready = hg.started
			epochs = append(epochs, epoch{start: r.exited})
			restarts = append(restarts, r)
		}
		time.Sleep(time.Second)
		ctlDone <- nil
	}()

	// Backoff 200/400/800/1600 ms: LiveKit's 1/2/4/8 s scaled by 1/5, still
	// longer than a drain plus a restart.
	s := newSender("http://"+addr+"/livekit", 16, [4]time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond})
	events := s.sendUntil("EV_rs_", 2000, 16, stopSending)
	if err := <-ctlDone; err != nil {
		t.Fatal(err)
	}
	deliveries, _ := a.snapshot()
	epochs[len(epochs)-1].end = time.Now()

	var downs [][2]time.Time
	for i, r := range restarts {
		downs = append(downs, [2]time.Time{r.sigterm, r.ready})
		t.Logf("restart %d: exited %v after %v, down for %v", i+1, r.exited.Sub(r.sigterm).Round(time.Millisecond), sig, r.ready.Sub(r.sigterm).Round(time.Millisecond))
		if sig != syscall.SIGTERM {
			continue
		}
		if r.exitErr != nil {
			t.Errorf("restart %d: hookguard exited with %v after SIGTERM, want 0", i+1, r.exitErr)
		}
		if !r.refused {
			t.Errorf("restart %d: no connection was refused between SIGTERM and exit", i+1)
		}
	}
	if len(restarts) != 2 {
		t.Fatalf("%d restarts, want 2", len(restarts))
	}
	name := "SIGTERM + restart"
	if sig == syscall.SIGKILL {
		name = "SIGKILL + restart"
	}
	sum := account(t, name, events, deliveries, nil, downs, epochs)
	if sig == syscall.SIGKILL {
		for _, p := range procs {
			p.checkLog(t)
		}
		record(sum)
		return
	}

	// Requests in flight at each SIGTERM were answered as the app answered.
	for i, r := range restarts {
		n := 0
		for _, d := range deliveries {
			if !(d.recv.Before(r.sigterm) && d.answered.After(r.sigterm)) || d.kind == answerReset {
				continue
			}
			n++
			var got *attempt
			for j := range events[d.id].attempts {
				at := &events[d.id].attempts[j]
				if !d.recv.Before(at.start) && !d.recv.After(at.end) {
					got = at
				}
			}
			if got == nil || got.status != d.status {
				t.Errorf("restart %d: %s was in flight at SIGTERM; the app answered %d, the sender got %+v", i+1, d.id, d.status, got)
			}
		}
		if n == 0 {
			t.Errorf("restart %d: no request was in flight at SIGTERM", i+1)
		}
		sum.drained += n
	}
	for _, p := range procs {
		p.checkLog(t)
	}
	record(sum)
}

type errString string

func (e errString) Error() string { return string(e) }
