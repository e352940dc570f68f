package interop_test

// The same ~1 KiB LiveKit event, made and signed by LiveKit's own code
// (protojson.Marshal + auth.AccessToken, as webhook.URLNotifier does), then
// verified side by side by hookguard's verifier and by LiveKit's receiver.
//
//	cd interop && go test -run='^$' -bench='^BenchmarkLiveKitReceive' -benchmem .
//
// Sub-benchmarks:
//   - hookguard_verify: verify.LiveKit.Verify on the body already read, as
//     hookguard's proxy calls it.
//   - hookguard_read_verify: io.ReadAll of the request body + Verify, the
//     same work webhook.Receive does.
//   - livekit_receive: webhook.Receive (read body, check JWT and checksum).
//   - livekit_receive_event: webhook.ReceiveWebhookEvent (Receive plus
//     protojson parsing of the event, what an app usually calls).
//   - interleaved: hookguard_verify, hookguard_read_verify and
//     livekit_receive in turn within each iteration, reporting how many
//     times faster than webhook.Receive hookguard is (x-verify,
//     x-read-verify), as the ratio of the median times of the three. On a
//     machine shared with other work it moves less than the ratio of
//     separate sub-benchmarks. The target is 3x, with at most 12 allocations per
//     Verify (TestLiveKitAllocs in verify/ pins the count).

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/utils/protojson"
	"github.com/livekit/protocol/webhook"

	"github.com/hookguard/hookguard/verify"
)

// lkBenchEvent returns a participant_joined event whose protojson encoding
// is n bytes (or a few more), as livekit-server would send it.
func lkBenchEvent(b *testing.B, n int) []byte {
	b.Helper()
	now := time.Now()
	ev := &livekit.WebhookEvent{
		Event: webhook.EventParticipantJoined,
		Room: &livekit.Room{
			Sid: "RM_tYR4fbfmcGeh", Name: "bench-room", EmptyTimeout: 300, DepartureTimeout: 20,
			CreationTime: now.Unix(), CreationTimeMs: now.UnixMilli(), NumParticipants: 3, NumPublishers: 2,
			EnabledCodecs: []*livekit.Codec{{Mime: "audio/opus"}, {Mime: "video/VP8"}, {Mime: "video/H264"}},
		},
		Participant: &livekit.ParticipantInfo{
			Sid: "PA_2X7rqKcLh7Fa", Identity: "user-48213", State: livekit.ParticipantInfo_ACTIVE,
			JoinedAt: now.Unix(), JoinedAtMs: now.UnixMilli(), Name: "Ada Lovelace", Version: 2,
			Permission: &livekit.ParticipantPermission{CanSubscribe: true, CanPublish: true, CanPublishData: true},
			Region:     "eu-central", Attributes: map[string]string{"role": "speaker"},
		},
		Id:        "EV_rqKiVYicm5ni",
		CreatedAt: now.Unix(),
	}
	body, err := protojson.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}
	if pad := n - len(body); pad > 0 {
		ev.Participant.Metadata = strings.Repeat("m", pad)
		if body, err = protojson.Marshal(ev); err != nil {
			b.Fatal(err)
		}
	}
	return body
}

// lkSignLikeNotifier signs body exactly as webhook.URLNotifier.send does.
func lkSignLikeNotifier(b *testing.B, body []byte) string {
	b.Helper()
	sum := sha256.Sum256(body)
	tok, err := auth.NewAccessToken(lkAPIKey, lkAPISecret).
		SetValidFor(5 * time.Minute).
		SetSha256(base64.StdEncoding.EncodeToString(sum[:])).
		ToJWT()
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

func BenchmarkLiveKitReceive(b *testing.B) {
	body := lkBenchEvent(b, 1024)
	tok := lkSignLikeNotifier(b, body)
	b.Logf("event: %d bytes; token: %d bytes", len(body), len(tok))

	hg, err := verify.New(verify.ProviderLiveKit, verify.Options{Keys: map[string][]string{lkAPIKey: {lkAPISecret}}})
	if err != nil {
		b.Fatal(err)
	}
	keys := auth.NewSimpleKeyProvider(lkAPIKey, lkAPISecret)

	// One request whose body is rewound each iteration.
	rd := bytes.NewReader(body)
	req, err := http.NewRequest(http.MethodPost, "http://hookguard.test/livekit", rd)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", tok)
	req.Header.Set("Content-Type", "application/webhook+json")
	rewind := func() {
		rd.Reset(body)
		req.Body = io.NopCloser(rd)
	}

	// Both must accept the event before they are timed.
	if evs, err := hg.Verify(&verify.Request{Header: req.Header, Body: body}); err != nil || evs[0].ID != "EV_rqKiVYicm5ni" {
		b.Fatalf("hookguard: %v %+v", err, evs)
	}
	rewind()
	if _, err := webhook.ReceiveWebhookEvent(req, keys); err != nil {
		b.Fatalf("livekit: %v", err)
	}

	b.Run("hookguard_verify", func(b *testing.B) {
		r := &verify.Request{Header: req.Header, Body: body}
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := hg.Verify(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hookguard_read_verify", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			rewind()
			raw, err := io.ReadAll(req.Body)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := hg.Verify(&verify.Request{Header: req.Header, Body: raw}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("livekit_receive", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			rewind()
			if _, err := webhook.Receive(req, keys); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("interleaved", func(b *testing.B) {
		r := &verify.Request{Header: req.Header, Body: body}
		// The last samples iterations' times, kept without allocating in
		// the loop; their medians are compared, so that an iteration
		// preempted by other work on the machine does not weigh.
		const samples = 4096
		var times [3][]time.Duration
		for k := range times {
			times[k] = make([]time.Duration, samples)
		}
		n := 0
		for b.Loop() {
			t0 := time.Now()
			if _, err := hg.Verify(r); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			rewind()
			raw, err := io.ReadAll(req.Body)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := hg.Verify(&verify.Request{Header: req.Header, Body: raw}); err != nil {
				b.Fatal(err)
			}
			t2 := time.Now()
			rewind()
			if _, err := webhook.Receive(req, keys); err != nil {
				b.Fatal(err)
			}
			t3 := time.Now()
			times[0][n%samples], times[1][n%samples], times[2][n%samples] = t1.Sub(t0), t2.Sub(t1), t3.Sub(t2)
			n++
		}
		median := func(d []time.Duration) float64 {
			d = slices.Clone(d[:min(n, samples)])
			slices.Sort(d)
			return float64(d[len(d)/2])
		}
		lk := median(times[2])
		b.ReportMetric(lk/median(times[0]), "x-verify")
		b.ReportMetric(lk/median(times[1]), "x-read-verify")
	})
	b.Run("livekit_receive_event", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			rewind()
			if _, err := webhook.ReceiveWebhookEvent(req, keys); err != nil {
				b.Fatal(err)
			}
		}
	})
}
