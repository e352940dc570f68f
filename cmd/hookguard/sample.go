package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/hookguard/hookguard/verify"
)

// signed describes a test webhook to build: what a real sender would post.
type signed struct {
	Provider string
	URL      string
	KeyID    string // API key, SdkAppId, application id or label
	Secret   string // as configured (whsec_ for standard-webhooks)
	Body     []byte // nil: a sample event of Type
	Type     string // event type or command; "" → the provider's usual one
	ID       string // event id; "" → random
	Batch    int    // liveswitch: events in one {"batch":[...]} (0 or 1: single)
	At       time.Time
}

func randomID(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// sampleBody returns a realistic body for the provider, as the real sender
// would write it.
func sampleBody(s *signed) ([]byte, error) {
	if s.ID == "" {
		s.ID = randomID("EV_")
	}
	at := s.At
	switch s.Provider {
	case verify.ProviderLiveKit:
		typ := or(s.Type, "room_started")
		ts := strconv.FormatInt(at.Unix(), 10)
		return json.Marshal(map[string]any{"event": typ, "room": map[string]any{"sid": "RM_demo", "name": "demo-room", "emptyTimeout": 5, "creationTime": ts}, "id": s.ID, "createdAt": ts})
	case verify.ProviderTencent:
		typ := or(s.Type, "Live.CallbackAfterCreateRoom")
		return json.Marshal(map[string]any{"CallbackCommand": typ, "EventTime": at.UnixMilli(), "RoomId": "demo-room", "Operator_Account": "demo-user", "Nonce": s.ID})
	case verify.ProviderTencentTRTC:
		et := 103
		if s.Type != "" {
			n, err := strconv.Atoi(s.Type)
			if err != nil {
				return nil, fmt.Errorf("tencent-trtc event type is a number, e.g. 103")
			}
			et = n
		}
		return json.Marshal(map[string]any{"EventGroupId": 1, "EventType": et, "CallbackTs": at.UnixMilli(),
			"EventInfo": map[string]any{"RoomId": 8489, "EventTs": at.Unix(), "EventMsTs": at.UnixMilli(), "UserId": "demo-user", "Nonce": s.ID}})
	case verify.ProviderLiveSwitch:
		typ := or(s.Type, "channel.client.joined")
		event := func(id string) map[string]any {
			return map[string]any{"id": id, "timestamp": at.UnixMilli(), "origin": "gateway", "type": typ,
				"channel": map[string]any{"id": "demo-channel", "applicationId": s.KeyID}}
		}
		if s.Batch <= 1 {
			return json.Marshal(event(s.ID))
		}
		items := make([]any, s.Batch)
		for i := range items {
			items[i] = event(fmt.Sprintf("%s-%d", s.ID, i))
		}
		return json.Marshal(map[string]any{"batch": items})
	case verify.ProviderStandardWebhooks:
		typ := or(s.Type, "invoice.paid")
		return json.Marshal(map[string]any{"type": typ, "timestamp": at.UTC().Format(time.RFC3339), "data": map[string]any{"id": s.ID}})
	}
	return nil, fmt.Errorf("%w: %q", verify.ErrUnknownProvider, s.Provider)
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// newSignedRequest builds the POST a real sender of the provider makes.
func newSignedRequest(s signed) (*http.Request, error) {
	if s.At.IsZero() {
		s.At = time.Now()
	}
	body := s.Body
	if body == nil {
		var err error
		if body, err = sampleBody(&s); err != nil {
			return nil, err
		}
	}
	u, err := url.Parse(s.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	h := http.Header{"Content-Type": {"application/json"}}
	switch s.Provider {
	case verify.ProviderLiveKit:
		tok, err := verify.SignLiveKit(s.KeyID, []byte(s.Secret), body, s.At)
		if err != nil {
			return nil, err
		}
		h.Set("Content-Type", "application/webhook+json")
		h.Set("Authorization", tok)
	case verify.ProviderTencent:
		rt := s.At.Unix()
		q := u.Query()
		q.Set("SdkAppid", s.KeyID)
		q.Set("CallbackCommand", or(s.Type, "Live.CallbackAfterCreateRoom"))
		q.Set("contenttype", "json")
		q.Set("ClientIP", "127.0.0.1")
		q.Set("OptPlatform", "RESTAPI")
		q.Set("RequestTime", strconv.FormatInt(rt, 10))
		q.Set("Sign", verify.SignTencent(s.Secret, rt))
		u.RawQuery = q.Encode()
	case verify.ProviderTencentTRTC:
		h.Set("SdkAppId", s.KeyID)
		h.Set("Sign", verify.SignTRTC([]byte(s.Secret), body))
	case verify.ProviderLiveSwitch:
		h.Set("X-ApplicationSignature", verify.SignLiveSwitch([]byte(s.Secret), body))
	case verify.ProviderStandardWebhooks:
		key, err := verify.ParseStandardSecret(s.Secret)
		if err != nil {
			return nil, err
		}
		id := or(s.ID, randomID("msg_"))
		h.Set(verify.HeaderWebhookID, id)
		h.Set(verify.HeaderWebhookTimestamp, strconv.FormatInt(s.At.Unix(), 10))
		h.Set(verify.HeaderWebhookSignature, verify.SignStandard(key, id, s.At, body))
	default:
		return nil, fmt.Errorf("%w: %q", verify.ErrUnknownProvider, s.Provider)
	}
	req, err := http.NewRequest(http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = h
	return req, nil
}
