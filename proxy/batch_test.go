package proxy

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/verify"
)

const (
	lsApp    = "app-7f3c"
	lsSecret = "liveswitch-shared-secret"
)

func liveswitchBatch(ids []string, at time.Time) []byte {
	var items []string
	for _, id := range ids {
		items = append(items, `{"id":"`+id+`","timestamp":`+strconv.FormatInt(at.UnixMilli(), 10)+
			`,"origin":"gateway","type":"channel.client.joined","channel":{"id":"ch1","applicationId":"`+lsApp+`"}}`)
	}
	return []byte(`{"batch":[` + strings.Join(items, ",") + `]}`)
}

func liveswitchRequest(t *testing.T, url string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-ApplicationSignature", verify.SignLiveSwitch([]byte(lsSecret), body))
	return req
}

func withLiveSwitch(t *testing.T) func(*Config) {
	return func(c *Config) {
		c.Routes = append(c.Routes, Route{Path: "/liveswitch", Provider: verify.ProviderLiveSwitch,
			Upstream: mustURL(t, c.Routes[0].Upstream.Scheme+"://"+c.Routes[0].Upstream.Host+"/hooks/liveswitch"),
			Verifier: mustVerifier(t, verify.ProviderLiveSwitch, map[string][]string{lsApp: {lsSecret}})})
	}
}

// TestBatchIsSplitAndSurvivesAFailureHalfway: each event of a LiveSwitch
// batch is forwarded on its own with its own headers; when the app fails on
// the third, the sender gets the failure; its retry of the whole batch
// sends only what was not delivered.
func TestBatchIsSplitAndSurvivesAFailureHalfway(t *testing.T) {
	f := newFixture(t, withLiveSwitch(t))
	now := time.Now()
	ids := []string{"e1", "e2", "e3", "e4"}
	body := liveswitchBatch(ids, now)

	// The app fails from the third request on.
	var calls int
	f.app.srv.Config.Handler = failAfter(f.app, 2, &calls)
	status, _, _ := do(t, liveswitchRequest(t, f.front.URL+"/liveswitch", body))
	if status != http.StatusServiceUnavailable {
		t.Fatalf("batch with a failing app: status %d, want the app's 503", status)
	}
	got := f.app.receivedByID()
	if got["e1"] != 1 || got["e2"] != 1 || got["e4"] != 0 {
		t.Fatalf("after the failure: %v", got)
	}

	// The app recovers; the sender retries the whole batch.
	f.app.srv.Config.Handler = failAfter(f.app, 1<<30, &calls)
	status, _, answer := do(t, liveswitchRequest(t, f.front.URL+"/liveswitch", body))
	if status != 200 || !strings.Contains(answer, `"duplicates":2`) || !strings.Contains(answer, `"forwarded":2`) {
		t.Fatalf("retry: %d %s", status, answer)
	}
	got = f.app.receivedByID()
	for _, id := range ids {
		want := 1
		if id == "e3" {
			want = 2 // the failed try and the retry
		}
		if got[id] != want {
			t.Errorf("%s reached the app %d times, want %d", id, got[id], want)
		}
	}
	last := f.app.last()
	if last.header.Get(HeaderEventID) != "e4" || last.header.Get(HeaderEventType) != "channel.client.joined" ||
		last.header.Get(HeaderKeyID) != lsApp || last.header.Get(HeaderProvider) != "liveswitch" {
		t.Errorf("headers of a split event: %v", last.header)
	}
	if !bytes.HasPrefix(last.body, []byte(`{"id":"e4"`)) {
		t.Errorf("a split event's body is the event itself, got %s", last.body)
	}
	if last.header.Get("X-ApplicationSignature") != "" {
		t.Error("the batch's signature does not cover a split event and must not be forwarded with it")
	}
}

// failAfter wraps the recording app so that it answers 503 (after
// recording) from call n+1 on.
func failAfter(a *recordingApp, n int, calls *int) http.Handler {
	inner := a.handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		*calls++
		fail := *calls > n
		a.mu.Unlock()
		if fail {
			a.status.Store(503)
		} else {
			a.status.Store(200)
		}
		inner.ServeHTTP(w, r)
	})
}

func TestEveryProviderForwardsWithTheSameHeaders(t *testing.T) {
	const whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	const trtcKey = "123654"
	f := newFixture(t, func(c *Config) {
		base := c.Routes[0].Upstream.Scheme + "://" + c.Routes[0].Upstream.Host
		c.Routes = append(c.Routes,
			Route{Path: "/trtc", Provider: verify.ProviderTencentTRTC, Upstream: mustURL(t, base+"/trtc"),
				Verifier: mustVerifier(t, verify.ProviderTencentTRTC, map[string][]string{"1400000001": {trtcKey}})},
			Route{Path: "/sw", Provider: verify.ProviderStandardWebhooks, Upstream: mustURL(t, base+"/sw"),
				Verifier: mustVerifier(t, verify.ProviderStandardWebhooks, map[string][]string{"partner": {whsec}})},
			Route{Path: "/liveswitch", Provider: verify.ProviderLiveSwitch, Upstream: mustURL(t, base+"/ls"),
				Verifier: mustVerifier(t, verify.ProviderLiveSwitch, map[string][]string{lsApp: {lsSecret}})},
		)
	})
	now := time.Now()
	key, _ := verify.ParseStandardSecret(whsec)
	trtcBody := []byte(`{"EventGroupId":1,"EventType":103,"CallbackTs":` + strconv.FormatInt(now.UnixMilli(), 10) + `,"EventInfo":{"RoomId":8489,"UserId":"u1"}}`)
	swBody := []byte(`{"type":"invoice.paid","data":{"id":"in_1"}}`)
	tcBody := []byte(`{"CallbackCommand":"Live.CallbackAfterCreateRoom","EventTime":` + strconv.FormatInt(now.UnixMilli(), 10) + `}`)
	cases := []struct {
		name     string
		req      func() *http.Request
		provider string
		id, typ  string
		keyID    string
	}{
		{"livekit", func() *http.Request {
			return livekitRequest(t, f.front.URL+"/livekit", livekitBody("EV_hdr", "room_started", now), lkKey, lkSecret, now)
		}, "livekit", "EV_hdr", "room_started", lkKey},
		{"tencent", func() *http.Request {
			return tencentRequest(t, f.front.URL, tcBody, tcApp, tcToken, now)
		}, "tencent", verify.BodyKey(tcApp, tcBody), "Live.CallbackAfterCreateRoom", tcApp},
		{"tencent-trtc", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, f.front.URL+"/trtc", bytes.NewReader(trtcBody))
			r.Header.Set("SdkAppId", "1400000001")
			r.Header.Set("Sign", verify.SignTRTC([]byte(trtcKey), trtcBody))
			return r
		}, "tencent-trtc", verify.BodyKey("1400000001", trtcBody), "103", "1400000001"},
		{"standard-webhooks", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, f.front.URL+"/sw", bytes.NewReader(swBody))
			r.Header.Set("webhook-id", "msg_1")
			r.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
			r.Header.Set("webhook-signature", verify.SignStandard(key, "msg_1", now, swBody))
			return r
		}, "standard-webhooks", "msg_1", "invoice.paid", "partner"},
		{"liveswitch single", func() *http.Request {
			b := []byte(`{"id":"ls1","timestamp":` + strconv.FormatInt(now.UnixMilli(), 10) + `,"origin":"client","type":"client.registered","client":{"id":"c1","applicationId":"` + lsApp + `"}}`)
			return liveswitchRequest(t, f.front.URL+"/liveswitch", b)
		}, "liveswitch", "ls1", "client.registered", lsApp},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.app.count()
			status, _, answer := do(t, tc.req())
			if status != 200 || f.app.count() != before+1 {
				t.Fatalf("status %d %q, app received %d new", status, answer, f.app.count()-before)
			}
			h := f.app.last().header
			want := map[string]string{HeaderProvider: tc.provider, HeaderEventID: tc.id, HeaderEventType: tc.typ, HeaderKeyID: tc.keyID}
			for k, v := range want {
				if h.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, h.Get(k), v)
				}
			}
			if h.Get(HeaderRoute) == "" {
				t.Errorf("no %s", HeaderRoute)
			}
			// A duplicate is not forwarded.
			status, _, _ = do(t, tc.req())
			if status != 200 || f.app.count() != before+1 {
				t.Errorf("duplicate: status %d, app received %d new", status, f.app.count()-before)
			}
		})
	}
}
