package faulttest

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/hookguard/hookguard/internal/freeport"
	"github.com/hookguard/hookguard/internal/procstat"
	"github.com/hookguard/hookguard/verify"
)

// Credentials of the routes under test.
const (
	lkKey    = "APIfaultKey"
	lkSecret = "fault-secret-0123456789abcdef0123456789"
	tcApp    = "1400000000"
	tcToken  = "fault-tencent-token"
	// routeTimeout is the LiveKit route's forward timeout; lateAnswer is
	// how long the app takes when it answers "late".
	routeTimeout = time.Second
	lateAnswer   = routeTimeout + 400*time.Millisecond
)

// seed drives every random choice of the suite; FAULTTEST_SEED overrides it.
func seed(t *testing.T) uint64 {
	s := uint64(20260525)
	if v := os.Getenv("FAULTTEST_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("FAULTTEST_SEED: %v", err)
		}
		s = n
	}
	t.Logf("seed %d (set FAULTTEST_SEED to replay)", s)
	return s
}

// hash01 maps its inputs to a number in [0, 1), the same for the same
// inputs whatever the goroutines' interleaving.
func hash01(seed uint64, parts ...string) float64 {
	h := fnv.New64a()
	fmt.Fprint(h, seed)
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return float64(h.Sum64()>>11) / float64(1<<53)
}

// ---- the binary ----

var (
	buildOnce sync.Once
	buildDir  string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	printSummaries(os.Stdout)
	printQueueSummaries(os.Stdout)
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// hookguardBinary builds cmd/hookguard once per run (with -race when the
// suite runs with it, so the proxy's own races surface here too).
func hookguardBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "hookguard-faulttest-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "hookguard")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "github.com/hookguard/hookguard/cmd/hookguard")
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// hgConfig is the configuration file of one hookguard under test.
func hgConfig(t *testing.T, dir, listen, admin, appAddr string) string {
	t.Helper()
	cfg := `listen: ` + listen + `
log_level: info
admin: {listen: ` + admin + `}
dedupe: {store: memory, size: 100000}
routes:
  - path: /livekit
    provider: livekit
    upstream: http://` + appAddr + `/livekit
    timeout: ` + routeTimeout.String() + `
    secrets:
      ` + lkKey + `: ${FAULTTEST_LK_SECRET}
  - path: /tencent
    provider: tencent
    upstream: http://` + appAddr + `/tencent
    secrets:
      "` + tcApp + `": ${FAULTTEST_TC_TOKEN}
`
	path := filepath.Join(dir, "hookguard.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// hgProc is one run of the hookguard binary.
type hgProc struct {
	cmd     *exec.Cmd
	addr    string
	admin   string
	logPath string
	started time.Time // when it answered /readyz
	done    chan struct{}
	exited  time.Time
	waitErr error
}

// startHookguard runs the binary with cfgPath and waits until /readyz
// answers 200. Its log goes to a file of dir, one per start (n).
func startHookguard(t *testing.T, dir, cfgPath, addr, admin string, n int) *hgProc {
	t.Helper()
	p, err := launchHookguard(t, dir, cfgPath, addr, admin, n)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// launchHookguard is startHookguard for goroutines other than the test's:
// it returns an error instead of failing the test.
func launchHookguard(t *testing.T, dir, cfgPath, addr, admin string, n int) (*hgProc, error) {
	return launchHookguardLog(t, dir, cfgPath, addr, admin, n, false)
}

// launchHookguardLog is launchHookguard; with logPipe, hookguard writes its
// log to a pipe the test copies to the file, so that a file-size limit set
// on hookguard (see setFileSizeLimit) does not apply to its log.
func launchHookguardLog(t *testing.T, dir, cfgPath, addr, admin string, n int, logPipe bool) (*hgProc, error) {
	bin := hookguardBinary(t)
	p := &hgProc{addr: addr, admin: admin, done: make(chan struct{}),
		logPath: filepath.Join(dir, fmt.Sprintf("hookguard-%d.log", n))}
	logf, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(bin, "serve", "--config", cfgPath)
	p.cmd.Env = append(os.Environ(), "FAULTTEST_LK_SECRET="+lkSecret, "FAULTTEST_TC_TOKEN="+tcToken)
	p.cmd.Stdout = logf
	if logPipe {
		p.cmd.Stdout = struct{ io.Writer }{logf} // not an *os.File: exec copies through a pipe
	}
	p.cmd.Stderr = p.cmd.Stdout
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		p.exited = time.Now()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	c := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-p.done:
			return nil, fmt.Errorf("hookguard exited at start: %v\n%s", p.waitErr, p.log())
		default:
		}
		resp, err := c.Get("http://" + admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				p.started = time.Now()
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("hookguard not ready after 30s: %v\n%s", err, p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *hgProc) log() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 4000 {
		b = append([]byte("...\n"), b[len(b)-4000:]...)
	}
	return string(b)
}

// awaitLog reports whether the log contains sub, waiting up to within for
// it: hookguard writes its log out a little after each line (logbuf).
func (p *hgProc) awaitLog(sub string, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for {
		if b, _ := os.ReadFile(p.logPath); strings.Contains(string(b), sub) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkLog fails on a data race report or a panic in hookguard's output.
func (p *hgProc) checkLog(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"WARNING: DATA RACE", "panic:", "fatal error:"} {
		if i := bytes.Index(b, []byte(bad)); i >= 0 {
			end := min(len(b), i+3000)
			t.Errorf("hookguard printed %q:\n%s", bad, b[i:end])
		}
	}
}

// rssKB is hookguard's resident memory (VmRSS), in KiB.
func (p *hgProc) rssKB() int64 {
	return statusKB(p.cmd.Process.Pid, "VmRSS")
}

func statusKB(pid int, name string) int64 { return procstat.StatusKB(pid, name) }

// ---- the app ----

// Kinds of answer the app gives to one delivery.
const (
	answerAck   = "ack"   // 200, promptly (within the route timeout)
	answerLate  = "late"  // 200 after the route timeout: hookguard has given up
	answerReset = "reset" // a 200 status line, part of the body, then a TCP reset
	answerFail  = "fail"  // 500, 503 or 429: the app refuses for now
)

// delivery is one request the app received.
type delivery struct {
	id       string
	n        int // 0 for the first delivery of this id
	kind     string
	status   int // what the app answered (or began to)
	recv     time.Time
	answered time.Time
}

// faultPlan decides how the app answers the n-th delivery of id, and how
// long it waits before a prompt answer.
type faultPlan func(id string, n int) (kind string, status int, delay time.Duration)

// app is the upstream: it records every delivery and answers as its plan
// says. It can refuse connections for a while (closeFor).
type app struct {
	addr string
	plan faultPlan
	srv  *http.Server
	// anyBody: acknowledge whatever the body (by default an ack needs the
	// body to carry the event id hookguard forwarded in its header).
	anyBody bool
	// onAck, when set, is called once a prompt 2xx has been written and
	// flushed to hookguard, before the handler returns.
	onAck func(delivery)

	mu         sync.Mutex
	ln         net.Listener
	deliveries []delivery
	perID      map[string]int
	refusals   [][2]time.Time // when connections were refused
	inflight   atomic.Int32
	serveDone  sync.WaitGroup
}

func newApp(t *testing.T, plan faultPlan) *app {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &app{addr: ln.Addr().String(), plan: plan, perID: map[string]int{}, ln: ln}
	a.srv = &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second}
	a.serve(ln)
	t.Cleanup(func() {
		a.srv.Close()
		a.serveDone.Wait()
	})
	return a
}

func (a *app) serve(ln net.Listener) {
	a.serveDone.Add(1)
	go func() {
		defer a.serveDone.Done()
		a.srv.Serve(ln)
	}()
}

// closeFor refuses connections for d: the listener is closed and idle
// keep-alive connections are dropped, then it listens again on the same
// address.
func (a *app) closeFor(d time.Duration) error {
	start := a.down()
	time.Sleep(d)
	return a.up(start)
}

// down closes the app's listener and drops idle keep-alive connections;
// it returns when.
func (a *app) down() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.srv.SetKeepAlivesEnabled(false)
	a.ln.Close()
	return time.Now()
}

// up listens again on the app's address after down (at start).
func (a *app) up(start time.Time) error {
	ln, err := net.Listen("tcp", a.addr)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.ln = ln
	a.srv.SetKeepAlivesEnabled(true)
	a.refusals = append(a.refusals, [2]time.Time{start, time.Now()})
	a.mu.Unlock()
	a.serve(ln)
	return nil
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.inflight.Add(1)
	defer a.inflight.Add(-1)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	id := r.Header.Get("X-Hookguard-Event-Id")
	if id == "" {
		id = "(none)"
	}
	a.mu.Lock()
	n := a.perID[id]
	a.perID[id] = n + 1
	a.mu.Unlock()
	d := delivery{id: id, n: n, recv: time.Now()}
	d.kind, d.status, _ = a.plan(id, n)
	if d.kind == answerAck && !a.anyBody && !bytes.Contains(body, []byte(`"id":"`+id+`"`)) {
		d.kind, d.status = answerFail, http.StatusUnprocessableEntity // the body is not the event's
	}
	_, _, delay := a.plan(id, n)
	switch d.kind {
	case answerAck:
		time.Sleep(delay)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(d.status)
		io.WriteString(w, "ok")
		if a.onAck != nil && d.status < 300 {
			http.NewResponseController(w).Flush()
			d.answered = time.Now()
			a.onAck(d)
		}
	case answerFail:
		time.Sleep(delay)
		w.WriteHeader(d.status)
		io.WriteString(w, "not now")
	case answerLate:
		time.Sleep(lateAnswer)
		w.WriteHeader(d.status)
		io.WriteString(w, "ok, late")
	case answerReset:
		conn, bw, err := http.NewResponseController(w).Hijack()
		if err == nil {
			bw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\npartial")
			bw.Flush()
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			conn.Close()
		}
	}
	if d.answered.IsZero() {
		d.answered = time.Now()
	}
	a.mu.Lock()
	a.deliveries = append(a.deliveries, d)
	a.mu.Unlock()
}

func (a *app) snapshot() ([]delivery, [][2]time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]delivery(nil), a.deliveries...), append([][2]time.Time(nil), a.refusals...)
}

// ---- the sender ----

// attempt is one POST of an event, as the sender saw it.
type attempt struct {
	start, end time.Time
	status     int    // 0: no answer
	err        string // connection error
	// queueID is the X-Hookguard-Queue-Id of the answer: set when a queue
	// route stored the event, empty for a duplicate (and on sync routes).
	queueID string
	url     string // where it was sent
}

// eventLog is what the sender did with one event and what it was told.
type eventLog struct {
	id       string
	attempts []attempt
	final    string // "2xx", "4xx", "gave_up", "not_retried"
}

// sender posts LiveKit events and retries like livekit-server: on
// connection errors, 429 and 5xx except 501, at most 5 attempts, with
// backoff (scaled down from LiveKit's 1 s, 2 s, 4 s, 8 s); Retry-After is
// honoured on 429 and 503 at the same scale. Any 2xx or 4xx ends delivery.
type sender struct {
	url     string
	client  *http.Client
	backoff [4]time.Duration
	// urls, when set, are replicas behind a load balancer: an event's
	// first attempt goes to one chosen by its id, each retry to the next.
	urls []string
	// onAttempt, when set, is called after every attempt.
	onAttempt func(id string, a attempt)
}

func newSender(url string, conns int, backoff [4]time.Duration) *sender {
	return &sender{url: url, backoff: backoff, client: &http.Client{
		Timeout:   10 * time.Second, // newer LiveKit senders time out a request after 10 s
		Transport: &http.Transport{MaxIdleConnsPerHost: conns, DisableCompression: true},
	}}
}

// liveKitBody is a participant_joined event with id, as livekit-server
// writes it.
func liveKitBody(id string, at time.Time) []byte {
	ts := strconv.FormatInt(at.Unix(), 10)
	return []byte(`{"event":"participant_joined","room":{"sid":"RM_tYR4fbfmcGeh","name":"fault-room","emptyTimeout":300,"creationTime":"` + ts +
		`"},"participant":{"sid":"PA_2X7rqKcLh7Fa","identity":"user-1","state":"ACTIVE","joinedAt":"` + ts + `"},"id":"` + id + `","createdAt":"` + ts + `"}`)
}

func (s *sender) deliver(id string) *eventLog {
	ev := &eventLog{id: id}
	body := liveKitBody(id, time.Now())
	tok, err := verify.SignLiveKit(lkKey, []byte(lkSecret), body, time.Now())
	if err != nil {
		panic(err)
	}
	first := 0
	if len(s.urls) > 0 {
		first = int(hash01(0, id, "replica") * float64(len(s.urls)))
	}
	for i := 0; ; i++ {
		a := attempt{start: time.Now(), url: s.url}
		if len(s.urls) > 0 {
			a.url = s.urls[(first+i)%len(s.urls)]
		}
		req, _ := http.NewRequest(http.MethodPost, a.url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/webhook+json")
		req.Header.Set("Authorization", tok)
		resp, err := s.client.Do(req)
		var retryAfter time.Duration
		if err != nil {
			a.err = err.Error()
		} else {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			a.status = resp.StatusCode
			a.queueID = resp.Header.Get("X-Hookguard-Queue-Id")
			if sec, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && (a.status == 429 || a.status == 503) {
				retryAfter = time.Duration(sec) * s.backoff[0] // 1 s scaled like the backoff
			}
		}
		a.end = time.Now()
		ev.attempts = append(ev.attempts, a)
		if s.onAttempt != nil {
			s.onAttempt(id, a)
		}
		switch {
		case err == nil && a.status >= 200 && a.status < 300:
			ev.final = "2xx"
			return ev
		case err == nil && a.status >= 400 && a.status < 500 && a.status != 429:
			ev.final = "4xx"
			return ev
		case err == nil && !(a.status == 429 || (a.status >= 500 && a.status != 501)):
			ev.final = "not_retried"
			return ev
		}
		if i == 4 {
			ev.final = "gave_up"
			return ev
		}
		time.Sleep(max(s.backoff[i], retryAfter))
	}
}

// sendAll delivers n events named prefix+i with conc concurrent senders
// and returns what the sender saw of each, by id.
func (s *sender) sendAll(prefix string, n, conc int) map[string]*eventLog {
	return s.sendUntil(prefix, n, conc, nil)
}

// sendUntil is sendAll that also stops starting new events once stop is
// closed (nil: never).
func (s *sender) sendUntil(prefix string, n, conc int, stop <-chan struct{}) map[string]*eventLog {
	var (
		mu   sync.Mutex
		out  = make(map[string]*eventLog, n)
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				ev := s.deliver(prefix + strconv.Itoa(i))
				mu.Lock()
				out[ev.id] = ev
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

// ---- accounting ----

// epoch is one hookguard process's life: its memory dedupe store lives
// exactly that long.
type epoch struct{ start, end time.Time }

// summary is one scenario's accounting, as printed in the table.
type summary struct {
	scenario string
	events   int
	// delivered: events the app acknowledged with a 2xx that reached
	// hookguard.
	delivered int
	// rejected: requests answered with the expected 4xx (bad input).
	rejected int
	// retried: sender attempts after the first.
	retried int
	// redeliveredUnacked: deliveries of an event the app had already
	// answered 2xx, where that answer never reached hookguard (late or
	// reset mid-response).
	redeliveredUnacked int
	// redeliveredRestart: deliveries of an event acknowledged to an
	// earlier hookguard process whose memory store was lost on restart,
	// before the sender had been told 2xx.
	redeliveredRestart int
	// retriedAfterRefusal: deliveries after the app refused (5xx/429).
	retriedAfterRefusal int
	// gaveUp: events the sender dropped after 5 attempts, every failure
	// explained by an injected fault.
	gaveUp int
	// lost: the sender was told 2xx but the app never acknowledged, or a
	// valid event was refused with 4xx, or failures no fault explains.
	lost int
	// dupAfterAck: deliveries after an acknowledgement that reached a
	// hookguard whose store still held it.
	dupAfterAck int
	// drained: requests in flight at SIGTERM that were answered normally.
	drained int
	// notes are logged, not failures (events the sender gave up on).
	notes []string
}

var (
	summariesMu sync.Mutex
	summaries   []summary
)

func record(s summary) {
	summariesMu.Lock()
	summaries = append(summaries, s)
	summariesMu.Unlock()
}

func printSummaries(w io.Writer) {
	summariesMu.Lock()
	defer summariesMu.Unlock()
	if len(summaries) == 0 {
		return
	}
	fmt.Fprintln(w, "\nfault-injection summary (per event id; lost and duplicated-after-ack must be 0)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tevents sent\tdelivered\trejected\tretried\tredelivered after unacked 2xx\tredelivered after restart\tretried after app 5xx/429\tsender gave up\tdrained at SIGTERM\tlost\tduplicated after ack\t")
	var tot summary
	for _, s := range summaries {
		printRow(tw, s)
		tot.events += s.events
		tot.delivered += s.delivered
		tot.rejected += s.rejected
		tot.retried += s.retried
		tot.redeliveredUnacked += s.redeliveredUnacked
		tot.redeliveredRestart += s.redeliveredRestart
		tot.retriedAfterRefusal += s.retriedAfterRefusal
		tot.gaveUp += s.gaveUp
		tot.drained += s.drained
		tot.lost += s.lost
		tot.dupAfterAck += s.dupAfterAck
	}
	tot.scenario = "total"
	printRow(tw, tot)
	tw.Flush()
}

func printRow(w io.Writer, s summary) {
	fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", s.scenario, s.events, s.delivered, s.rejected, s.retried,
		s.redeliveredUnacked, s.redeliveredRestart, s.retriedAfterRefusal, s.gaveUp, s.drained, s.lost, s.dupAfterAck)
}

// account checks the invariants per event id and returns the summary.
//
//   - The sender never saw 2xx for an event the app did not acknowledge
//     (with a prompt 2xx received before that answer).
//   - After the app acknowledged an event and the acknowledgement reached
//     hookguard, the app never receives it again from that same hookguard
//     process (its store is healthy). From a later process (the memory
//     store was lost on restart) a redelivery is allowed only while the
//     sender has not been told 2xx: it is counted as redelivered after
//     restart.
//   - A delivery after a 2xx that never reached hookguard (late, reset) is
//     allowed and counted as redelivered after an unacknowledged first try.
//   - Every failed attempt (connection error, 5xx, 429) is explained by an
//     injected fault: the app answered badly during it, refused
//     connections, or hookguard was down.
//   - A valid event is never refused with a 4xx.
func account(t *testing.T, scenario string, events map[string]*eventLog, deliveries []delivery, refusals, downs [][2]time.Time, epochs []epoch) summary {
	t.Helper()
	s, problems := tally(scenario, events, deliveries, refusals, downs, epochs)
	for i, n := range s.notes {
		if i == 5 {
			t.Logf("... %d more", len(s.notes)-i)
			break
		}
		t.Log(n)
	}
	if len(problems) > 0 {
		t.Errorf("%s: %d problem(s), first ones:\n  %s", scenario, len(problems), strings.Join(problems, "\n  "))
	}
	if s.lost != 0 || s.dupAfterAck != 0 {
		t.Errorf("%s: lost %d, duplicated after acknowledgement %d: want 0 and 0", scenario, s.lost, s.dupAfterAck)
	}
	return s
}

// tally is account without the verdict: the summary and the problems found.
func tally(scenario string, events map[string]*eventLog, deliveries []delivery, refusals, downs [][2]time.Time, epochs []epoch) (summary, []string) {
	s := summary{scenario: scenario, events: len(events)}
	byID := map[string][]delivery{}
	for _, d := range deliveries {
		byID[d.id] = append(byID[d.id], d)
	}
	epochOf := func(at time.Time) int {
		for i, e := range epochs {
			if !at.Before(e.start) && (e.end.IsZero() || !at.After(e.end)) {
				return i
			}
		}
		return -1
	}
	overlaps := func(a attempt, ws [][2]time.Time, slack time.Duration) bool {
		for _, w := range ws {
			if a.start.Before(w[1].Add(slack)) && a.end.After(w[0]) {
				return true
			}
		}
		return false
	}
	var problems, notes []string
	report := func(format string, args ...any) {
		if len(problems) < 30 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}

	for id, d := range byID {
		// In the order the app received them (they are recorded when answered).
		slices.SortFunc(d, func(x, y delivery) int { return x.n - y.n })
		if _, ok := events[id]; !ok {
			report("app received %d deliveries of %q, an event nobody sent", len(d), id)
			s.dupAfterAck += len(d)
		}
	}
	for id, ev := range events {
		ds := byID[id]
		s.retried += len(ev.attempts) - 1
		// When was the sender first told 2xx?
		var told2xx time.Time
		for _, a := range ev.attempts {
			if a.status >= 200 && a.status < 300 {
				told2xx = a.end
				break
			}
		}
		acked := false
		var firstAck time.Time
		for _, d := range ds {
			if d.kind == answerAck && d.status >= 200 && d.status < 300 {
				if !acked {
					firstAck = d.recv
				}
				acked = true
			}
		}
		if acked {
			s.delivered++
		}
		// No false acknowledgement.
		if !told2xx.IsZero() && (!acked || firstAck.After(told2xx)) {
			report("%s: sender told %d but the app never acknowledged it before", id, ev.attempts[len(ev.attempts)-1].status)
			s.lost++
		}
		switch ev.final {
		case "4xx", "not_retried":
			report("%s: valid event ended with %d after %d attempts", id, ev.attempts[len(ev.attempts)-1].status, len(ev.attempts))
			s.lost++
		case "gave_up":
			s.gaveUp++
			notes = append(notes, fmt.Sprintf("%s: sender gave up; %s", id, history(ev, ds)))
		}
		// Deliveries after earlier ones.
		for j := 1; j < len(ds); j++ {
			cur := ds[j]
			cls := ""
			for _, prev := range ds[:j] {
				switch {
				case prev.kind == answerAck && prev.status < 300:
					switch {
					case epochOf(prev.recv) != epochOf(cur.recv):
						// The store that knew it died with its process:
						// allowed while the sender has not been told 2xx.
						if !told2xx.IsZero() && told2xx.Before(cur.recv) {
							cls = "dup"
						} else if cls != "dup" {
							cls = "restart"
						}
					case notReceived(ev, prev):
						// hookguard told the sender the app's answer did
						// not reach it (the app closed the keep-alive
						// connection under the request, or answered after
						// the timeout): the 2xx was never acknowledged.
						if cls == "" || cls == "refused" {
							cls = "unacked"
						}
					default:
						cls = "dup"
					}
				case prev.kind == answerLate || prev.kind == answerReset:
					if cls == "" || cls == "refused" {
						cls = "unacked"
					}
				case prev.kind == answerFail:
					if cls == "" {
						cls = "refused"
					}
				}
			}
			switch cls {
			case "dup":
				report("%s: delivery %d (at %s) after an acknowledgement that reached hookguard; %s", id, cur.n, cur.recv.Format("15:04:05.000"), history(ev, ds))
				s.dupAfterAck++
			case "restart":
				s.redeliveredRestart++
			case "unacked":
				s.redeliveredUnacked++
			case "refused":
				s.retriedAfterRefusal++
			}
		}
		// Every failure is explained.
		for i, a := range ev.attempts {
			failed := a.err != "" || a.status == 429 || a.status >= 500
			if !failed {
				continue
			}
			explained := overlaps(a, refusals, 100*time.Millisecond) || overlaps(a, downs, 100*time.Millisecond)
			for _, d := range ds {
				if !d.recv.Before(a.start) && !d.recv.After(a.end) && d.kind != answerAck {
					explained = true
				}
			}
			if !explained {
				report("%s: attempt %d failed (%d %s) with no fault injected during it", id, i+1, a.status, a.err)
				s.lost++
			}
		}
	}
	s.notes = notes
	return s, problems
}

// notReceived reports whether hookguard answered the attempt that carried
// delivery d with 502 or 504 (or the connection failed): hookguard says the
// app's answer did not reach it.
func notReceived(ev *eventLog, d delivery) bool {
	for _, a := range ev.attempts {
		if !d.recv.Before(a.start) && !d.recv.After(a.end) {
			return a.err != "" || a.status == http.StatusBadGateway || a.status == http.StatusGatewayTimeout
		}
	}
	return false
}

// history describes an event's attempts and deliveries for a report.
func history(ev *eventLog, ds []delivery) string {
	var b strings.Builder
	for i, a := range ev.attempts {
		fmt.Fprintf(&b, "attempt %d %s-%s: %d %s; ", i+1, a.start.Format("05.000"), a.end.Format("05.000"), a.status, a.err)
	}
	for _, d := range ds {
		fmt.Fprintf(&b, "delivery %d at %s answered %s %d at %s; ", d.n, d.recv.Format("05.000"), d.kind, d.status, d.answered.Format("05.000"))
	}
	return b.String()
}

// errRefused reports whether err is a refused TCP connection.
func errRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}
