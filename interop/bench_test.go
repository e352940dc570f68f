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

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
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
