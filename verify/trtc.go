package verify

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// defaultTRTCTolerance bounds the age of CallbackTs. Tencent retries a TRTC
// callback for one minute; five minutes leaves room for clock skew.
const defaultTRTCTolerance = 5 * time.Minute

// TRTC verifies Tencent TRTC event callbacks (room, media, recording,
// relay events).
//
// The Sign header is the standard base64 of HMAC-SHA256(key, raw body) and
// the SdkAppId header selects the key. The only signed time is CallbackTs
// inside the body.
type TRTC struct {
	// Keys maps an SdkAppId to its callback keys (several during rotation).
	Keys Keyring
	// Tolerance is how far the body's CallbackTs may be from now, either
	// way. If zero (or negative), five minutes is used.
	Tolerance time.Duration
	// Off turns the CallbackTs check off: it is then neither checked nor
	// required, and only dedupe stops a replay.
	Off bool
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
}

// NewTRTC returns a TRTC verifier after checking keys and tolerance (zero:
// five minutes; negative: an error).
func NewTRTC(keys Keyring, tolerance time.Duration, now func() time.Time) (*TRTC, error) {
	if err := keys.Validate(); err != nil {
		return nil, err
	}
	tol, err := toleranceRule(ProviderTencentTRTC, tolerance, defaultTRTCTolerance, false)
	if err != nil {
		return nil, err
	}
	return &TRTC{Keys: keys, Tolerance: tol, Now: now}, nil
}

func newTRTCVerifier(keys Keyring, o Options) (Verifier, error) {
	tol, err := toleranceRule(ProviderTencentTRTC, o.Tolerance, defaultTRTCTolerance, o.ToleranceOff)
	if err != nil {
		return nil, err
	}
	return &TRTC{Keys: keys, Tolerance: tol, Off: o.ToleranceOff, Now: o.Now}, nil
}

// SignatureHeaders implements SignatureHeaderer.
func (v *TRTC) SignatureHeaders() []string { return []string{"Sign"} }

// ForwardTimeout implements ForwardTimeouter: TRTC waits 5 s.
func (v *TRTC) ForwardTimeout() time.Duration { return 4 * time.Second }

// ReplayWindow implements ReplayWindower: CallbackTs may lie up to the
// tolerance on either side of now.
func (v *TRTC) ReplayWindow() time.Duration {
	if v.Off {
		return 0
	}
	return 2 * v.tolerance()
}

func (v *TRTC) tolerance() time.Duration { return positiveOr(v.Tolerance, defaultTRTCTolerance) }

// Verify implements Verifier. When the SdkAppId header is absent and exactly
// one SdkAppId is configured, its keys are used.
func (v *TRTC) Verify(r *Request) ([]Event, error) {
	sign, err := singleHeader(r.Header, "Sign")
	if err != nil {
		return nil, fmt.Errorf("tencent-trtc: %w", err)
	}
	if sign == "" {
		return nil, fmt.Errorf("tencent-trtc: %w: no Sign header", ErrMissingSignature)
	}
	appID, err := singleHeader(r.Header, "SdkAppId")
	if err != nil {
		return nil, fmt.Errorf("tencent-trtc: %w", err)
	}
	if appID == "" {
		if only, ok := v.Keys.onlyKey(); ok {
			appID = only
		}
	}
	keys, ok := v.Keys[appID]
	if !ok {
		return nil, fmt.Errorf("tencent-trtc: %w: SdkAppId %s", ErrUnknownKey, quoteID(appID))
	}
	got, ok := decodeMAC(sign, sha256.Size)
	if !ok {
		return nil, fmt.Errorf("tencent-trtc: %w: Sign is not a base64 HMAC-SHA256", ErrMalformedSignature)
	}
	if !hmacMatch(keys, got, r.Body) {
		return nil, fmt.Errorf("tencent-trtc: %w", ErrSignatureMismatch)
	}

	fields, err := objectMembers(r.Body, "EventType", "CallbackTs")
	if err != nil {
		return nil, fmt.Errorf("tencent-trtc: %w: %w", ErrMalformedBody, err)
	}
	typ, hasType, err := fieldInt(fields, "EventType")
	if err != nil {
		return nil, fmt.Errorf("tencent-trtc: %w: %w", ErrMalformedBody, err)
	}
	at, hasTime, err := fieldTime(fields, "CallbackTs", time.Millisecond)
	if err != nil {
		return nil, fmt.Errorf("tencent-trtc: %w: %w", ErrMalformedBody, err)
	}
	if !v.Off {
		tol := v.tolerance()
		if !hasTime {
			return nil, fmt.Errorf("tencent-trtc: %w: no CallbackTs to check freshness", ErrMalformedBody)
		}
		if !within(at, nowFunc(v.Now), tol) {
			return nil, fmt.Errorf("tencent-trtc: %w: CallbackTs %d", ErrStale, at.UnixMilli())
		}
	}
	ev := Event{
		Provider: ProviderTencentTRTC,
		Key:      BodyKey(appID, r.Body),
		Time:     at,
		KeyID:    appID,
		Body:     r.Body,
	}
	if hasType {
		ev.Type = strconv.FormatInt(typ, 10)
	}
	return []Event{ev}, nil
}

// SignTRTC returns the Sign header TRTC sends with body:
// standard base64 of HMAC-SHA256(key, body).
func SignTRTC(key, body []byte) string {
	return signHMAC(key, body)
}

// sendTRTC signs m as TRTC's callback service does: Sign and SdkAppId
// headers over the body.
func sendTRTC(m Message) (Outgoing, error) {
	body := m.Body
	if body == nil {
		et := 103
		if m.Type != "" {
			n, err := strconv.Atoi(m.Type)
			if err != nil {
				return Outgoing{}, fmt.Errorf("%s: the event type is a number, e.g. 103", ProviderTencentTRTC)
			}
			et = n
		}
		body = jsonBody(map[string]any{"EventGroupId": 1, "EventType": et, "CallbackTs": m.At.UnixMilli(),
			"EventInfo": map[string]any{"RoomId": 8489, "EventTs": m.At.Unix(), "EventMsTs": m.At.UnixMilli(), "UserId": "demo-user", "Nonce": m.ID}})
	}
	h := http.Header{"Content-Type": {"application/json"}, "Sdkappid": {m.KeyID}, "Sign": {SignTRTC([]byte(m.Secret), body)}}
	return Outgoing{Header: h, Body: body}, nil
}

var _ Verifier = (*TRTC)(nil)
