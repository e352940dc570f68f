package interop_test

// The official Standard Webhooks Go library
// (github.com/standard-webhooks/standard-webhooks/libraries/go) as a peer of
// hookguard on both sides: as the app's verifier of what hookguard forwards
// with a route's forward signing secret, for every provider and both
// forward formats; and as a sender into a standard-webhooks route.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookguard/hookguard/dedupe"
	"github.com/hookguard/hookguard/proxy"
	"github.com/hookguard/hookguard/verify"
)

const (
	// swForwardSecret signs what hookguard forwards to the app.
	swForwardSecret = "whsec_aG9va2d1YXJkLWludGVyb3AtZm9yd2FyZC1rZXktMzI="
	// swInboundSecret is the secret a Standard Webhooks sender signs with.
	swInboundSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	// swOtherSecret is a valid secret that neither side configured.
	swOtherSecret = "whsec_c29tZW9uZS1lbHNlcy1zZWNyZXQtMzItYnl0ZXMhISE="

	swLiveKitKey    = "devkey"
	swLiveKitSecret = "livekit-secret-for-interop-0123456789"
	swTencentApp    = "1400000000"
	swTencentToken  = "xxxxyyyy"
	swTRTCApp       = "1400000001"
	swTRTCKey       = "123654"
	swLiveSwitchApp = "my-liveswitch-app"
	swLiveSwitchKey = "liveswitch-shared-secret"
	swPartnerLabel  = "partner"
)

// swSeen is one request as the app received it, checked with the official
// library and the route's forward secret.
type swSeen struct {
	path   string
	header http.Header
	body   []byte
	err    error // the official library's verdict
}

type swApp struct {
	wh   *standardwebhooks.Webhook
	mu   sync.Mutex
	seen []swSeen
}

func (a *swApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	err := a.wh.Verify(body, r.Header)
	a.mu.Lock()
	a.seen = append(a.seen, swSeen{path: r.URL.Path, header: r.Header.Clone(), body: body, err: err})
	a.mu.Unlock()
	if err != nil {
		http.Error(w, "forwarding signature: "+err.Error(), http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"ok":true}`)
}

// take returns and forgets what the app received so far.
func (a *swApp) take() []swSeen {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.seen
	a.seen = nil
	return s
}

// swRig is hookguard with one route per provider, all forwarding in format
// to one app that verifies with the official library.
type swRig struct {
	app *swApp
	url string
}

func newSWRig(t *testing.T, format string) *swRig {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(swForwardSecret)
	if err != nil {
		t.Fatal(err)
	}
	app := &swApp{wh: wh}
	appSrv := httptest.NewServer(app)
	t.Cleanup(appSrv.Close)
	fwdKey, err := verify.ParseStandardSecret(swForwardSecret)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]map[string][]string{
		verify.ProviderLiveKit:          {swLiveKitKey: {swLiveKitSecret}},
		verify.ProviderTencent:          {swTencentApp: {swTencentToken}},
		verify.ProviderTencentTRTC:      {swTRTCApp: {swTRTCKey}},
		verify.ProviderLiveSwitch:       {swLiveSwitchApp: {swLiveSwitchKey}},
		verify.ProviderStandardWebhooks: {swPartnerLabel: {swInboundSecret}},
	}
	var routes []proxy.Route
	for _, p := range verify.Providers() {
		if keys[p] == nil {
			continue // the senders of PROVIDERS.md's "More senders" are checked against their own SDKs
		}
		v, err := verify.New(p, verify.Options{Keys: keys[p]})
		if err != nil {
			t.Fatal(err)
		}
		up, _ := url.Parse(appSrv.URL + "/app/" + p)
		routes = append(routes, proxy.Route{
			Path: "/" + p, Provider: p, Verifier: v, Upstream: up,
			Forward: proxy.Forward{SigningKey: fwdKey, Format: format},
		})
	}
	store, err := dedupe.NewMemory(dedupe.MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	h, err := proxy.New(proxy.Config{Routes: routes, Store: store, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &swRig{app: app, url: srv.URL}
}

// swCase is one signed request of a provider and the events hookguard
// must forward for it.
type swCase struct {
	name     string
	provider string
	header   http.Header
	query    url.Values
	body     []byte
	want     []swEvent
}

type swEvent struct {
	id, typ, keyID string
	body           []byte // the event's own bytes
}

var swSeq struct {
	sync.Mutex
	n int
}

func swID(prefix string) string {
	swSeq.Lock()
	defer swSeq.Unlock()
	swSeq.n++
	return fmt.Sprintf("%s%d_%d", prefix, swSeq.n, time.Now().UnixNano())
}

// swCases builds fresh, correctly signed requests for every provider, as
// each real sender signs them.
func swCases(t *testing.T) []swCase {
	t.Helper()
	now := time.Now()
	var cases []swCase

	{ // LiveKit: JWT in Authorization over the protojson body.
		id := swID("EV_")
		body := fmt.Appendf(nil, `{"event":"room_started","room":{"sid":"RM_tYR4fbfmcGeh","name":"interop-room","emptyTimeout":5,"creationTime":"%d"},"id":"%s","createdAt":"%d"}`, now.Unix(), id, now.Unix())
		tok, err := verify.SignLiveKit(swLiveKitKey, []byte(swLiveKitSecret), body, now)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, swCase{name: "livekit", provider: verify.ProviderLiveKit,
			header: http.Header{"Authorization": {tok}, "Content-Type": {"application/webhook+json"}}, body: body,
			want: []swEvent{{id: id, typ: "room_started", keyID: swLiveKitKey, body: body}}})
	}
	{ // Tencent Chat / TUILiveKit: Sign and RequestTime in the query.
		body := fmt.Appendf(nil, `{"CallbackCommand":"Live.CallbackAfterCreateRoom","EventTime":%d,"RoomId":"room-%s","Operator_Account":"alice"}`, now.UnixMilli(), swID(""))
		q := url.Values{
			"SdkAppid": {swTencentApp}, "CallbackCommand": {"Live.CallbackAfterCreateRoom"}, "contenttype": {"json"},
			"ClientIP": {"203.0.113.7"}, "OptPlatform": {"RESTAPI"},
			"RequestTime": {strconv.FormatInt(now.Unix(), 10)}, "Sign": {verify.SignTencent(swTencentToken, now.Unix())},
		}
		cases = append(cases, swCase{name: "tencent", provider: verify.ProviderTencent,
			header: http.Header{"Content-Type": {"application/json"}}, query: q, body: body,
			want: []swEvent{{id: verify.BodyKey(swTencentApp, body), typ: "Live.CallbackAfterCreateRoom", keyID: swTencentApp, body: body}}})
	}
	{ // Tencent TRTC: Sign over the body, tabs and newlines as TRTC writes them.
		body := fmt.Appendf(nil, "{\n\t\"EventGroupId\":\t2,\n\t\"EventType\":\t204,\n\t\"CallbackTs\":\t%d,\n\t\"EventInfo\":\t{\n\t\t\"RoomId\":\t8489,\n\t\t\"EventTs\":\t%d,\n\t\t\"UserId\":\t\"%s\",\n\t\t\"Reason\":\t0\n\t}\n}", now.UnixMilli(), now.Unix(), swID("user_"))
		h := http.Header{"Content-Type": {"application/json"}, "Sdkappid": {swTRTCApp}, "Sign": {verify.SignTRTC([]byte(swTRTCKey), body)}}
		cases = append(cases, swCase{name: "tencent-trtc", provider: verify.ProviderTencentTRTC, header: h, body: body,
			want: []swEvent{{id: verify.BodyKey(swTRTCApp, body), typ: "204", keyID: swTRTCApp, body: body}}})
	}
	lsEvent := func(id, typ string) []byte {
		return fmt.Appendf(nil, `{"id":"%s","timestamp":%d,"origin":"gateway","type":"%s","channel":{"id":"ch-1","applicationId":"%s"}}`, id, now.UnixMilli(), typ, swLiveSwitchApp)
	}
	{ // LiveSwitch, one event.
		id := swID("ls_")
		body := lsEvent(id, "channel.activated")
		cases = append(cases, swCase{name: "liveswitch", provider: verify.ProviderLiveSwitch,
			header: http.Header{"Content-Type": {"application/json"}, "X-Applicationsignature": {verify.SignLiveSwitch([]byte(swLiveSwitchKey), body)}},
			body:   body, want: []swEvent{{id: id, typ: "channel.activated", keyID: swLiveSwitchApp, body: body}}})
	}
	{ // LiveSwitch batch: split into one forwarded request per event.
		var want []swEvent
		var items [][]byte
		for i, typ := range []string{"channel.client.joined", "client.registered", "channel.client.left"} {
			id := swID(fmt.Sprintf("lsb%d_", i))
			ev := lsEvent(id, typ)
			items = append(items, ev)
			want = append(want, swEvent{id: id, typ: typ, keyID: swLiveSwitchApp, body: ev})
		}
		body := append(append([]byte("{\"batch\": [\n  "), bytes.Join(items, []byte(",\n  "))...), "\n]}"...)
		cases = append(cases, swCase{name: "liveswitch batch of 3", provider: verify.ProviderLiveSwitch,
			header: http.Header{"Content-Type": {"application/json"}, "X-Applicationsignature": {verify.SignLiveSwitch([]byte(swLiveSwitchKey), body)}},
			body:   body, want: want})
	}
	{ // Standard Webhooks inbound, signed by the official library.
		id := swID("msg_")
		body := fmt.Appendf(nil, `{"type":"invoice.paid","timestamp":"%s","data":{"id":"in_%s"}}`, now.UTC().Format(time.RFC3339), id)
		cases = append(cases, swCase{name: "standard-webhooks", provider: verify.ProviderStandardWebhooks,
			header: swSign(t, swInboundSecret, id, now, body), body: body,
			want: []swEvent{{id: id, typ: "invoice.paid", keyID: swPartnerLabel, body: body}}})
	}
	return cases
}

// swSign returns the headers the official library makes for a message.
func swSign(t *testing.T, secret, id string, at time.Time, body []byte) http.Header {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(id, at, body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"Content-Type": {"application/json"}}
	h.Set(standardwebhooks.HeaderWebhookID, id)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(at.Unix(), 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, sig)
	return h
}

func swPost(t *testing.T, u string, h http.Header, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestForwardSignatureVerifiesWithOfficialLibrary(t *testing.T) {
	other, err := standardwebhooks.NewWebhook(swOtherSecret)
	if err != nil {
		t.Fatal(err)
	}
	official, err := standardwebhooks.NewWebhook(swForwardSecret)
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{proxy.FormatOriginal, proxy.FormatCloudEvents} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			rig := newSWRig(t, format)
			for _, tc := range swCases(t) {
				t.Run(tc.name, func(t *testing.T) {
					u := rig.url + "/" + tc.provider
					if tc.query != nil {
						u += "?" + tc.query.Encode()
					}
					status, answer := swPost(t, u, tc.header, tc.body)
					if status != http.StatusOK {
						t.Fatalf("hookguard answered %d %q, want 200", status, answer)
					}
					seen := rig.app.take()
					if len(seen) != len(tc.want) {
						t.Fatalf("the app received %d requests, want %d", len(seen), len(tc.want))
					}
					for i, want := range tc.want {
						got := seen[i]
						if got.err != nil {
							t.Errorf("event %d: the official library refused hookguard's signature: %v", i, got.err)
						}
						if got.path != "/app/"+tc.provider {
							t.Errorf("event %d: forwarded to %s", i, got.path)
						}
						hdr := map[string]string{
							standardwebhooks.HeaderWebhookID: want.id,
							proxy.HeaderEventID:              want.id,
							proxy.HeaderProvider:             tc.provider,
							proxy.HeaderRoute:                "/" + tc.provider,
							proxy.HeaderEventType:            want.typ,
							proxy.HeaderKeyID:                want.keyID,
						}
						for k, v := range hdr {
							if g := got.header.Get(k); g != v {
								t.Errorf("event %d: %s = %q, want %q", i, k, g, v)
							}
						}
						if ts, err := strconv.ParseInt(got.header.Get(standardwebhooks.HeaderWebhookTimestamp), 10, 64); err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
							t.Errorf("event %d: webhook-timestamp %q is not now", i, got.header.Get(standardwebhooks.HeaderWebhookTimestamp))
						}
						switch format {
						case proxy.FormatOriginal:
							if !bytes.Equal(got.body, want.body) {
								t.Errorf("event %d: body\n got %q\nwant %q", i, got.body, want.body)
							}
						case proxy.FormatCloudEvents:
							checkCloudEvent(t, got, tc.provider, want)
						}

						// The check is worth something: another secret and a
						// changed body are refused by the same library.
						if err := other.Verify(got.body, got.header); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
							t.Errorf("event %d: verifying with another secret: %v, want ErrNoMatchingSignature", i, err)
						}
						tampered := append(bytes.Clone(got.body), ' ')
						if err := official.Verify(tampered, got.header); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
							t.Errorf("event %d: verifying a changed body: %v, want ErrNoMatchingSignature", i, err)
						}
					}
				})
			}
		})
	}
}

// checkCloudEvent checks a forwarded CloudEvents 1.0 structured body.
func checkCloudEvent(t *testing.T, got swSeen, provider string, want swEvent) {
	t.Helper()
	if ct := got.header.Get("Content-Type"); ct != "application/cloudevents+json" {
		t.Errorf("Content-Type = %q, want application/cloudevents+json", ct)
	}
	var ce struct {
		SpecVersion     string          `json:"specversion"`
		ID              string          `json:"id"`
		Source          string          `json:"source"`
		Type            string          `json:"type"`
		Time            string          `json:"time"`
		DataContentType string          `json:"datacontenttype"`
		Data            json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(got.body, &ce); err != nil {
		t.Fatalf("the body is not JSON: %v: %s", err, got.body)
	}
	if ce.SpecVersion != "1.0" || ce.ID != want.id || ce.Source != "/hookguard/"+provider ||
		ce.Type != provider+"."+want.typ || ce.DataContentType != "application/json" {
		t.Errorf("envelope = {specversion %q id %q source %q type %q datacontenttype %q}, want {1.0 %q /hookguard/%s %s.%s application/json}",
			ce.SpecVersion, ce.ID, ce.Source, ce.Type, ce.DataContentType, want.id, provider, provider, want.typ)
	}
	if _, err := time.Parse(time.RFC3339Nano, ce.Time); err != nil {
		t.Errorf("time %q is not RFC 3339: %v", ce.Time, err)
	}
	var gotData, wantData bytes.Buffer
	if err := json.Compact(&gotData, ce.Data); err != nil {
		t.Fatalf("data: %v", err)
	}
	if err := json.Compact(&wantData, want.body); err != nil {
		t.Fatalf("want: %v", err)
	}
	if gotData.String() != wantData.String() {
		t.Errorf("data\n got %s\nwant %s", gotData.Bytes(), wantData.Bytes())
	}
}

func TestOfficialLibraryAsSender(t *testing.T) {
	rig := newSWRig(t, proxy.FormatOriginal)
	u := rig.url + "/" + verify.ProviderStandardWebhooks
	body := func(id string) []byte {
		return fmt.Appendf(nil, `{"type":"user.created","timestamp":"%s","data":{"id":"%s"}}`, time.Now().UTC().Format(time.RFC3339), id)
	}
	otherSig := func(id string, at time.Time, b []byte) string {
		return swSign(t, swOtherSecret, id, at, b).Get(standardwebhooks.HeaderWebhookSignature)
	}
	for _, tc := range []struct {
		name string
		// build returns the request's headers and body for message id.
		build      func(id string) (http.Header, []byte)
		wantStatus int
	}{
		{"signed by the library", func(id string) (http.Header, []byte) {
			b := body(id)
			return swSign(t, swInboundSecret, id, time.Now(), b), b
		}, http.StatusOK},
		{"svix- header names", func(id string) (http.Header, []byte) {
			b := body(id)
			h := swSign(t, swInboundSecret, id, time.Now(), b)
			out := http.Header{"Content-Type": {"application/json"}}
			for _, n := range []string{"id", "timestamp", "signature"} {
				out.Set("svix-"+n, h.Get("webhook-"+n))
			}
			return out, b
		}, http.StatusOK},
		{"rotation: the library's signature after one of another secret", func(id string) (http.Header, []byte) {
			b := body(id)
			now := time.Now()
			h := swSign(t, swInboundSecret, id, now, b)
			h.Set(standardwebhooks.HeaderWebhookSignature, otherSig(id, now, b)+" "+h.Get(standardwebhooks.HeaderWebhookSignature))
			return h, b
		}, http.StatusOK},
		{"body changed after signing", func(id string) (http.Header, []byte) {
			b := body(id)
			h := swSign(t, swInboundSecret, id, time.Now(), b)
			return h, bytes.Replace(b, []byte("user.created"), []byte("user.deleted"), 1)
		}, http.StatusUnauthorized},
		{"webhook-id changed after signing", func(id string) (http.Header, []byte) {
			b := body(id)
			h := swSign(t, swInboundSecret, id, time.Now(), b)
			h.Set(standardwebhooks.HeaderWebhookID, id+"x")
			return h, b
		}, http.StatusUnauthorized},
		{"signed with another secret", func(id string) (http.Header, []byte) {
			b := body(id)
			return swSign(t, swOtherSecret, id, time.Now(), b), b
		}, http.StatusUnauthorized},
		{"signed 10 minutes ago", func(id string) (http.Header, []byte) {
			b := body(id)
			return swSign(t, swInboundSecret, id, time.Now().Add(-10*time.Minute), b), b
		}, http.StatusUnauthorized},
		{"signed 10 minutes ahead", func(id string) (http.Header, []byte) {
			b := body(id)
			return swSign(t, swInboundSecret, id, time.Now().Add(10*time.Minute), b), b
		}, http.StatusUnauthorized},
		{"no signature", func(id string) (http.Header, []byte) {
			b := body(id)
			h := swSign(t, swInboundSecret, id, time.Now(), b)
			h.Del(standardwebhooks.HeaderWebhookSignature)
			return h, b
		}, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := swID("msg_")
			h, b := tc.build(id)
			status, answer := swPost(t, u, h, b)
			if status != tc.wantStatus {
				t.Fatalf("hookguard answered %d %q, want %d", status, answer, tc.wantStatus)
			}
			seen := rig.app.take()
			if tc.wantStatus != http.StatusOK {
				if len(seen) != 0 {
					t.Errorf("the app received %d requests, want 0", len(seen))
				}
				if !strings.HasPrefix(answer, "hookguard: ") {
					t.Errorf("answer %q, want hookguard's plain-text reason", answer)
				}
				return
			}
			if len(seen) != 1 {
				t.Fatalf("the app received %d requests, want 1", len(seen))
			}
			if seen[0].err != nil {
				t.Errorf("the official library refused the forwarded request: %v", seen[0].err)
			}
			if g := seen[0].header.Get(proxy.HeaderEventID); g != id {
				t.Errorf("%s = %q, want the sender's webhook-id %q", proxy.HeaderEventID, g, id)
			}
			if g := seen[0].header.Get(proxy.HeaderKeyID); g != swPartnerLabel {
				t.Errorf("%s = %q, want %q", proxy.HeaderKeyID, g, swPartnerLabel)
			}
			if !bytes.Equal(seen[0].body, b) {
				t.Errorf("body changed on the way")
			}
			// The sender retrying the same message: acknowledged, not forwarded.
			if status, answer := swPost(t, u, h, b); status != http.StatusOK {
				t.Errorf("retry: hookguard answered %d %q, want 200", status, answer)
			}
			if again := rig.app.take(); len(again) != 0 {
				t.Errorf("retry: the app received %d requests, want 0", len(again))
			}
		})
	}
}
