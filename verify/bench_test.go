package verify_test

// Benchmarks of every verifier on a realistic ~1 KiB event, built through
// verify.New exactly as hookguard's proxy builds them, and of refusing bad
// input (what a flood of forgeries costs). The per-provider benchmarks on a
// padded body (BenchmarkVerifyLiveKit, ...) live next to each verifier's
// tests; these complement them.
//
//	go test -run='^$' -bench='^Benchmark(Event1KiB|Reject|SignLiveKit)' -benchmem ./verify/

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/verify"
)

var benchT0 = time.Unix(1795344706, 0).UTC()

const (
	benchLKKey    = "APIbenchKey"
	benchLKSecret = "bench-secret-0123456789abcdef0123456789"
	benchTCApp    = "1400000000"
	benchTCToken  = "tencent-token"
	benchTRTCKey  = "123654abcdef"
	benchLSApp    = "a1b2c3d4-app"
	benchLSSecret = "liveswitch-shared-secret"
	benchStdKey   = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// LiveKitEvent1KiB returns a participant_joined event as livekit-server's
// protojson writes it (int64 as strings, zero values omitted), padded by
// the participant's metadata to exactly n bytes (n >= 700).
func liveKitEvent(id string, n int) []byte {
	ts := strconv.FormatInt(benchT0.Unix(), 10)
	head := `{"event":"participant_joined","room":{"sid":"RM_tYR4fbfmcGeh","name":"bench-room","emptyTimeout":300,"departureTimeout":20,` +
		`"creationTime":"` + ts + `","creationTimeMs":"` + ts + `123","turnPassword":"","enabledCodecs":[{"mime":"audio/opus"},{"mime":"video/VP8"},{"mime":"video/H264"},{"mime":"video/VP9"},{"mime":"video/AV1"}],` +
		`"numParticipants":3,"numPublishers":2,"version":{"unixMicro":"` + ts + `123456","ticks":4}},` +
		`"participant":{"sid":"PA_2X7rqKcLh7Fa","identity":"user-48213","state":"ACTIVE","joinedAt":"` + ts + `","joinedAtMs":"` + ts + `456",` +
		`"name":"Ada Lovelace","version":2,"permission":{"canSubscribe":true,"canPublish":true,"canPublishData":true,"canUpdateMetadata":true},` +
		`"region":"eu-central","kind":"STANDARD","attributes":{"role":"speaker","team":"analytics"},"metadata":"`
	tail := `"},"id":"` + id + `","createdAt":"` + ts + `"}`
	pad := n - len(head) - len(tail)
	if pad < 0 {
		panic(fmt.Sprintf("liveKitEvent: %d bytes is too small", n))
	}
	return []byte(head + strings.Repeat("m", pad) + tail)
}

// padJSON returns {prefix "padding":"xxx..."} of exactly n bytes.
func padJSON(n int, prefix string) []byte {
	s := "{" + prefix + `"padding":"`
	return []byte(s + strings.Repeat("x", n-len(s)-2) + `"}`)
}

type benchCase struct {
	name     string
	provider string
	keys     map[string][]string
	req      *verify.Request
}

func benchCases(b *testing.B) []benchCase {
	b.Helper()
	lkBody := liveKitEvent("EV_rqKiVYicm5ni", 1024)
	lkTok, err := verify.SignLiveKit(benchLKKey, []byte(benchLKSecret), lkBody, benchT0)
	if err != nil {
		b.Fatal(err)
	}

	tcBody := padJSON(1024, `"CallbackCommand":"Live.CallbackAfterCreateRoom","EventTime":1795344706123,"RoomId":"room-1","Operator_Account":"admin",`)
	tcQuery := url.Values{
		"SdkAppid":        {benchTCApp},
		"CallbackCommand": {"Live.CallbackAfterCreateRoom"},
		"contenttype":     {"json"},
		"ClientIP":        {"203.0.113.7"},
		"OptPlatform":     {"RESTAPI"},
		"RequestTime":     {strconv.FormatInt(benchT0.Unix(), 10)},
		"Sign":            {verify.SignTencent(benchTCToken, benchT0.Unix())},
	}

	trtcBody := padJSON(1024, `"EventGroupId":2,"EventType":204,"CallbackTs":`+strconv.FormatInt(benchT0.UnixMilli(), 10)+`,"EventInfo":{"RoomId":8489,"EventTs":1795344706,"UserId":"user_85034614","Reason":0},`)

	lsBody := padJSON(1024, `"timestamp":`+strconv.FormatInt(benchT0.UnixMilli(), 10)+`,"origin":"mediaserver","type":"channel.activated","id":"0d4a3f0e-ev-1","channel":{"id":"room-1","applicationId":"`+benchLSApp+`"},`)

	stdBody := padJSON(1024, `"type":"invoice.paid","data":{"id":"in_1"},`)
	stdKey, err := verify.ParseStandardSecret(benchStdKey)
	if err != nil {
		b.Fatal(err)
	}

	return []benchCase{
		{"livekit", verify.ProviderLiveKit, map[string][]string{benchLKKey: {benchLKSecret}},
			&verify.Request{Header: http.Header{"Authorization": {lkTok}, "Content-Type": {"application/webhook+json"}}, Body: lkBody}},
		{"tencent", verify.ProviderTencent, map[string][]string{benchTCApp: {benchTCToken}},
			&verify.Request{Query: tcQuery, Body: tcBody}},
		{"tencent-trtc", verify.ProviderTencentTRTC, map[string][]string{"1400188366": {benchTRTCKey}},
			&verify.Request{Header: http.Header{"Sign": {verify.SignTRTC([]byte(benchTRTCKey), trtcBody)}, "Sdkappid": {"1400188366"}}, Body: trtcBody}},
		{"liveswitch", verify.ProviderLiveSwitch, map[string][]string{benchLSApp: {benchLSSecret}},
			&verify.Request{Header: http.Header{http.CanonicalHeaderKey(verify.HeaderLiveSwitchSignature): {verify.SignLiveSwitch([]byte(benchLSSecret), lsBody)}}, Body: lsBody}},
		{"standard-webhooks", verify.ProviderStandardWebhooks, map[string][]string{"partner": {benchStdKey}},
			&verify.Request{Header: http.Header{
				"Webhook-Id":        {"msg_p5jXN8AQM9LWM0D4loKWxJek"},
				"Webhook-Timestamp": {strconv.FormatInt(benchT0.Unix(), 10)},
				"Webhook-Signature": {verify.SignStandard(stdKey, "msg_p5jXN8AQM9LWM0D4loKWxJek", benchT0, stdBody)},
			}, Body: stdBody}},
	}
}

func benchVerifier(b *testing.B, provider string, keys map[string][]string) verify.Verifier {
	b.Helper()
	v, err := verify.New(provider, verify.Options{Keys: keys, Now: func() time.Time { return benchT0.Add(time.Second) }})
	if err != nil {
		b.Fatal(err)
	}
	return v
}

// BenchmarkEvent1KiB verifies one ~1 KiB event per iteration for each
// provider. Target (issue 5): livekit under 10 µs.
func BenchmarkEvent1KiB(b *testing.B) {
	for _, c := range benchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			v := benchVerifier(b, c.provider, c.keys)
			if _, err := v.Verify(c.req); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(c.req.Body)))
			for b.Loop() {
				if _, err := v.Verify(c.req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEvent1KiBParallel is BenchmarkEvent1KiB on every core, as the
// proxy runs it under load.
func BenchmarkEvent1KiBParallel(b *testing.B) {
	for _, c := range benchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			v := benchVerifier(b, c.provider, c.keys)
			b.ReportAllocs()
			b.SetBytes(int64(len(c.req.Body)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := v.Verify(c.req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkRejectLiveKit measures refusing forged LiveKit requests: what a
// flood of bad input costs per request.
func BenchmarkRejectLiveKit(b *testing.B) {
	body := liveKitEvent("EV_rqKiVYicm5ni", 1024)
	good, err := verify.SignLiveKit(benchLKKey, []byte(benchLKSecret), body, benchT0)
	if err != nil {
		b.Fatal(err)
	}
	forged, err := verify.SignLiveKit(benchLKKey, []byte("not-the-secret-not-the-secret-00"), body, benchT0)
	if err != nil {
		b.Fatal(err)
	}
	unknown, err := verify.SignLiveKit("APIother", []byte(benchLKSecret), body, benchT0)
	if err != nil {
		b.Fatal(err)
	}
	parts := strings.SplitN(good, ".", 3)
	// alg none: header {"alg":"none","typ":"JWT"}, the genuine claims, no signature.
	none := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + "."
	tampered := append([]byte(nil), body...)
	tampered[len(tampered)-3] ^= 1

	v := benchVerifier(b, verify.ProviderLiveKit, map[string][]string{benchLKKey: {benchLKSecret}})
	cases := []struct {
		name string
		tok  string
		body []byte
	}{
		{"forged_secret", forged, body},
		{"unknown_key", unknown, body},
		{"alg_none", none, body},
		{"garbage", "not-a-jwt", body},
		{"tampered_body", good, tampered},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			r := &verify.Request{Header: http.Header{"Authorization": {c.tok}}, Body: c.body}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(r); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}

// BenchmarkSignLiveKit is what a sender (and bench/'s load generator, which
// pre-signs every event) pays per event.
func BenchmarkSignLiveKit(b *testing.B) {
	body := liveKitEvent("EV_rqKiVYicm5ni", 1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := verify.SignLiveKit(benchLKKey, []byte(benchLKSecret), body, benchT0); err != nil {
			b.Fatal(err)
		}
	}
}
