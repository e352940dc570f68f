package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// tencentQueueCaveat is why Tencent routes should stay sync.
const tencentQueueCaveat = `Tencent "Before" callbacks (Live.CallbackBeforeSendGift, Group.CallbackBeforeSendMsg, ...) act on the app's answer body (ErrorCode 0 allow, 1 reject, 2 discard), which a queued event's sender never sees: keep routes that receive them on delivery: sync`

// defaultTencentTolerance is how far RequestTime may be from now: Tencent's
// documentation says one minute.
const defaultTencentTolerance = time.Minute

// tencentAck is the answer Tencent expects from a callback receiver.
const tencentAck = `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`

// Tencent verifies TUILiveKit / TRTC Live and Chat (IM) callbacks.
//
// The query carries Sign = hex(SHA-256(Token + RequestTime)) and the SdkAppId
// that selects the token. The signature does not cover the body, the
// command or anything else: whoever saw one request can send any body with
// its Sign until RequestTime leaves the tolerance. Serve over HTTPS and
// restrict source addresses.
type Tencent struct {
	// Keys maps an SdkAppId to its callback tokens (several during rotation).
	Keys Keyring
	// Tolerance is how far RequestTime may be from now, either way.
	// If zero, one minute is used. Negative values are refused by NewTencent.
	Tolerance time.Duration
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
}

// NewTencent returns a Tencent verifier after checking keys and tolerance.
func NewTencent(keys Keyring, tolerance time.Duration, now func() time.Time) (*Tencent, error) {
	if err := keys.Validate(); err != nil {
		return nil, err
	}
	tol, err := toleranceRule(ProviderTencent, tolerance, defaultTencentTolerance, false)
	if err != nil {
		return nil, err
	}
	return &Tencent{Keys: keys, Tolerance: tol, Now: now}, nil
}

func newTencentVerifier(keys Keyring, o Options) (Verifier, error) {
	return NewTencent(keys, o.Tolerance, o.Now)
}

// SignatureHeaders implements SignatureHeaderer: the Sign is in the query
// and covers no body, so it stays valid whatever is forwarded.
func (v *Tencent) SignatureHeaders() []string { return nil }

// ForwardTimeout implements ForwardTimeouter: Chat waits 2 s.
func (v *Tencent) ForwardTimeout() time.Duration { return 1500 * time.Millisecond }

// ReplayWindow implements ReplayWindower: RequestTime may lie up to the
// tolerance on either side of now.
func (v *Tencent) ReplayWindow() time.Duration { return 2 * v.tolerance() }

func (v *Tencent) tolerance() time.Duration { return positiveOr(v.Tolerance, defaultTencentTolerance) }

// Verify implements Verifier.
func (v *Tencent) Verify(r *Request) ([]Event, error) {
	sign, err := queryValue(r.Query, "Sign")
	if err != nil {
		return nil, err
	}
	reqTime, err := queryValue(r.Query, "RequestTime")
	if err != nil {
		return nil, err
	}
	if sign == "" || reqTime == "" {
		return nil, fmt.Errorf("tencent: %w: no Sign or RequestTime in the query", ErrMissingSignature)
	}
	appID, err := queryValue(r.Query, "SdkAppId")
	if err != nil {
		return nil, err
	}
	tokens, ok := v.Keys[appID]
	if !ok {
		return nil, fmt.Errorf("tencent: %w: SdkAppId %s", ErrUnknownKey, quoteID(appID))
	}
	ts, ok := parseDigits(reqTime)
	if !ok {
		return nil, fmt.Errorf("tencent: %w: RequestTime is not a Unix time", ErrMalformedSignature)
	}
	sent, err := signedTime(ts, time.Second)
	if err != nil {
		return nil, fmt.Errorf("tencent: %w: RequestTime: %w", ErrMalformedSignature, err)
	}
	got, err := hex.DecodeString(sign)
	if err != nil || len(got) != sha256.Size {
		return nil, fmt.Errorf("tencent: %w: Sign is not a hex SHA-256", ErrMalformedSignature)
	}
	if !tencentMatch(tokens, reqTime, got) {
		return nil, fmt.Errorf("tencent: %w", ErrSignatureMismatch)
	}
	tol := v.Tolerance
	if tol <= 0 {
		tol = defaultTencentTolerance
	}
	if !within(sent, nowFunc(v.Now), tol) {
		return nil, fmt.Errorf("tencent: %w: RequestTime %d", ErrStale, ts)
	}

	fields, err := objectMembers(r.Body, "CallbackCommand", "EventTime")
	if err != nil {
		return nil, fmt.Errorf("tencent: %w: %w", ErrMalformedBody, err)
	}
	cmd, err := queryValue(r.Query, "CallbackCommand", "WebhookCommand")
	if err != nil {
		return nil, err
	}
	if cmd == "" {
		if cmd, err = fieldString(fields, "CallbackCommand"); err != nil {
			return nil, fmt.Errorf("tencent: %w: %w", ErrMalformedBody, err)
		}
	}
	at, _, err := fieldTime(fields, "EventTime", time.Millisecond)
	if err != nil {
		return nil, fmt.Errorf("tencent: %w: %w", ErrMalformedBody, err)
	}
	return []Event{{
		Provider: ProviderTencent,
		Key:      BodyKey(appID, r.Body),
		Type:     cmd,
		Time:     at,
		KeyID:    appID,
		Body:     r.Body,
	}}, nil
}

// tencentMatch reports whether sum is SHA-256(token + reqTime) for one of
// tokens, comparing in constant time.
func tencentMatch(tokens [][]byte, reqTime string, sum []byte) bool {
	match := false
	for _, tok := range tokens {
		h := sha256.New()
		h.Write(tok)
		h.Write([]byte(reqTime))
		if hmac.Equal(h.Sum(nil), sum) {
			match = true
		}
	}
	return match
}

// Ack implements Acknowledger: the body Tencent needs to count a callback
// as delivered.
func (v *Tencent) Ack() (contentType string, body []byte) {
	return "application/json", []byte(tencentAck)
}

// queryValue returns the value of the query parameter called by any of
// names, matched case-insensitively (Tencent writes both SdkAppid and
// SdkAppId). The same parameter given twice with different values is
// refused as ErrMalformedSignature.
func queryValue(q url.Values, names ...string) (string, error) {
	var val, from string
	for k, vs := range q {
		if !matchesAny(k, names) {
			continue
		}
		for _, s := range vs {
			if from == "" {
				val, from = s, k
				continue
			}
			if s != val {
				return "", fmt.Errorf("tencent: %w: conflicting %s and %s query parameters", ErrMalformedSignature, quoteID(from), quoteID(k))
			}
		}
	}
	return val, nil
}

func matchesAny(k string, names []string) bool {
	for _, n := range names {
		if strings.EqualFold(k, n) {
			return true
		}
	}
	return false
}

// SignTencent returns the Sign Tencent puts in the query:
// lowercase hex of SHA-256(token + RequestTime).
func SignTencent(token string, requestTime int64) string {
	sum := sha256.Sum256([]byte(token + strconv.FormatInt(requestTime, 10)))
	return hex.EncodeToString(sum[:])
}

var (
	_ Verifier     = (*Tencent)(nil)
	_ Acknowledger = (*Tencent)(nil)
)

// sendTencent signs m as Tencent's callback service does: Sign and
// RequestTime in the query beside SdkAppid and CallbackCommand.
func sendTencent(m Message) (Outgoing, error) {
	cmd := or(m.Type, "Live.CallbackAfterCreateRoom")
	body := m.Body
	if body == nil {
		body = jsonBody(map[string]any{"CallbackCommand": cmd, "EventTime": m.At.UnixMilli(), "RoomId": "demo-room",
			"Operator_Account": "demo-user", "Nonce": m.ID})
	}
	rt := m.At.Unix()
	q := url.Values{
		"SdkAppid":        {m.KeyID},
		"CallbackCommand": {cmd},
		"contenttype":     {"json"},
		"ClientIP":        {"127.0.0.1"},
		"OptPlatform":     {"RESTAPI"},
		"RequestTime":     {strconv.FormatInt(rt, 10)},
		"Sign":            {SignTencent(m.Secret, rt)},
	}
	return Outgoing{Header: http.Header{"Content-Type": {"application/json"}}, Query: q, Body: body}, nil
}
