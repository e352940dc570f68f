package verify

import (
	"bytes"
	"net/url"
	"strconv"
	"testing"
)

func TestBodyKey(t *testing.T) {
	// Pinned: stores keep keys across restarts, so the format must not
	// drift silently.
	if got := BodyKey(trtcAppID, []byte(trtcBody)); got != "sha256:8aa7082e981a55be91a0d88038d4d597e340a2658d1188366785efed5faad045" {
		t.Fatalf("BodyKey(trtcAppID, trtcBody) = %s", got) // SHA-256 of 00..0a "1400188888" body
	}
	if got := BodyKey("", nil); got != "sha256:af5570f5a1810b7af78caf4bc70a660f0df51e42baf91d4de5b2328de0e83dfc" {
		t.Fatalf("BodyKey(\"\", nil) = %s", got) // SHA-256 of eight zero bytes
	}
	tests := []struct {
		name           string
		k1, b1, k2, b2 string
	}{
		{"key id moves into the body", "ab", "c", "a", "bc"},
		{"empty key id", "", "abc", "a", "bc"},
		{"same body, two apps", "1400000001", trtcBody, "1400000002", trtcBody},
		{"length prefix is not confused with content", "\x00", "", "", "\x00\x00\x00\x00\x00\x00\x00\x01\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if BodyKey(tt.k1, []byte(tt.b1)) == BodyKey(tt.k2, []byte(tt.b2)) {
				t.Fatal("distinct key ids and bodies share a key")
			}
		})
	}
}

// TestKeysScopedToKeyID pins the bug where TRTC's dedupe key was the body
// alone, so two applications sending identical bodies to one route
// collided (the second event was dropped as a duplicate), and its
// neighbours: the same event id from two key ids.
func TestKeysScopedToKeyID(t *testing.T) {
	const app1, app2 = "1400000001", "1400000002"
	body := []byte(`{"EventGroupId":1,"EventType":103,"CallbackTs":1664209748188,"CallbackCommand":"Live.CallbackAfterCreateRoom","EventTime":1669872112345}`)
	lsBodyOf := func(app, id string) []byte {
		return []byte(`{"timestamp":1700000000123,"type":"channel.activated","id":"` + id + `","channel":{"applicationId":"` + app + `"}}`)
	}
	lkBody := []byte(liveKitRoomStarted)
	lkNoID := []byte(`{"event":"room_finished","createdAt":"1795344706"}`)
	lkKeys := Keyring{"key1": {[]byte("secret-one")}, "key2": {[]byte("secret-two")}}
	stdKeys := Keyring{"partner-a": {[]byte("key-a")}, "partner-b": {[]byte("key-b")}}

	trtc := newTestTRTC(t, Keyring{app1: {[]byte("k1")}, app2: {[]byte("k2")}}, 0, trtcT0)
	tencent, err := NewTencent(Keyring{app1: {[]byte("t1")}, app2: {[]byte("t2")}}, 0, fixedClock(tencentT0))
	if err != nil {
		t.Fatal(err)
	}
	ls := newTestLiveSwitch(t, Keyring{app1: {[]byte("s1")}, app2: {[]byte("s2")}}, 0, lsT0)
	lk, err := NewLiveKit(lkKeys, 0, fixedClock(liveKitT0))
	if err != nil {
		t.Fatal(err)
	}
	std, err := NewStandard(stdKeys, 0, fixedClock(stdT0))
	if err != nil {
		t.Fatal(err)
	}
	tencentReq := func(app, token string) *Request {
		return &Request{Query: url.Values{"SdkAppid": {app}, "RequestTime": {strconv.Itoa(tencentTime)}, "Sign": {SignTencent(token, tencentTime)}}, Body: body}
	}
	lkReq := func(key, secret string, b []byte) *Request {
		return &Request{Header: header("Authorization", mustSignLiveKit(t, key, []byte(secret), b, liveKitT0)), Body: b}
	}
	stdReq := func(key string) *Request {
		return &Request{Header: header("webhook-id", "msg_1", "webhook-timestamp", stdTS, "webhook-signature", SignStandard([]byte(key), "msg_1", stdT0, []byte(stdBody))), Body: []byte(stdBody)}
	}
	tests := []struct {
		name string
		v    Verifier
		a, b *Request
	}{
		{"tencent-trtc: identical bodies", trtc,
			&Request{Header: header("Sign", SignTRTC([]byte("k1"), body), "SdkAppId", app1), Body: body},
			&Request{Header: header("Sign", SignTRTC([]byte("k2"), body), "SdkAppId", app2), Body: body}},
		{"tencent: identical bodies", tencent, tencentReq(app1, "t1"), tencentReq(app2, "t2")},
		{"liveswitch: one event id in two applications", ls,
			&Request{Header: header(HeaderLiveSwitchSignature, SignLiveSwitch([]byte("s1"), lsBodyOf(app1, "ev-1"))), Body: lsBodyOf(app1, "ev-1")},
			&Request{Header: header(HeaderLiveSwitchSignature, SignLiveSwitch([]byte("s2"), lsBodyOf(app2, "ev-1"))), Body: lsBodyOf(app2, "ev-1")}},
		{"livekit: one event id under two API keys", lk, lkReq("key1", "secret-one", lkBody), lkReq("key2", "secret-two", lkBody)},
		{"livekit: identical bodies without id", lk, lkReq("key1", "secret-one", lkNoID), lkReq("key2", "secret-two", lkNoID)},
		{"standard-webhooks: one webhook-id from two senders", std, stdReq("key-a"), stdReq("key-b")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ea, err := tt.v.Verify(tt.a)
			checkErr(t, err, nil)
			eb, err := tt.v.Verify(tt.b)
			checkErr(t, err, nil)
			if ea[0].KeyID == eb[0].KeyID {
				t.Fatalf("test setup: both verified by %q", ea[0].KeyID)
			}
			if ea[0].Key == eb[0].Key {
				t.Fatalf("events of %q and %q share the key %q", ea[0].KeyID, eb[0].KeyID, ea[0].Key)
			}
			if ea[0].ID != eb[0].ID {
				t.Fatalf("provider ids differ: %q, %q", ea[0].ID, eb[0].ID)
			}
		})
	}
}

// FuzzEventKeys checks that the keys are injective: two (key id, content)
// pairs share a BodyKey, and two (key id, id) pairs an id key, only when
// they are equal, and an id key is never a BodyKey.
func FuzzEventKeys(f *testing.F) {
	f.Add("ab", []byte("c"), "a", []byte("bc"))
	f.Add("1:a", []byte(":b"), "1", []byte("a::b"))
	f.Add("", []byte{}, "", []byte{})
	f.Fuzz(func(t *testing.T, k1 string, b1 []byte, k2 string, b2 []byte) {
		same := k1 == k2 && bytes.Equal(b1, b2)
		if (BodyKey(k1, b1) == BodyKey(k2, b2)) != same {
			t.Fatalf("BodyKey(%q, %q) vs BodyKey(%q, %q): equal = %v", k1, b1, k2, b2, !same)
		}
		if (idKey(k1, string(b1)) == idKey(k2, string(b2))) != same {
			t.Fatalf("idKey(%q, %q) vs idKey(%q, %q): equal = %v", k1, b1, k2, b2, !same)
		}
		if idKey(k1, string(b1)) == BodyKey(k2, b2) {
			t.Fatalf("idKey(%q, %q) is a BodyKey", k1, b1)
		}
	})
}
