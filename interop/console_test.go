package interop_test

// The console in a real browser: Debian's chromium, headless, drives the
// real hookguard binary's admin listener. It logs in through the form,
// sees the webhooks sent after the page loaded appear without a reload
// (an event id that is HTML among them, shown as text), replays a dead
// letter, and saves screenshots at desktop and phone widths.
//
// Without chromium the test skips, or fails under CI=true.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

const (
	cnToken    = "console-test-admin-token-0123456789"
	cnSecret   = "console-test-livekit-secret-at-least-32-chars"
	cnRefused  = "EV_console_refused"
	cnXSS      = `<img src=x onerror=alert(1)>`
	cnChromium = "/usr/bin/chromium"
)

// chromiumPath returns Debian's chromium (or $CHROMIUM), skipping the test
// without it, or failing it under CI=true.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), cnChromium, "chromium"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("chromium is needed (CI=true): apt-get install chromium")
	}
	t.Skip("chromium is not installed (apt-get install chromium)")
	return ""
}

// cnApp takes every event but refuses the first delivery of cnRefused
// (422), so that it becomes a dead letter that a replay then delivers.
type cnApp struct {
	mu      sync.Mutex
	took    map[string]int
	refused atomic.Bool
}

func (a *cnApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	id := r.Header.Get("X-Hookguard-Event-Id")
	if id == cnRefused && a.refused.CompareAndSwap(false, true) {
		http.Error(w, "unknown room", http.StatusUnprocessableEntity)
		return
	}
	a.mu.Lock()
	a.took[id]++
	a.mu.Unlock()
	io.WriteString(w, "ok")
}

func (a *cnApp) count(id string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.took[id]
}

// screenshotDir is where the screenshots go: $HOOKGUARD_SCREENSHOTS, or a
// directory of their own that outlives the test.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("HOOKGUARD_SCREENSHOTS")
	if dir == "" {
		d, err := os.MkdirTemp("", "hookguard-console-screenshots-")
		if err != nil {
			t.Fatal(err)
		}
		dir = d
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots of the console: %s", dir)
	return dir
}

func TestConsoleInChromium(t *testing.T) {
	chromium := chromiumPath(t)
	hookguard := buildHookguard(t)
	app := &cnApp{took: map[string]int{}}
	appSrv := httptest.NewServer(app)
	defer appSrv.Close()

	dir := t.TempDir()
	config := fmt.Sprintf(`listen: 127.0.0.1:0
admin: {listen: "127.0.0.1:0", token: "${ADMIN_TOKEN}"}
queue: {path: %q}
routes:
  - path: /livekit
    provider: livekit
    upstream: %s/hooks
    secrets: {devkey: "${LK_SECRET}"}
  - path: /livekit-queue
    provider: livekit
    upstream: %s/hooks
    secrets: {devkey: "${LK_SECRET}"}
    delivery: queue
    retry: {max_attempts: 3, initial_backoff: 50ms}
`, filepath.Join(dir, "queue.db"), appSrv.URL, appSrv.URL)
	cfgPath := filepath.Join(dir, "hookguard.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "ADMIN_TOKEN="+cnToken, "LK_SECRET="+cnSecret)
	hg := startProc(t, "hookguard", dir, env, hookguard, "serve", "--config", cfgPath)
	listening := hg.waitLines(t, exStart, 2, func(m map[string]any) bool { return m["msg"] == "listening" })
	var base, adminURL string
	for _, l := range listening {
		if strings.HasPrefix(str(l["purpose"]), "admin") {
			adminURL = "http://" + str(l["addr"])
		} else {
			base = "http://" + str(l["addr"])
		}
	}
	send := func(path, id, typ string, extra ...string) {
		t.Helper()
		args := append([]string{"send", "--provider", "livekit", "--url", base + path, "--key-id", "devkey",
			"--secret", "env:LK_SECRET", "--id", id, "--type", typ}, extra...)
		cmd := exec.Command(hookguard, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil && !slices.Contains(extra, "--forge") {
			t.Fatalf("hookguard send %s: %v\n%s", id, err, out)
		}
	}

	// Before the page is open: a forwarded event, a forgery, a duplicate,
	// and an event the app refuses on the queue route: a dead letter.
	send("/livekit", "EV_console_first", "room_started")
	send("/livekit", "EV_console_first", "room_started")
	send("/livekit", "EV_console_forged", "room_started", "--forge")
	send("/livekit-queue", cnRefused, "room_finished")
	deadID := waitDeadLetter(t, adminURL)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()

	// An alert would mean an event id ran as HTML.
	var alerted atomic.Value
	dialogs := chromedp.Events(bctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			alerted.Store(ev.Message)
			chromedp.Call(bctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()

	shots := screenshotDir(t)
	save := func(name string) {
		t.Helper()
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		p := filepath.Join(shots, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("saved %s", p)
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			save("failed.png")
			t.Fatalf("%s: %v", what, err)
		}
	}
	poll := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
			save("failed.png")
			t.Fatalf("%s: %v", what, err)
		}
	}

	// The console sends a visitor without a session to the login form.
	do("open the console", chromedp.Navigate(adminURL+"/"))
	if loc, _ := chromedp.Run(bctx, chromedp.Location()); !strings.HasSuffix(loc, "/login") {
		t.Fatalf("the console without a session is at %s, not the login form", loc)
	}
	do("a wrong token", chromedp.SendKeys(chromedp.ID("token"), "wrong-token-0123456789"), chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("login-msg")))
	save("console-login.png")
	do("log in", chromedp.Evaluate[chromedp.Void](`document.getElementById("token").value = ""`), chromedp.SendKeys(chromedp.ID("token"), cnToken),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`#tiles .tile`)))
	poll("the events sent before the page opened", jsHasEventID("EV_console_first"))
	// A mark that a reload would wipe.
	do("mark the page", chromedp.Evaluate[chromedp.Void](`window.__noReload = 1`))

	// Sent while the page is open: they appear by themselves.
	send("/livekit", "EV_console_live", "participant_joined")
	send("/livekit", cnXSS, "track_published")
	poll("an event sent after the page loaded", jsHasEventID("EV_console_live"))
	poll("an event id that is HTML, as text", jsHasEventID(cnXSS))
	if n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("#events img, #events script").length`)); err != nil || n != 0 {
		t.Fatalf("the event id became markup: %d elements (%v)", n, err)
	}
	poll("the forgery's reason", `[...document.querySelectorAll("#events td.reason")].some(td => td.textContent.startsWith("signature mismatch"))`)
	poll("the route counters", `document.querySelector('#routes tr[data-route="/livekit"]') !== null`)
	poll("the dead letter", fmt.Sprintf(`document.querySelector('#dead tr[data-id=%q]') !== null`, deadID))
	save("console-desktop.png")

	// Replay the dead letter: it leaves the list and the app takes it.
	do("replay", chromedp.Click(chromedp.CSS(fmt.Sprintf(`button[data-action=replay][data-id=%q]`, deadID))))
	poll("the dead letter leaves the list", fmt.Sprintf(`document.querySelector('#dead tr[data-id=%q]') === null`, deadID))
	poll("the replay's message", `document.getElementById("queue-msg").textContent.startsWith("Replayed")`)
	deadline := time.Now().Add(10 * time.Second)
	for app.count(cnRefused) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the replayed dead letter never reached the app")
		}
		time.Sleep(20 * time.Millisecond)
	}
	poll("no dead letter left", `!document.getElementById("dead-empty").hidden`)
	if v, err := chromedp.Run(bctx, chromedp.Evaluate[int](`window.__noReload || 0`)); err != nil || v != 1 {
		t.Fatalf("the page reloaded (%v)", err)
	}
	save("console-after-replay.png")

	// A phone's width: the tables become cards, nothing overflows.
	do("phone width", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Sleep(500*time.Millisecond))
	if w, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); err != nil || w > 390 {
		t.Errorf("at 390 px the page is %d px wide (%v)", w, err)
	}
	save("console-phone.png")

	if m := alerted.Load(); m != nil {
		t.Fatalf("a dialog opened: %v: an event id ran as script", m)
	}
	if strings.Contains(hg.out.String(), cnToken) {
		t.Fatal("the admin token appears in hookguard's log")
	}
	if !strings.Contains(hg.out.String(), "login refused") {
		t.Error("the refused login was not logged")
	}
}

// jsHasEventID is an expression true once the events table shows id as
// the text of a cell.
func jsHasEventID(id string) string {
	b, _ := json.Marshal(id)
	return fmt.Sprintf(`[...document.querySelectorAll("#events td.event-id")].some(td => td.textContent === %s)`, b)
}

// waitDeadLetter waits for the queue's one dead letter and returns its id.
func waitDeadLetter(t *testing.T, adminURL string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest("GET", adminURL+"/queue/dead", nil)
		req.Header.Set("Authorization", "Bearer "+cnToken)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			var list struct {
				Dead []struct {
					ID      string `json:"id"`
					EventID string `json:"event_id"`
				} `json:"dead"`
			}
			json.NewDecoder(resp.Body).Decode(&list)
			resp.Body.Close()
			if len(list.Dead) == 1 && list.Dead[0].EventID == cnRefused {
				return list.Dead[0].ID
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
