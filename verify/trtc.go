package verify

import (
	"crypto/sha256"
	"fmt"
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
	// way. If zero, five minutes is used; if negative, CallbackTs is not
	// checked (nor required).
	Tolerance time.Duration
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
}

// NewTRTC returns a TRTC verifier after checking keys.
func NewTRTC(keys Keyring, tolerance time.Duration, now func() time.Time) (*TRTC, error) {
	if err := keys.Validate(); err != nil {
		return nil, err
	}
	return &TRTC{Keys: keys, Tolerance: tolerance, Now: now}, nil
}

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

	fields, err := objectFields(r.Body)
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
	if v.Tolerance >= 0 {
		tol := v.Tolerance
		if tol == 0 {
			tol = defaultTRTCTolerance
		}
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

var _ Verifier = (*TRTC)(nil)
