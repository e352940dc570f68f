package verify

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The generic verifier reproduces other providers' vectors by
// configuration: GitHub's, Slack's and Agora's.
var (
	hmacGitHub = HMACConfig{Header: "X-Hub-Signature-256", Prefix: "sha256="}
	hmacSlack  = HMACConfig{Header: "X-Slack-Signature", Prefix: "v0=", Signed: "v0:{timestamp}:{body}", TimestampHeader: "X-Slack-Request-Timestamp"}
	hmacAgora1 = HMACConfig{Header: "Agora-Signature", Algorithm: "sha1"}
	hmacFull   = HMACConfig{Header: "X-Acme-Signature", Encoding: "base64url", Signed: "{id}.{timestamp}.{url}.{body}",
		TimestampHeader: "X-Acme-Timestamp", TimestampUnit: "ms", IDHeader: "X-Acme-Delivery"}
)

func newTestHMAC(t testing.TB, c HMACConfig, secret string, now time.Time) *HMAC {
	t.Helper()
	key, err := ParseHMACSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewHMAC(Keyring{"sender": {key}}, c, c.Algorithm == "sha1", 0, false, fixedClock(now))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestHMACVectors(t *testing.T) {
	tests := []struct {
		name   string
		c      HMACConfig
		secret string
		hdr    []string
		body   string
		now    time.Time
	}{
		{"GitHub's vector", hmacGitHub, ghSecret, []string{"X-Hub-Signature-256", ghSig}, ghBody, slackT0},
		{"GitHub's vector, secret as base64:", hmacGitHub, "base64:" + base64.StdEncoding.EncodeToString([]byte(ghSecret)), []string{"X-Hub-Signature-256", ghSig}, ghBody, slackT0},
		{"Slack's vector", hmacSlack, slackSecret, []string{"X-Slack-Signature", slackSig, "X-Slack-Request-Timestamp", strconv.Itoa(slackTS)}, slackBody, slackT0},
		{"Agora's SHA-1 vector", hmacAgora1, agoraSecret, []string{"Agora-Signature", agoraV1}, agoraBody, slackT0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newTestHMAC(t, tt.c, tt.secret, tt.now)
			evs, err := v.Verify(&Request{Header: header(tt.hdr...), Body: []byte(tt.body)})
			checkErr(t, err, nil)
			if evs[0].Key != BodyKey("sender", []byte(tt.body)) || evs[0].KeyID != "sender" {
				t.Fatalf("event %s", fmtEvent(evs[0]))
			}
			key, _ := ParseHMACSecret(tt.secret)
			if got := v.Sign(key, tt.now, "", "", []byte(tt.body)); got != tt.hdr[1] {
				t.Fatalf("Sign = %s, want %s", got, tt.hdr[1])
			}
		})
	}
}

func TestHMACIDsAndURL(t *testing.T) {
	now := time.UnixMilli(1700000000123).UTC()
	v := newTestHMAC(t, hmacFull, "acme-secret", now)
	const u = "https://hooks.example.com/acme?x=1"
	body := []byte(`{"id":"ignored","type":"order.created"}`)
	sig := v.Sign([]byte("acme-secret"), now, "dlv-1", u, body)
	evs, err := v.Verify(&Request{Header: header("X-Acme-Signature", sig, "X-Acme-Timestamp", "1700000000123", "X-Acme-Delivery", "dlv-1"), Body: body, URL: u})
	checkErr(t, err, nil)
	checkOneEvent(t, evs, Event{Provider: ProviderHMAC, ID: "dlv-1", Key: idKey("sender", "dlv-1"), Type: "order.created", Time: now, KeyID: "sender", Body: body})

	byField := newTestHMAC(t, HMACConfig{Header: "X-Sig", IDField: "id"}, "s", now)
	for _, b := range []string{`{"id":"evt_1"}`, `{"id":42}`} {
		evs, err := byField.Verify(&Request{Header: header("X-Sig", byField.Sign([]byte("s"), now, "", "", []byte(b))), Body: []byte(b)})
		checkErr(t, err, nil)
		if want := strings.Trim(b[6:len(b)-1], `"`); evs[0].ID != want || evs[0].Key != idKey("sender", want) {
			t.Fatalf("%s: event %s", b, fmtEvent(evs[0]))
		}
	}
}

func TestHMACRejects(t *testing.T) {
	now := time.UnixMilli(1700000000123).UTC()
	full := newTestHMAC(t, hmacFull, "acme-secret", now)
	const u = "https://hooks.example.com/acme"
	body := `{"type":"x"}`
	fullSig := full.Sign([]byte("acme-secret"), now, "dlv-1", u, []byte(body))
	fullHdr := func(sig, ts, id string) []string {
		return []string{"X-Acme-Signature", sig, "X-Acme-Timestamp", ts, "X-Acme-Delivery", id}
	}
	gh := newTestHMAC(t, hmacGitHub, ghSecret, now)
	sha1 := newTestHMAC(t, hmacAgora1, agoraSecret, now)
	byField := newTestHMAC(t, HMACConfig{Header: "X-Sig", IDField: "id"}, "s", now)
	tests := []struct {
		name string
		v    *HMAC
		hdr  []string
		body string
		url  string
		now  time.Time
		want error
	}{
		{"no signature", gh, nil, ghBody, "", now, ErrMissingSignature},
		{"no prefix", gh, []string{"X-Hub-Signature-256", ghSig[7:]}, ghBody, "", now, ErrMalformedSignature},
		{"wrong length", gh, []string{"X-Hub-Signature-256", ghSig[:70]}, ghBody, "", now, ErrMalformedSignature},
		{"upper-case hex", gh, []string{"X-Hub-Signature-256", "sha256=" + strings.ToUpper(ghSig[7:])}, ghBody, "", now, ErrMalformedSignature},
		{"wrong secret", gh, []string{"X-Hub-Signature-256", SignGitHub([]byte("x"), []byte(ghBody))}, ghBody, "", now, ErrSignatureMismatch},
		{"tampered body", gh, []string{"X-Hub-Signature-256", ghSig}, ghBody + "!", "", now, ErrSignatureMismatch},
		{"SHA-1 tampered", sha1, []string{"Agora-Signature", agoraV1}, agoraBody + " ", "", now, ErrSignatureMismatch},
		{"no timestamp", full, []string{"X-Acme-Signature", fullSig, "X-Acme-Delivery", "dlv-1"}, body, u, now, ErrMissingSignature},
		{"no id", full, []string{"X-Acme-Signature", fullSig, "X-Acme-Timestamp", "1700000000123"}, body, u, now, ErrMissingSignature},
		{"timestamp in seconds where ms are configured", full, fullHdr(fullSig, "1700000000", "dlv-1"), body, u, now, ErrMalformedSignature},
		{"base64url with a bad character", full, fullHdr(fullSig[:len(fullSig)-1]+"*", "1700000000123", "dlv-1"), body, u, now, ErrMalformedSignature},
		{"other id", full, fullHdr(fullSig, "1700000000123", "dlv-2"), body, u, now, ErrSignatureMismatch},
		{"other URL", full, fullHdr(fullSig, "1700000000123", "dlv-1"), body, u + "/x", now, ErrSignatureMismatch},
		{"no URL known", full, fullHdr(fullSig, "1700000000123", "dlv-1"), body, "", now, ErrSignatureMismatch},
		{"other timestamp", full, fullHdr(fullSig, "1700000000124", "dlv-1"), body, u, now, ErrSignatureMismatch},
		{"stale", full, fullHdr(fullSig, "1700000000123", "dlv-1"), body, u, now.Add(5*time.Minute + time.Millisecond), ErrStale},
		{"duplicate JSON member", byField, []string{"X-Sig", byField.Sign([]byte("s"), now, "", "", []byte(`{"id":"a","id":"b"}`))}, `{"id":"a","id":"b"}`, "", now, ErrMalformedBody},
		{"id_field not a string", byField, []string{"X-Sig", byField.Sign([]byte("s"), now, "", "", []byte(`{"id":1.5}`))}, `{"id":1.5}`, "", now, ErrMalformedBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.v.Now = fixedClock(tt.now)
			evs, err := tt.v.Verify(&Request{Header: header(tt.hdr...), Body: []byte(tt.body), URL: tt.url})
			tt.v.Now = fixedClock(now)
			checkRejected(t, evs, err, tt.want)
		})
	}
}

func TestNewHMACRefuses(t *testing.T) {
	keys := Keyring{"a": {[]byte("s")}}
	tests := []struct {
		name      string
		c         HMACConfig
		allowSHA1 bool
		tol       time.Duration
		off       bool
		mention   string
	}{
		{"no header", HMACConfig{}, false, 0, false, "header"},
		{"bad header name", HMACConfig{Header: "X Sig"}, false, 0, false, "header"},
		{"sha1 without allow_sha1", HMACConfig{Header: "X", Algorithm: "sha1"}, false, 0, false, "allow_sha1"},
		{"md5", HMACConfig{Header: "X", Algorithm: "md5"}, false, 0, false, "algorithm"},
		{"bad encoding", HMACConfig{Header: "X", Encoding: "base32"}, false, 0, false, "encoding"},
		{"unknown field", HMACConfig{Header: "X", Signed: "{body}.{nonce}"}, false, 0, false, "{nonce}"},
		{"no body", HMACConfig{Header: "X", Signed: "{timestamp}", TimestampHeader: "T"}, false, 0, false, "{body}"},
		{"body twice", HMACConfig{Header: "X", Signed: "{body}{body}"}, false, 0, false, "{body}"},
		{"unsigned timestamp header", HMACConfig{Header: "X", TimestampHeader: "T"}, false, 0, false, "{timestamp}"},
		{"{timestamp} without a header", HMACConfig{Header: "X", Signed: "{timestamp}.{body}"}, false, 0, false, "timestamp_header"},
		{"unsigned id header", HMACConfig{Header: "X", IDHeader: "D"}, false, 0, false, "id_header"},
		{"{id} without a header", HMACConfig{Header: "X", Signed: "{id}.{body}"}, false, 0, false, "id_header"},
		{"id header and field", HMACConfig{Header: "X", Signed: "{id}{body}", IDHeader: "D", IDField: "id"}, false, 0, false, "id_field"},
		{"timestamp_unit without a header", HMACConfig{Header: "X", TimestampUnit: "ms"}, false, 0, false, "timestamp_unit"},
		{"bad timestamp_unit", HMACConfig{Header: "X", TimestampHeader: "T", Signed: "{timestamp}{body}", TimestampUnit: "us"}, false, 0, false, "timestamp_unit"},
		{"tolerance without a timestamp", HMACConfig{Header: "X"}, false, time.Minute, false, "timestamp_header"},
		{"negative tolerance", HMACConfig{Header: "X", TimestampHeader: "T", Signed: "{timestamp}{body}"}, false, -time.Second, false, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewHMAC(keys, tt.c, tt.allowSHA1, tt.tol, tt.off, nil)
			if err == nil || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("NewHMAC = %v, want an error mentioning %q", err, tt.mention)
			}
		})
	}
	if _, err := ParseHMACSecret("base64:!!not-b64"); err == nil || strings.Contains(err.Error(), "not-b64") {
		t.Fatalf("ParseHMACSecret: %v", err)
	}
}

func FuzzHMAC(f *testing.F) {
	f.Add("sha256="+ghSig[7:], "1700000000", "id", []byte(ghBody), int64(0), uint16(1))
	f.Add("", "", "", []byte(``), int64(0), uint16(0))
	c := HMACConfig{Header: "X-Sig", Prefix: "sha256=", Signed: "{timestamp}:{id}:{body}", TimestampHeader: "X-Ts", IDHeader: "X-Id"}
	forged := newTestHMAC(f, c, "fuzz-key-never-in-corpus", stripeT0)
	v := newTestHMAC(f, c, "real-secret", stripeT0)
	f.Fuzz(func(t *testing.T, sig, ts, id string, body []byte, delta int64, flip uint16) {
		checkForgeryRefused(t, forged, &Request{Header: header("X-Sig", sig, "X-Ts", ts, "X-Id", id), Body: body})
		id = strings.TrimSpace(id)
		if id == "" || strings.ContainsAny(id, "\r\n\x00") {
			return // not a header value net/http would deliver
		}
		at := stripeT0.Add(time.Duration(delta%300) * time.Second)
		h := header("X-Sig", v.Sign([]byte("real-secret"), at, id, "", body), "X-Ts", strconv.FormatInt(at.Unix(), 10), "X-Id", id)
		checkRoundTrip(t, v, &Request{Header: h, Body: body}, &Request{Header: h, Body: fuzzTamper(body, flip)}, ErrSignatureMismatch)
	})
}
