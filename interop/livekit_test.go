package interop_test

// LiveKit's own Go notifier (github.com/livekit/protocol/webhook, the code
// livekit-server sends webhooks with) is the sender here: it signs, queues,
// retries and posts exactly as in production, to a hookguard handler in
// front of a recording app that verifies what it receives with LiveKit's own
// receiver (webhook.ReceiveWebhookEvent).

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	lklogger "github.com/livekit/protocol/logger"
	"github.com/livekit/protocol/webhook"

	"github.com/hookguard/hookguard/dedupe"
	"github.com/hookguard/hookguard/proxy"
	"github.com/hookguard/hookguard/verify"
)

const (
	lkAPIKey    = "APIinteropKey"
	lkAPISecret = "interop-secret-0123456789abcdef0123456789"
	lkRoute     = "/livekit"

	// lkWait bounds every wait on the notifier: its retries back off 1 s,
	// 2 s, 4 s, ...
	lkWait = 15 * time.Second
)

// lkSeen is one request as the app behind hookguard received it.
type lkSeen struct {
	header http.Header
	body   []byte
	event  *livekit.WebhookEvent // as LiveKit's receiver parsed it
	err    error                 // LiveKit's receiver refused the request
	status int                   // what the app answered
}

// lkApp is the app behind hookguard. It checks every request with LiveKit's
// own receiver (the Authorization header passes through hookguard) and
// answers 503 to the first failFirst[id] copies of an event.
type lkApp struct {
	mu        sync.Mutex
	seen      []lkSeen
	failFirst map[string]int
	keys      auth.KeyProvider
}

func (a *lkApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(raw))
	ev, err := webhook.ReceiveWebhookEvent(r, a.keys)
	s := lkSeen{header: r.Header.Clone(), body: raw, event: ev, err: err, status: http.StatusOK}

	a.mu.Lock()
	id := r.Header.Get(proxy.HeaderEventID)
	if a.failFirst[id] > 0 {
		a.failFirst[id]--
		s.status = http.StatusServiceUnavailable
	}
	if err != nil {
		s.status = http.StatusUnauthorized
	}
	a.seen = append(a.seen, s)
	a.mu.Unlock()

	w.WriteHeader(s.status)
}

// byID returns the requests the app received with this forwarded event id.
func (a *lkApp) byID(id string) []lkSeen {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []lkSeen
	for _, s := range a.seen {
		if s.header.Get(proxy.HeaderEventID) == id {
			out = append(out, s)
		}
	}
	return out
}

func (a *lkApp) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.seen)
}

// lkSent is one request as the notifier put it on the wire, and what
// hookguard answered.
type lkSent struct {
	auth   string
	body   []byte
	status int
}

// lkTap sits between the notifier and hookguard in the same server and
// records the exact bytes the notifier sent and the status it got back.
type lkTap struct {
	next http.Handler
	mu   sync.Mutex
	sent []lkSent
}

func (t *lkTap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(raw))
	sw := &statusWriter{ResponseWriter: w}
	t.next.ServeHTTP(sw, r)
	t.mu.Lock()
	t.sent = append(t.sent, lkSent{auth: r.Header.Get("Authorization"), body: raw, status: sw.status})
	t.mu.Unlock()
}

func (t *lkTap) all() []lkSent {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]lkSent(nil), t.sent...)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// lkRig is a recording app behind a hookguard handler with one livekit
// route, served over real HTTP.
type lkRig struct {
	app *lkApp
	tap *lkTap
	url string // the webhook URL to give the notifier
}

func newLKRig(t *testing.T) *lkRig {
	t.Helper()
	app := &lkApp{failFirst: map[string]int{}, keys: auth.NewSimpleKeyProvider(lkAPIKey, lkAPISecret)}
	appSrv := httptest.NewServer(app)
	t.Cleanup(appSrv.Close)
	up, err := url.Parse(appSrv.URL + "/hooks")
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.New(verify.ProviderLiveKit, verify.Options{Keys: map[string][]string{lkAPIKey: {lkAPISecret}}})
	if err != nil {
		t.Fatal(err)
	}
	store, err := dedupe.NewMemory(dedupe.MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	h, err := proxy.New(proxy.Config{
		Routes: []proxy.Route{{Path: lkRoute, Provider: verify.ProviderLiveKit, Verifier: v, Upstream: up}},
		Store:  store,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	tap := &lkTap{next: h}
	hgSrv := httptest.NewServer(tap)
	t.Cleanup(hgSrv.Close)
	return &lkRig{app: app, tap: tap, url: hgSrv.URL + lkRoute}
}

// lkNotifier is LiveKit's notifier posting to url, configured as
// livekit-server configures it (default retries and backoff). Each
// processed event (delivered, refused or given up on) is sent to the
// returned channel.
func lkNotifier(t *testing.T, url, apiKey, apiSecret string) (*webhook.ResourceURLNotifier, <-chan *livekit.WebhookInfo) {
	t.Helper()
	// The notifier's metrics must exist before it sends, or it panics.
	webhook.InitWebhookStats(prometheus.Labels{})
	n := webhook.NewResourceURLNotifier(webhook.ResourceURLNotifierParams{
		URL:       url,
		APIKey:    apiKey,
		APISecret: apiSecret,
		Logger:    lklogger.GetDiscardLogger(),
	})
	done := make(chan *livekit.WebhookInfo, 64)
	n.RegisterProcessedHook(func(_ context.Context, whi *livekit.WebhookInfo) { done <- whi })
	// Stop(false) lets the queues drain what is left; every test has
	// already waited for its events.
	t.Cleanup(func() { n.Stop(false) })
	return n, done
}

// waitProcessed waits until the notifier has finished with n events (each
// after its last attempt) and returns them by event id.
func waitProcessed(t *testing.T, done <-chan *livekit.WebhookInfo, n int) map[string]*livekit.WebhookInfo {
	t.Helper()
	got := map[string]*livekit.WebhookInfo{}
	deadline := time.After(lkWait)
	for len(got) < n {
		select {
		case whi := <-done:
			got[whi.EventId] = whi
		case <-deadline:
			t.Fatalf("the notifier processed %d of %d events within %v", len(got), n, lkWait)
		}
	}
	return got
}

var lkSeq struct {
	sync.Mutex
	n int
}

// lkEventID is a fresh event id in LiveKit's format.
func lkEventID() string {
	lkSeq.Lock()
	defer lkSeq.Unlock()
	lkSeq.n++
	return fmt.Sprintf("EV_interop%05d%x", lkSeq.n, time.Now().UnixNano()&0xffffff)
}

// lkEvents are events as livekit-server builds them, one per kind of
// resource (each gets its own queue in the notifier).
func lkEvents() []*livekit.WebhookEvent {
	now := time.Now().Unix()
	room := &livekit.Room{Sid: "RM_tYR4fbfmcGeh", Name: "interop-room", EmptyTimeout: 5, CreationTime: now}
	return []*livekit.WebhookEvent{
		{Event: webhook.EventRoomStarted, Room: room, Id: lkEventID(), CreatedAt: now},
		{Event: webhook.EventParticipantJoined, Room: room, Id: lkEventID(), CreatedAt: now,
			Participant: &livekit.ParticipantInfo{Sid: "PA_alice", Identity: "alice", Name: "Alice", JoinedAt: now, State: livekit.ParticipantInfo_ACTIVE}},
		{Event: webhook.EventTrackPublished, Room: room, Id: lkEventID(), CreatedAt: now,
			Participant: &livekit.ParticipantInfo{Sid: "PA_bob", Identity: "bob"},
			Track:       &livekit.TrackInfo{Sid: "TR_cam", Type: livekit.TrackType_VIDEO, Source: livekit.TrackSource_CAMERA, Width: 1280, Height: 720}},
		{Event: webhook.EventEgressEnded, Id: lkEventID(), CreatedAt: now,
			EgressInfo: &livekit.EgressInfo{EgressId: "EG_interop", RoomName: "interop-room", Status: livekit.EgressStatus_EGRESS_COMPLETE, EndedAt: now * 1e9}},
	}
}

func TestLiveKitNotifier(t *testing.T) {
	t.Run("every event reaches the app once, unchanged, with normalized headers", func(t *testing.T) {
		t.Parallel()
		rig := newLKRig(t)
		n, done := lkNotifier(t, rig.url, lkAPIKey, lkAPISecret)
		events := lkEvents()
		for _, ev := range events {
			if err := n.QueueNotify(context.Background(), ev); err != nil {
				t.Fatalf("QueueNotify(%s): %v", ev.Id, err)
			}
		}
		processed := waitProcessed(t, done, len(events))
		sent := rig.tap.all()
		if len(sent) != len(events) {
			t.Fatalf("the notifier made %d requests, want %d (one per event, no retry)", len(sent), len(events))
		}
		for _, ev := range events {
			t.Run(ev.Event, func(t *testing.T) {
				if whi := processed[ev.Id]; whi == nil || whi.SendError != "" || whi.IsDropped {
					t.Errorf("notifier: send error %q, dropped %v", whi.SendError, whi.IsDropped)
				}
				seen := rig.app.byID(ev.Id)
				if len(seen) != 1 {
					t.Fatalf("the app received event %s %d times, want 1", ev.Id, len(seen))
				}
				got := seen[0]
				if got.err != nil {
					t.Fatalf("LiveKit's receiver refused the forwarded request: %v", got.err)
				}
				if got.event.Id != ev.Id || got.event.Event != ev.Event {
					t.Errorf("the app parsed event %s %q, want %s %q", got.event.Id, got.event.Event, ev.Id, ev.Event)
				}
				var wire *lkSent
				for i, s := range sent {
					if bytes.Contains(s.body, []byte(`"`+ev.Id+`"`)) {
						wire = &sent[i]
					}
				}
				if wire == nil {
					t.Fatalf("no request of the notifier carried %s", ev.Id)
				}
				if !bytes.Equal(got.body, wire.body) {
					t.Errorf("body changed on the way:\nnotifier sent %s\napp received   %s", wire.body, got.body)
				}
				if wire.status != http.StatusOK {
					t.Errorf("hookguard answered the notifier %d, want 200", wire.status)
				}
				if a := got.header.Get("Authorization"); a != wire.auth {
					t.Errorf("Authorization changed on the way")
				}
				if ct := got.header.Get("Content-Type"); ct != "application/webhook+json" {
					t.Errorf("Content-Type = %q, want LiveKit's application/webhook+json", ct)
				}
				want := map[string]string{
					proxy.HeaderProvider:  verify.ProviderLiveKit,
					proxy.HeaderRoute:     lkRoute,
					proxy.HeaderEventID:   ev.Id,
					proxy.HeaderEventType: ev.Event,
					proxy.HeaderEventTime: time.Unix(ev.CreatedAt, 0).UTC().Format(time.RFC3339Nano),
					proxy.HeaderKeyID:     lkAPIKey,
				}
				for k, v := range want {
					if g := got.header.Get(k); g != v {
						t.Errorf("%s = %q, want %q", k, g, v)
					}
				}
			})
		}
	})

	t.Run("a notifier with the wrong credentials is refused and the app sees nothing", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct{ name, key, secret string }{
			{"wrong secret", lkAPIKey, "not-the-secret-0123456789abcdef012345"},
			{"unknown api key", "APIsomeoneElse", lkAPISecret},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				rig := newLKRig(t)
				n, done := lkNotifier(t, rig.url, tc.key, tc.secret)
				ev := lkEvents()[0]
				if err := n.QueueNotify(context.Background(), ev); err != nil {
					t.Fatal(err)
				}
				waitProcessed(t, done, 1)
				sent := rig.tap.all()
				// A 4xx ends LiveKit's delivery: exactly one attempt.
				if len(sent) != 1 || sent[0].status != http.StatusUnauthorized {
					t.Errorf("hookguard answered %v, want one 401", statuses(sent))
				}
				if c := rig.app.count(); c != 0 {
					t.Errorf("the app received %d requests, want 0", c)
				}
			})
		}
	})

	t.Run("the app answering 503 once: the notifier's retry is forwarded", func(t *testing.T) {
		t.Parallel()
		rig := newLKRig(t)
		n, done := lkNotifier(t, rig.url, lkAPIKey, lkAPISecret)
		ev := lkEvents()[0]
		rig.app.mu.Lock()
		rig.app.failFirst[ev.Id] = 1
		rig.app.mu.Unlock()
		if err := n.QueueNotify(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		whi := waitProcessed(t, done, 1)[ev.Id]
		if whi == nil || whi.SendError != "" {
			t.Errorf("notifier: send error %q", whi.SendError)
		}
		sent := rig.tap.all()
		if got := statuses(sent); fmt.Sprint(got) != fmt.Sprint([]int{503, 200}) {
			t.Errorf("hookguard answered the notifier %v, want [503 200]", got)
		}
		seen := rig.app.byID(ev.Id)
		if len(seen) != 2 {
			t.Fatalf("the app received the event %d times, want 2 (the failed try and the retry)", len(seen))
		}
		if seen[0].status != http.StatusServiceUnavailable || seen[1].status != http.StatusOK {
			t.Errorf("the app answered %d then %d, want 503 then 200", seen[0].status, seen[1].status)
		}
		for i, s := range seen {
			if s.err != nil {
				t.Errorf("copy %d: LiveKit's receiver refused it: %v", i, s.err)
			}
			if len(sent) == 2 && !bytes.Equal(s.body, sent[i].body) {
				t.Errorf("copy %d: body changed on the way", i)
			}
		}
	})

	t.Run("an event queued again after delivery is not forwarded again", func(t *testing.T) {
		t.Parallel()
		rig := newLKRig(t)
		n, done := lkNotifier(t, rig.url, lkAPIKey, lkAPISecret)
		ev := lkEvents()[1]
		for range 3 {
			if err := n.QueueNotify(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
			waitProcessed(t, done, 1)
		}
		sent := rig.tap.all()
		if got := statuses(sent); fmt.Sprint(got) != fmt.Sprint([]int{200, 200, 200}) {
			t.Errorf("hookguard answered the notifier %v, want [200 200 200] (duplicates acknowledged)", got)
		}
		if seen := rig.app.byID(ev.Id); len(seen) != 1 {
			t.Errorf("the app received the event %d times, want 1", len(seen))
		}
		if c := rig.app.count(); c != 1 {
			t.Errorf("the app received %d requests, want 1", c)
		}
	})
}

func statuses(sent []lkSent) []int {
	out := make([]int, len(sent))
	for i, s := range sent {
		out[i] = s.status
	}
	return out
}
