package admin

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/queue"
)

const token = "admin-token-0123456789"

// deadQueue returns a real disk queue holding one dead letter and one
// waiting event of route /livekit.
func deadQueue(t *testing.T) (*queue.Disk, string) {
	t.Helper()
	d, err := queue.OpenDisk(queue.DiskConfig{Path: filepath.Join(t.TempDir(), "q.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx := context.Background()
	for _, id := range []string{"EV_dead", "EV_wait"} {
		if _, err := d.Enqueue(ctx, &queue.Event{Route: "/livekit", DedupeKey: id, EventID: id, Type: "room_started",
			Provider: "livekit", Body: []byte(`{"secret":"body"}`), Header: http.Header{}}); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := d.Take(ctx, "/livekit", 1, time.Minute)
	if err != nil || len(evs) != 1 {
		t.Fatalf("Take: %v %v", evs, err)
	}
	if err := d.Dead(ctx, evs[0], queue.Attempt{At: time.Now(), Status: 422, Duration: time.Millisecond},
		&queue.Answer{Status: 422, ContentType: "text/plain", Body: []byte("bad room")}); err != nil {
		t.Fatal(err)
	}
	return d, evs[0].ID
}

func call(t *testing.T, h http.Handler, method, path, tok string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func newTestHandler(q queue.Admin) http.Handler {
	return New(Config{Queue: q, Token: token, Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "m 1\n") }),
		Logger: slog.New(slog.DiscardHandler)})
}

func TestQueueAPI(t *testing.T) {
	q, deadID := deadQueue(t)
	h := newTestHandler(q)

	status, body := call(t, h, "GET", "/queue", token)
	var st Status
	if err := json.Unmarshal([]byte(body), &st); status != 200 || err != nil || len(st.Routes) != 1 {
		t.Fatalf("GET /queue: %d %s", status, body)
	}
	if r := st.Routes[0]; r.Route != "/livekit" || r.Waiting != 1 || r.Dead != 1 || r.OldestWaitingSeconds < 0 {
		t.Fatalf("status %+v", r)
	}

	status, body = call(t, h, "GET", "/queue/dead?route=/livekit", token)
	var list struct{ Dead []DeadLetter }
	if err := json.Unmarshal([]byte(body), &list); status != 200 || err != nil || len(list.Dead) != 1 {
		t.Fatalf("GET /queue/dead: %d %s", status, body)
	}
	if d := list.Dead[0]; d.ID != deadID || d.EventID != "EV_dead" || d.Attempts != 1 || d.LastStatus != 422 || d.FirstAttempt.IsZero() {
		t.Fatalf("dead letter %+v", d)
	}
	if _, body := call(t, h, "GET", "/queue/dead?route=/other", token); !strings.Contains(body, `"dead": []`) {
		t.Fatalf("other route: %s", body)
	}

	status, body = call(t, h, "GET", "/queue/dead/"+deadID, token)
	var detail DeadLetterDetail
	if err := json.Unmarshal([]byte(body), &detail); status != 200 || err != nil {
		t.Fatalf("GET /queue/dead/{id}: %d %s", status, body)
	}
	if len(detail.History) != 1 || detail.History[0].Status != 422 || detail.Answer == nil || detail.Answer.Body != "bad room" {
		t.Fatalf("detail %+v", detail)
	}
	if strings.Contains(body, "secret") {
		t.Fatal("the webhook's body is shown")
	}

	if status, body := call(t, h, "GET", "/queue/dead/999999", token); status != 404 {
		t.Fatalf("unknown id: %d %s", status, body)
	}
	if status, body := call(t, h, "POST", "/queue/dead/"+deadID+"/replay", token); status != 200 || !strings.Contains(body, `"replayed": 1`) {
		t.Fatalf("replay: %d %s", status, body)
	}
	if _, body := call(t, h, "GET", "/queue", token); !strings.Contains(body, `"dead": 0`) || !strings.Contains(body, `"waiting": 2`) {
		t.Fatalf("after replay: %s", body)
	}
	if status, _ := call(t, h, "POST", "/queue/dead/all/replay", token); status != 400 {
		t.Fatalf("replay all without route: %d", status)
	}
	if status, body := call(t, h, "POST", "/queue/dead/all/replay?route=/livekit", token); status != 200 || !strings.Contains(body, `"replayed": 0`) {
		t.Fatalf("replay all: %d %s", status, body)
	}
	if status, _ := call(t, h, "DELETE", "/queue/dead/"+deadID, token); status != 404 {
		t.Fatalf("drop of a replayed (no longer dead) event: %d", status)
	}
}

func TestQueueAPIDrop(t *testing.T) {
	q, deadID := deadQueue(t)
	h := newTestHandler(q)
	if status, body := call(t, h, "DELETE", "/queue/dead/"+deadID, token); status != 200 {
		t.Fatalf("drop: %d %s", status, body)
	}
	if _, body := call(t, h, "GET", "/queue", token); !strings.Contains(body, `"dead": 0`) {
		t.Fatalf("after drop: %s", body)
	}
}

// Every request that tries to get past the token: none reaches the queue.
func TestTokenGuardsEverythingButHealth(t *testing.T) {
	q, deadID := deadQueue(t)
	h := newTestHandler(q)
	for _, c := range []struct{ method, path, tok string }{
		{"GET", "/queue", ""},
		{"GET", "/queue", "wrong-token-0123456789"},
		{"GET", "/queue", token + "x"},
		{"GET", "/queue", token[:len(token)-1]},
		{"POST", "/queue/dead/" + deadID + "/replay", ""},
		{"DELETE", "/queue/dead/" + deadID, "Bearer"},
		{"GET", "/metrics", ""},
	} {
		if status, body := call(t, h, c.method, c.path, c.tok); status != http.StatusUnauthorized {
			t.Errorf("%s %s with %q: %d %s", c.method, c.path, c.tok, status, body)
		}
	}
	// Basic auth or a token in the query are not accepted either.
	req := httptest.NewRequest("GET", "/queue?token="+token, nil)
	req.SetBasicAuth("admin", token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("basic auth / query token: %d", rec.Code)
	}
	if st, _ := q.Stats(context.Background()); st[0].Dead != 1 {
		t.Fatal("an unauthorized request changed the queue")
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if status, _ := call(t, h, "GET", p, ""); status != 200 {
			t.Errorf("%s without token: %d", p, status)
		}
	}
	if status, _ := call(t, h, "GET", "/metrics", token); status != 200 {
		t.Error("/metrics with the token")
	}
	open := New(Config{Token: token, MetricsOpen: true, Metrics: http.NotFoundHandler()})
	if status, _ := call(t, open, "GET", "/metrics", ""); status != 404 { // reached the (not found) metrics handler
		t.Errorf("open metrics: %d", status)
	}
}

func TestQueueAPIWithoutQueueRoutes(t *testing.T) {
	h := New(Config{})
	if status, body := call(t, h, "GET", "http://127.0.0.1:9090/queue", ""); status != 404 || !strings.Contains(body, "delivery: queue") {
		t.Fatalf("%d %s", status, body)
	}
}

func TestReadyz(t *testing.T) {
	h := New(Config{Checks: []ReadyCheck{{Name: "store", Check: func(context.Context) error { return io.ErrUnexpectedEOF }}}})
	if status, body := call(t, h, "GET", "/readyz", ""); status != 503 || !strings.Contains(body, "store") {
		t.Fatalf("%d %s", status, body)
	}
}
