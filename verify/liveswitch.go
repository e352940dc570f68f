package verify

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// HeaderLiveSwitchSignature carries the standard base64 of
// HMAC-SHA256(application shared secret, raw body).
const HeaderLiveSwitchSignature = "X-ApplicationSignature"

// MaxLiveSwitchBatch is the largest number of events accepted in one batch.
const MaxLiveSwitchBatch = 1000

// LiveSwitch verifies LiveSwitch (Frozen Mountain) application and channel
// webhooks, single or batched as {"batch":[event, ...]}.
//
// The secret is selected by the application id found inside the body
// (channel.applicationId, client.applicationId or connection.applicationId),
// so the body is parsed before the signature is checked; a body that cannot
// be parsed is reported as ErrMalformedBody only when one of the configured
// secrets signed it, and as ErrSignatureMismatch otherwise. Deployment-level
// server webhooks (gateway.started, ...) are not signed and are refused with
// ErrUnsigned.
type LiveSwitch struct {
	// Keys maps an application id to its shared secrets (several during
	// rotation).
	Keys Keyring
	// Tolerance is how far each event's timestamp may be from now, either
	// way. If zero (the default, or tolerance: off), timestamps are not
	// checked: LiveSwitch documents no retry policy to derive a window
	// from.
	Tolerance time.Duration
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
}

// NewLiveSwitch returns a LiveSwitch verifier after checking keys.
func NewLiveSwitch(keys Keyring, tolerance time.Duration, now func() time.Time) (*LiveSwitch, error) {
	if err := keys.Validate(); err != nil {
		return nil, err
	}
	tol, err := toleranceRule(ProviderLiveSwitch, tolerance, 0, false)
	if err != nil {
		return nil, err
	}
	return &LiveSwitch{Keys: keys, Tolerance: tol, Now: now}, nil
}

func newLiveSwitchVerifier(keys Keyring, o Options) (Verifier, error) {
	if o.ToleranceOff && o.Tolerance != 0 {
		return nil, fmt.Errorf("%s: both a tolerance and tolerance off", ProviderLiveSwitch)
	}
	return NewLiveSwitch(keys, o.Tolerance, o.Now)
}

// SignatureHeaders implements SignatureHeaderer.
func (v *LiveSwitch) SignatureHeaders() []string { return []string{"X-ApplicationSignature"} }

// ForwardTimeout implements ForwardTimeouter. LiveSwitch documents no
// sender timeout (inferred: 10 s like most senders).
func (v *LiveSwitch) ForwardTimeout() time.Duration { return 10 * time.Second }

// ReplayWindow implements ReplayWindower: unbounded unless a tolerance
// is set.
func (v *LiveSwitch) ReplayWindow() time.Duration {
	if v.Tolerance <= 0 {
		return 0
	}
	return 2 * v.Tolerance
}

// liveSwitchItem is one parsed event of a request.
type liveSwitchItem struct {
	raw    json.RawMessage
	fields map[string]json.RawMessage
}

// Verify implements Verifier. It returns one event per batch item. When the
// body names no application id and exactly one application is configured,
// its secrets are used.
func (v *LiveSwitch) Verify(r *Request) ([]Event, error) {
	sign, err := singleHeader(r.Header, HeaderLiveSwitchSignature)
	if err != nil {
		return nil, fmt.Errorf("liveswitch: %w", err)
	}
	items, appID, perr := parseLiveSwitch(r.Body)
	if sign == "" {
		if perr == nil && appID == "" {
			return nil, fmt.Errorf("liveswitch: %w: server webhooks carry no signature", ErrUnsigned)
		}
		return nil, fmt.Errorf("liveswitch: %w: no %s header", ErrMissingSignature, HeaderLiveSwitchSignature)
	}
	mac, ok := decodeMAC(sign, sha256.Size)
	if !ok {
		return nil, fmt.Errorf("liveswitch: %w: %s is not a base64 HMAC-SHA256", ErrMalformedSignature, HeaderLiveSwitchSignature)
	}
	if perr != nil {
		// No application id to pick a secret with. Only an authentic body
		// is reported as malformed; anything else is a forgery.
		for _, secrets := range v.Keys {
			if hmacMatch(secrets, mac, r.Body) {
				return nil, fmt.Errorf("liveswitch: %w: %w", ErrMalformedBody, perr)
			}
		}
		return nil, fmt.Errorf("liveswitch: %w", ErrSignatureMismatch)
	}
	if appID == "" {
		if only, ok := v.Keys.onlyKey(); ok {
			appID = only
		} else {
			return nil, fmt.Errorf("liveswitch: %w: the body names no applicationId", ErrUnknownKey)
		}
	}
	secrets, ok := v.Keys[appID]
	if !ok {
		return nil, fmt.Errorf("liveswitch: %w: applicationId %s", ErrUnknownKey, quoteID(appID))
	}
	if !hmacMatch(secrets, mac, r.Body) {
		return nil, fmt.Errorf("liveswitch: %w", ErrSignatureMismatch)
	}

	now := nowFunc(v.Now)
	evs := make([]Event, 0, len(items))
	for i, it := range items {
		ev, err := v.event(it, appID, now)
		if err != nil {
			if len(items) > 1 {
				return nil, fmt.Errorf("liveswitch: batch item %d: %w", i, err)
			}
			return nil, fmt.Errorf("liveswitch: %w", err)
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// event builds the Event of one verified item.
func (v *LiveSwitch) event(it liveSwitchItem, appID string, now time.Time) (Event, error) {
	id, err := fieldString(it.fields, "id")
	if err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrMalformedBody, err)
	}
	typ, err := fieldString(it.fields, "type")
	if err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrMalformedBody, err)
	}
	at, hasTime, err := fieldTime(it.fields, "timestamp", time.Millisecond)
	if err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrMalformedBody, err)
	}
	if v.Tolerance > 0 {
		if !hasTime {
			return Event{}, fmt.Errorf("%w: no timestamp to check freshness", ErrMalformedBody)
		}
		if !within(at, now, v.Tolerance) {
			return Event{}, fmt.Errorf("%w: timestamp %d", ErrStale, at.UnixMilli())
		}
	}
	key := idKey(appID, id)
	if id == "" {
		key = BodyKey(appID, it.raw)
	}
	return Event{
		Provider: ProviderLiveSwitch,
		ID:       id,
		Key:      key,
		Type:     typ,
		Time:     at,
		KeyID:    appID,
		Body:     it.raw,
	}, nil
}

// parseLiveSwitch splits body into its events and returns the application
// id they name ("" when none does). Every event that names one must name
// the same one.
func parseLiveSwitch(body []byte) ([]liveSwitchItem, string, error) {
	raws, single, _, err := splitBatch(body)
	if err != nil {
		return nil, "", err
	}
	items := make([]liveSwitchItem, len(raws))
	var appID string
	for i, raw := range raws {
		fields := single
		if fields == nil {
			// A batch item: checked with the whole body by splitBatch.
			if fields, err = cutMembers(raw); err != nil {
				return nil, "", err
			}
		}
		id, err := liveSwitchAppID(fields)
		if err != nil {
			return nil, "", err
		}
		if id != "" {
			if appID != "" && id != appID {
				return nil, "", errors.New("events name different applicationIds")
			}
			appID = id
		}
		items[i] = liveSwitchItem{raw: raw, fields: fields}
	}
	return items, appID, nil
}

// liveSwitchAppID returns the applicationId named by the channel, client or
// connection of one event; "" when none names one.
func liveSwitchAppID(fields map[string]json.RawMessage) (string, error) {
	var appID string
	for _, part := range [...]string{"channel", "client", "connection"} {
		raw := fields[part]
		if isNull(raw) {
			continue
		}
		sub, err := cutMembers(raw) // checked with the whole body
		if err != nil {
			return "", fmt.Errorf("%s: %w", part, err)
		}
		id, err := fieldString(sub, "applicationId")
		if err != nil {
			return "", fmt.Errorf("%s: %w", part, err)
		}
		if id == "" {
			continue
		}
		if appID != "" && id != appID {
			return "", errors.New("an event names different applicationIds")
		}
		appID = id
	}
	return appID, nil
}

// SplitBatch splits a LiveSwitch body into its events. A body of the form
// {"batch":[event, ...]} yields its items (batch = true), each a JSON
// object; any other JSON object yields itself (batch = false). Empty
// batches, batches of more than MaxLiveSwitchBatch items and bodies that
// are not a JSON object are refused.
func SplitBatch(body []byte) (events []json.RawMessage, batch bool, err error) {
	events, _, batch, err = splitBatch(body)
	return events, batch, err
}

// splitBatch is SplitBatch that also returns the parsed members of a single
// event, so that it is not parsed twice.
func splitBatch(body []byte) (events []json.RawMessage, single map[string]json.RawMessage, batch bool, err error) {
	fields, err := objectFields(body)
	if err != nil {
		return nil, nil, false, err
	}
	raw, ok := fields["batch"]
	if !ok {
		return []json.RawMessage{body}, fields, false, nil
	}
	// The whole body passed objectFields: raw is valid JSON to walk.
	if raw[0] != '[' {
		return nil, nil, true, errors.New("batch is not a JSON array")
	}
	for i := skipSpace(raw, 1); raw[i] != ']'; {
		if len(events) == MaxLiveSwitchBatch {
			return nil, nil, true, fmt.Errorf("batch holds more than %d events", MaxLiveSwitchBatch)
		}
		end := skipValue(raw, i)
		if raw[i] != '{' {
			return nil, nil, true, fmt.Errorf("batch item %d is not a JSON object", len(events))
		}
		events = append(events, json.RawMessage(raw[i:end]))
		if i = skipSpace(raw, end); raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	if len(events) == 0 {
		return nil, nil, true, errors.New("empty batch")
	}
	return events, nil, true, nil
}

// SignLiveSwitch returns the X-ApplicationSignature LiveSwitch sends with
// body: standard base64 of HMAC-SHA256(secret, body).
func SignLiveSwitch(secret, body []byte) string {
	return signHMAC(secret, body)
}

// sendLiveSwitch signs m as LiveSwitch does: X-ApplicationSignature over
// the body; with m.Batch > 1, several events in {"batch":[...]}.
func sendLiveSwitch(m Message) (Outgoing, error) {
	body := m.Body
	if body == nil {
		typ := or(m.Type, "channel.client.joined")
		event := func(id string) map[string]any {
			return map[string]any{"id": id, "timestamp": m.At.UnixMilli(), "origin": "gateway", "type": typ,
				"channel": map[string]any{"id": "demo-channel", "applicationId": m.KeyID}}
		}
		if m.Batch <= 1 {
			body = jsonBody(event(m.ID))
		} else {
			items := make([]any, m.Batch)
			for i := range items {
				items[i] = event(fmt.Sprintf("%s-%d", m.ID, i))
			}
			body = jsonBody(map[string]any{"batch": items})
		}
	}
	h := http.Header{"Content-Type": {"application/json"}, "X-Applicationsignature": {SignLiveSwitch([]byte(m.Secret), body)}}
	return Outgoing{Header: h, Body: body}, nil
}

var _ Verifier = (*LiveSwitch)(nil)
