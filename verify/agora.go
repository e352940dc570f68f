package verify

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Agora Notification Center Service (NCS) signature headers: hex
// HMAC-SHA1 and hex HMAC-SHA256 over the raw body.
const (
	HeaderAgoraSignature   = "Agora-Signature"
	HeaderAgoraSignatureV2 = "Agora-Signature-V2"
)

// agoraAck is a JSON answer: NCS wants 200 with a JSON body.
const agoraAck = `{}`

// Agora verifies Agora NCS callbacks (RTC channel events, cloud
// recording, RTMP gateway).
//
// Agora-Signature-V2 is the hex HMAC-SHA256 of the raw body keyed with
// the NCS secret as written; Agora-Signature the same with SHA-1, accepted
// only when V2 is absent and AllowSHA1 is set (a V2 that does not verify is
// never retried with V1). Agora signs no time: only dedupe, on the body's
// noticeId, stops a replay.
type Agora struct {
	// Keys maps a label to NCS secrets; every secret is tried.
	Keys Keyring
	// AllowSHA1 accepts Agora-Signature (HMAC-SHA1) when V2 is absent.
	AllowSHA1 bool
}

// NewAgora returns an Agora verifier after checking keys.
func NewAgora(keys Keyring, allowSHA1 bool) (*Agora, error) {
	if err := keys.Validate(); err != nil {
		return nil, err
	}
	return &Agora{Keys: keys, AllowSHA1: allowSHA1}, nil
}

func newAgoraVerifier(keys Keyring, o Options) (Verifier, error) {
	if err := noTolerance(ProviderAgora, o); err != nil {
		return nil, err
	}
	return NewAgora(keys, o.AllowSHA1)
}

// SignatureHeaders implements SignatureHeaderer.
func (v *Agora) SignatureHeaders() []string {
	return []string{HeaderAgoraSignatureV2, HeaderAgoraSignature}
}

// ForwardTimeout implements ForwardTimeouter: NCS wants an answer within
// 10 s.
func (v *Agora) ForwardTimeout() time.Duration { return 9 * time.Second }

// ReplayWindow implements ReplayWindower: Agora signs no time.
func (v *Agora) ReplayWindow() time.Duration { return 0 }

// Ack implements Acknowledger: NCS wants a JSON body.
func (v *Agora) Ack() (string, []byte) { return "application/json", []byte(agoraAck) }

// Verify implements Verifier.
func (v *Agora) Verify(r *Request) ([]Event, error) {
	v2, err := singleHeader(r.Header, HeaderAgoraSignatureV2)
	if err != nil {
		return nil, fmt.Errorf("agora: %w", err)
	}
	v1, err := singleHeader(r.Header, HeaderAgoraSignature)
	if err != nil {
		return nil, fmt.Errorf("agora: %w", err)
	}
	var label string
	var ok bool
	switch {
	case v2 != "":
		sig, good := decodeHex(v2, sha256.Size)
		if !good {
			return nil, fmt.Errorf("agora: %w: %s is not a hex HMAC-SHA256", ErrMalformedSignature, HeaderAgoraSignatureV2)
		}
		label, _, ok = matchLabel(v.Keys, [][]byte{sig}, func(k []byte) []byte { return hmacSum(sha256.New, k, r.Body) })
	case v1 != "":
		if !v.AllowSHA1 {
			return nil, fmt.Errorf("agora: %w: only %s (HMAC-SHA1) was sent and allow_sha1 is off", ErrUnsupportedAlgorithm, HeaderAgoraSignature)
		}
		sig, good := decodeHex(v1, sha1.Size)
		if !good {
			return nil, fmt.Errorf("agora: %w: %s is not a hex HMAC-SHA1", ErrMalformedSignature, HeaderAgoraSignature)
		}
		label, _, ok = matchLabel(v.Keys, [][]byte{sig}, func(k []byte) []byte { return hmacSum(sha1.New, k, r.Body) })
	default:
		return nil, fmt.Errorf("agora: %w: no %s header", ErrMissingSignature, HeaderAgoraSignatureV2)
	}
	if !ok {
		return nil, fmt.Errorf("agora: %w", ErrSignatureMismatch)
	}

	fields, err := objectMembers(r.Body, "noticeId", "eventType", "notifyMs")
	if err != nil {
		return nil, fmt.Errorf("agora: %w: %w", ErrMalformedBody, err)
	}
	id, err := fieldString(fields, "noticeId")
	if err != nil {
		return nil, fmt.Errorf("agora: %w: %w", ErrMalformedBody, err)
	}
	typ, hasType, err := fieldInt(fields, "eventType")
	if err != nil {
		return nil, fmt.Errorf("agora: %w: %w", ErrMalformedBody, err)
	}
	at, _, err := fieldTime(fields, "notifyMs", time.Millisecond)
	if err != nil {
		return nil, fmt.Errorf("agora: %w: %w", ErrMalformedBody, err)
	}
	// notifyMs changes on every retry: only noticeId deduplicates.
	ev := Event{Provider: ProviderAgora, ID: id, Key: idKey(label, id), Time: at, KeyID: label, Body: r.Body}
	if id == "" {
		ev.Key = BodyKey(label, r.Body)
	}
	if hasType {
		ev.Type = strconv.FormatInt(typ, 10)
	}
	return []Event{ev}, nil
}

// SignAgora returns the Agora-Signature-V2 header NCS sends with body: hex
// HMAC-SHA256(secret, body).
func SignAgora(secret, body []byte) string { return hexMAC(secret, body) }

// SignAgoraSHA1 returns the Agora-Signature header: hex
// HMAC-SHA1(secret, body).
func SignAgoraSHA1(secret, body []byte) string {
	return hex.EncodeToString(hmacSum(sha1.New, secret, body))
}

// sendAgora signs m as NCS does: both signature headers over the body.
func sendAgora(m Message) (Outgoing, error) {
	body := m.Body
	if body == nil {
		et := 103 // RTC: a broadcaster joined the channel
		if m.Type != "" {
			n, err := strconv.Atoi(m.Type)
			if err != nil {
				return Outgoing{}, fmt.Errorf("%s: the event type is a number, e.g. 103", ProviderAgora)
			}
			et = n
		}
		body = jsonBody(map[string]any{"noticeId": m.ID, "productId": 1, "eventType": et, "notifyMs": m.At.UnixMilli(),
			"payload": map[string]any{"channelName": "demo-channel", "uid": 12345, "platform": 1, "ts": m.At.Unix()}})
	}
	h := http.Header{"Content-Type": {"application/json"}}
	h.Set(HeaderAgoraSignatureV2, SignAgora([]byte(m.Secret), body))
	h.Set(HeaderAgoraSignature, SignAgoraSHA1([]byte(m.Secret), body))
	return Outgoing{Header: h, Body: body}, nil
}

var (
	_ Verifier     = (*Agora)(nil)
	_ Acknowledger = (*Agora)(nil)
)
