package main

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/hookguard/hookguard/verify"
	"github.com/spf13/pflag"
)

//go:embed demo.yaml
var demoConfig []byte

const (
	demoLiveKitKey    = "demo-api-key"
	demoLiveKitSecret = "demo-api-secret-at-least-32-characters-long"
	demoTencentApp    = "1400000000"
	demoTencentToken  = "demo-tencent-callback-token"
	demoForwardSecret = "whsec_ZGVtby1mb3J3YXJkLXNpZ25pbmcta2V5LTMyYnl0ZXM="
	tencentAck        = `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`
	// demoRefusedID is the event the demo app refuses the first time it
	// gets it, so that it becomes a dead letter to replay in the console.
	demoRefusedID = "EV_demo_room_unknown"
)

// demo runs hookguard on its embedded config in front of a demo app, sends
// it genuine, forged, stale, tampered and repeated webhooks, and prints what
// the sender was answered and what the app received, then where the console
// shows it all. hookguard's log goes to a file (--verbose: stderr), so the
// table stays readable. Without --once it then keeps serving for
// `hookguard send` and the console.
func demo(ctx context.Context, args []string, e env, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("hookguard demo", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "webhook listener")
	adminAddr := fs.String("admin-listen", "127.0.0.1:9090", `admin listener, with the console ("off" disables)`)
	once := fs.Bool("once", false, "exit after the demo run instead of serving")
	logLevel := fs.String("log-level", "info", "log level of hookguard's JSON log")
	logFile := fs.String("log", "", "write hookguard's JSON log to this file (default: a file in the demo's temporary directory, removed on exit)")
	verbose := fs.Bool("verbose", false, "write hookguard's JSON log to stderr, mixed with the table")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return errHelp
		}
		return err
	}
	level, err := parseLevel(*logLevel)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// The queue's file and the default log live in a directory of their
	// own, removed on exit (after the queue is closed: defers run last
	// first).
	dir, err := os.MkdirTemp("", "hookguard-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logPath, logOut := "", stderr
	if !*verbose {
		logPath = cmp.Or(*logFile, filepath.Join(dir, "hookguard.log"))
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("--log: %w", err)
		}
		defer f.Close()
		logOut = f
	}
	if *adminAddr, err = pickPort(*adminAddr); err != nil {
		return fmt.Errorf("--admin-listen: %w", err)
	}

	app, err := startDemoApp(ctx)
	if err != nil {
		return err
	}
	vars := map[string]string{"DEMO_APP": app.url, "DEMO_LISTEN": *listen, "DEMO_ADMIN": *adminAddr,
		"DEMO_QUEUE": filepath.Join(dir, "queue.db")}
	cfg, err := parseConfig(demoConfig, func(k string) string { return vars[k] })
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: level}))
	rt, err := newRuntime(cfg, e, logger, false)
	if err != nil {
		return err
	}
	defer rt.close()
	addrc := make(chan string, 1)
	rt.onListen = func(addr string) { addrc <- addr }
	done := make(chan error, 1)
	go func() { done <- rt.run(ctx) }()
	var base string
	select {
	case addr := <-addrc:
		base = "http://" + addr
	case err := <-done:
		return err
	}

	dead := func(ctx context.Context) int {
		st, err := rt.queue.Stats(ctx)
		n := 0
		for _, s := range st {
			n += s.Dead
		}
		if err != nil {
			return -1
		}
		return n
	}
	ok := runDemoScript(ctx, base, app, dead, e, stdout)
	if *adminAddr != "off" {
		fmt.Fprintf(stdout, "\nConsole: http://%s/\n", *adminAddr)
		if *once {
			fmt.Fprintln(stdout, "  (closed now: without --once, the console shows these events, the counts per route and the queue)")
		} else {
			fmt.Fprintf(stdout, "  these events with their outcome and reason, the counts per route, and the queue:\n"+
				"  the event the app refused (%s) waits there as a dead letter: press Replay and the app takes it.\n", demoRefusedID)
		}
	}
	if logPath != "" {
		where := ""
		if logPath == filepath.Join(dir, "hookguard.log") {
			where = ", removed on exit"
		}
		fmt.Fprintf(stdout, "hookguard's log: %s (one JSON line per webhook%s; --verbose prints it here)\n", logPath, where)
	}
	if *once {
		cancel()
		<-done
		if !ok {
			return errors.New("demo: some steps did not behave as expected")
		}
		return nil
	}
	fmt.Fprintf(stdout, `
hookguard keeps serving on %s (Ctrl-C to stop). Try, in another shell:
  hookguard send --provider livekit --url %s/livekit --key-id %s --secret %s --count 2
  hookguard send --provider tencent --url %s/tencent --key-id %s --secret %s --forge
`, base, base, demoLiveKitKey, demoLiveKitSecret, base, demoTencentApp, demoTencentToken)
	return <-done
}

// pickPort replaces port 0 of addr by a free port, so that the console's
// address can be printed.
func pickPort(addr string) (string, error) {
	if addr == "off" {
		return addr, nil
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port != "0" {
		return addr, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// demoApp is a tiny backend: it checks hookguard's forwarding signature
// with a Standard Webhooks verifier and counts what it received.
type demoApp struct {
	url      string
	verifier verify.Verifier
	mu       sync.Mutex
	received map[string]int // event id → deliveries
	lastSig  string         // outcome of the last signature check
	refused  bool           // demoRefusedID was refused once
}

func startDemoApp(ctx context.Context) (*demoApp, error) {
	v, err := verify.New(verify.ProviderStandardWebhooks, verify.Options{Keys: map[string][]string{"hookguard": {demoForwardSecret}}})
	if err != nil {
		return nil, err
	}
	app := &demoApp{verifier: v, received: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	app.url = "http://" + ln.Addr().String()
	srv := &http.Server{Handler: app, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	go func() { <-ctx.Done(); srv.Close() }()
	return app, nil
}

func (a *demoApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	_, err := a.verifier.Verify(&verify.Request{Header: r.Header, Body: body})
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.lastSig = "BAD: " + err.Error()
		http.Error(w, "forwarding signature invalid", http.StatusUnauthorized)
		return
	}
	a.lastSig = "ok"
	id := r.Header.Get("X-Hookguard-Event-Id")
	if id == demoRefusedID && !a.refused {
		a.refused = true // the next delivery, a replay, is taken
		http.Error(w, "no such room (yet)", http.StatusUnprocessableEntity)
		return
	}
	a.received[id]++
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("X-Hookguard-Provider") == verify.ProviderTencent {
		io.WriteString(w, tencentAck)
		return
	}
	io.WriteString(w, `{"ok":true}`)
}

func (a *demoApp) total() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, c := range a.received {
		n += c
	}
	return n
}

type demoStep struct {
	name       string
	req        signed
	tamper     bool // change the body after signing
	copies     int  // concurrent copies of the same request
	wantStatus int
	wantApp    int // deliveries the app should see from this step
	// queued: the app gets the event later, from the queue; wait for
	// wantApp deliveries and wantDead new dead letters.
	queued   bool
	wantDead int
}

// queueWait bounds the wait for a queued step's delivery.
const queueWait = 5 * time.Second

func runDemoScript(ctx context.Context, base string, app *demoApp, dead func(context.Context) int, e env, out io.Writer) bool {
	now := e.now()
	lk := signed{Provider: verify.ProviderLiveKit, URL: base + "/livekit", KeyID: demoLiveKitKey, Secret: demoLiveKitSecret, ID: "EV_demo_room_started", At: now}
	tc := signed{Provider: verify.ProviderTencent, URL: base + "/tencent", KeyID: demoTencentApp, Secret: demoTencentToken, ID: "demo-1", At: now}
	forged, stale, burst, tcStale := lk, lk, lk, tc
	forged.Secret, forged.ID = forgedSecret(lk.Secret), "EV_demo_forged"
	stale.At, stale.ID = now.Add(-10*time.Minute), "EV_demo_stale"
	burst.ID, burst.Type = "EV_demo_burst", "participant_joined"
	tcStale.At, tcStale.ID = now.Add(-2*time.Minute), "demo-2"
	tampered := lk
	tampered.ID = "EV_demo_tampered"
	lkq, refused := lk, lk
	lkq.URL, lkq.ID, lkq.Type = base+"/livekit-queue", "EV_demo_track_published", "track_published"
	refused.URL, refused.ID, refused.Type = base+"/livekit-queue", demoRefusedID, "room_finished"
	steps := []demoStep{
		{name: "livekit: genuine room_started", req: lk, wantStatus: 200, wantApp: 1},
		{name: "livekit: the same event again (a retry)", req: lk, wantStatus: 200, wantApp: 0},
		{name: "livekit: signed with a forged secret", req: forged, wantStatus: 401, wantApp: 0},
		{name: "livekit: body changed after signing", req: tampered, tamper: true, wantStatus: 401, wantApp: 0},
		{name: "livekit: token expired 5 minutes ago", req: stale, wantStatus: 401, wantApp: 0},
		{name: "livekit: 20 concurrent copies of one event", req: burst, copies: 20, wantStatus: 200, wantApp: 1},
		{name: "tencent: genuine Live.CallbackAfterCreateRoom", req: tc, wantStatus: 200, wantApp: 1},
		{name: "tencent: the same request replayed", req: tc, wantStatus: 200, wantApp: 0},
		{name: "tencent: RequestTime 2 minutes old", req: tcStale, wantStatus: 401, wantApp: 0},
		{name: "livekit, queued: genuine track_published", req: lkq, wantStatus: 200, wantApp: 1, queued: true},
		{name: "livekit, queued: the app refuses it (422): a dead letter", req: refused, wantStatus: 200, wantApp: 0, queued: true, wantDead: 1},
	}
	client := newClient(false)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tSENDER GOT\tAPP RECEIVED\tAS EXPECTED")
	allOK := true
	for _, st := range steps {
		before, deadBefore := app.total(), dead(ctx)
		statuses, err := st.run(ctx, client)
		if st.queued {
			deadline := time.Now().Add(queueWait)
			for (app.total()-before < st.wantApp || dead(ctx)-deadBefore < st.wantDead) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
		}
		got := app.total() - before
		if st.wantDead > 0 && dead(ctx)-deadBefore != st.wantDead {
			err = errors.Join(err, errors.New("no dead letter"))
		}
		ok := err == nil && got == st.wantApp
		for _, s := range statuses {
			ok = ok && s == st.wantStatus
		}
		allOK = allOK && ok
		answer := summarizeStatuses(statuses)
		if err != nil {
			answer = "error: " + err.Error()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", st.name, answer, got, yesNo(ok))
	}
	tw.Flush()
	fmt.Fprintf(out, "forwarding signature checked by the app: %s\n", app.lastSig)
	return allOK
}

func (st demoStep) run(ctx context.Context, client *http.Client) ([]int, error) {
	req, err := newSignedRequest(st.req)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(req.Body)
	if st.tamper {
		body = bytes.Replace(body, []byte("demo-room"), []byte("evil-room"), 1)
	}
	n := max(st.copies, 1)
	statuses := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := req.Clone(ctx)
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			r.GetBody = nil
			statuses[i], _, errs[i] = post(client, r)
		}()
	}
	wg.Wait()
	return statuses, errors.Join(errs...)
}

func summarizeStatuses(s []int) string {
	if len(s) == 1 {
		return fmt.Sprintf("%d %s", s[0], http.StatusText(s[0]))
	}
	counts := map[int]int{}
	for _, c := range s {
		counts[c]++
	}
	out := ""
	for c, n := range counts {
		if out != "" {
			out += ", "
		}
		out += fmt.Sprintf("%d× %d", n, c)
	}
	return out
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}
