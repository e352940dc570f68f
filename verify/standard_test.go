package verify

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The vector of PROVIDERS.md.
const (
	stdSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	stdID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	stdTS     = "1614265330"
	stdBody   = `{"test": 2432232314}`
	stdSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

var stdT0 = time.Unix(1614265330, 0).UTC()

func stdKey(t testing.TB, s string) []byte {
	t.Helper()
	k, err := ParseStandardSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newTestStandard(t testing.TB, keys Keyring, now time.Time) *Standard {
	t.Helper()
	if keys == nil {
		keys = Keyring{"partner": {stdKey(t, stdSecret)}}
	}
	v, err := NewStandard(keys, 0, fixedClock(now))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSignStandardVector(t *testing.T) {
	if got := SignStandard(stdKey(t, stdSecret), stdID, stdT0, []byte(stdBody)); got != stdSig {
		t.Fatalf("SignStandard = %s, want %s", got, stdSig)
	}
}

func TestParseStandardSecret(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"whsec", stdSecret, true},
		{"bare base64", strings.TrimPrefix(stdSecret, "whsec_"), true},
		{"unpadded base64", "whsec_YWJj" + "ZA", true},
		{"padded base64", "whsec_YWJjZA==", true},
		{"empty", "", false},
		{"prefix only", "whsec_", false},
		{"not base64", "whsec_not*base64", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseStandardSecret(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseStandardSecret(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if err != nil && tt.in != "" && strings.Contains(err.Error(), tt.in) {
				t.Fatalf("error repeats the secret: %v", err)
			}
		})
	}
}

func TestStandardAccepts(t *testing.T) {
	otherKey := stdKey(t, "whsec_"+"c2Vjb25kLXNlY3JldC1mb3ItdGVzdHM=")
	rotation := Keyring{"partner": {otherKey, stdKey(t, stdSecret)}}
	twoLabels := Keyring{"a-old": {otherKey}, "b-new": {stdKey(t, stdSecret)}}
	otherSig := SignStandard(otherKey, stdID, stdT0, []byte(stdBody))
	typed := `{"type":"invoice.paid","data":{}}`
	tests := []struct {
		name  string
		keys  Keyring
		hdr   []string
		body  string
		now   time.Time
		keyID string
		typ   string
	}{
		{"vector", nil, []string{"webhook-id", stdID, "webhook-timestamp", stdTS, "webhook-signature", stdSig}, stdBody, stdT0, "partner", ""},
		{"svix headers", nil, []string{"svix-id", stdID, "svix-timestamp", stdTS, "svix-signature", stdSig}, stdBody, stdT0, "partner", ""},
		{"several entries, one matches", nil, []string{"webhook-id", stdID, "webhook-timestamp", stdTS, "webhook-signature", otherSig + " " + stdSig}, stdBody, stdT0, "partner", ""},
		{"unknown versions ignored", nil, []string{"webhook-id", stdID, "webhook-timestamp", stdTS, "webhook-signature", "v1a,Zm9v v2,YmFy " + stdSig}, stdBody, stdT0, "partner", ""},
		{"signature over two header lines", nil, []string{"webhook-id", stdID, "webhook-timestamp", stdTS, "webhook-signature", otherSig, "webhook-signature", stdSig}, stdBody, stdT0, "partner", ""},
		{"rotation: second secret", rotation, []string{"webhook-id", stdID, "webhook-timestamp", stdTS, "webhook-signature", stdSig}, stdBody, stdT0, "partner", ""},
		{"second label", twoLabels, []string{"webhook-id", stdID, "webhook-timestamp", stdTS, "webhook-signature", stdSig}, stdBody, stdT0, "b-new", ""},
		{"five minutes late", nil, []string{"webhook-id", stdID, "webhook-timestamp", stdTS, "webhook-signature", stdSig}, stdBody, stdT0.Add(5 * time.Minute), "partner", ""},
		{"five minutes early", nil, []string{"webhook-id", stdID, "webhook-timestamp", stdTS, "webhook-signature", stdSig}, stdBody, stdT0.Add(-5 * time.Minute), "partner", ""},
		{"type from body", nil, []string{"webhook-id", stdID, "webhook-timestamp", stdTS, "webhook-signature", SignStandard(stdKey(t, stdSecret), stdID, stdT0, []byte(typed))}, typed, stdT0, "partner", "invoice.paid"},
		{"body not JSON", nil, []string{"webhook-id", stdID, "webhook-timestamp", stdTS, "webhook-signature", SignStandard(stdKey(t, stdSecret), stdID, stdT0, []byte("plain text"))}, "plain text", stdT0, "partner", ""},
		{"empty body", nil, []string{"webhook-id", stdID, "webhook-timestamp", stdTS, "webhook-signature", SignStandard(stdKey(t, stdSecret), stdID, stdT0, nil)}, "", stdT0, "partner", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := newTestStandard(t, tt.keys, tt.now).Verify(&Request{
				Header: header(tt.hdr...),
				Body:   []byte(tt.body),
			})
			checkErr(t, err, nil)
			checkOneEvent(t, evs, Event{
				Provider: ProviderStandardWebhooks,
				ID:       stdID,
				Key:      idKey(tt.keyID, stdID),
				Type:     tt.typ,
				Time:     stdT0,
				KeyID:    tt.keyID,
				Body:     []byte(tt.body),
			})
		})
	}
}

func TestStandardRejects(t *testing.T) {
	hdr := func(id, ts, sig string) []string {
		return []string{"webhook-id", id, "webhook-timestamp", ts, "webhook-signature", sig}
	}
	wrongKey := SignStandard([]byte("not the partner's key"), stdID, stdT0, []byte(stdBody))
	tests := []struct {
		name string
		hdr  []string
		body string
		now  time.Time
		want error
	}{
		{"no headers", nil, stdBody, stdT0, ErrMissingSignature},
		{"no id", hdr("", stdTS, stdSig), stdBody, stdT0, ErrMissingSignature},
		{"no timestamp", hdr(stdID, "", stdSig), stdBody, stdT0, ErrMissingSignature},
		{"no signature", hdr(stdID, stdTS, ""), stdBody, stdT0, ErrMissingSignature},
		{"mixed header families", []string{"webhook-id", stdID, "svix-timestamp", stdTS, "svix-signature", stdSig}, stdBody, stdT0, ErrMissingSignature},
		{"timestamp not a number", hdr(stdID, "yesterday", stdSig), stdBody, stdT0, ErrMalformedSignature},
		{"timestamp with sign", hdr(stdID, "+"+stdTS, stdSig), stdBody, stdT0, ErrMalformedSignature},
		{"timestamp in milliseconds overflows", hdr(stdID, "99999999999999999999", stdSig), stdBody, stdT0, ErrMalformedSignature},
		{"conflicting ids", []string{"webhook-id", stdID, "webhook-id", "msg_other", "webhook-timestamp", stdTS, "webhook-signature", stdSig}, stdBody, stdT0, ErrMalformedSignature},
		{"only v1a entries", hdr(stdID, stdTS, "v1a,"+strings.TrimPrefix(stdSig, "v1,")), stdBody, stdT0, ErrMalformedSignature},
		{"v1 entry not base64", hdr(stdID, stdTS, "v1,***"), stdBody, stdT0, ErrMalformedSignature},
		{"no version", hdr(stdID, stdTS, strings.TrimPrefix(stdSig, "v1,")), stdBody, stdT0, ErrMalformedSignature},
		{"wrong key", hdr(stdID, stdTS, wrongKey), stdBody, stdT0, ErrSignatureMismatch},
		{"tampered body", hdr(stdID, stdTS, stdSig), `{"test": 2432232315}`, stdT0, ErrSignatureMismatch},
		{"other id", hdr("msg_other", stdTS, stdSig), stdBody, stdT0, ErrSignatureMismatch},
		{"other timestamp", hdr(stdID, "1614265331", stdSig), stdBody, stdT0, ErrSignatureMismatch},
		{"timestamp with leading zero", hdr(stdID, "0"+stdTS, stdSig), stdBody, stdT0, ErrSignatureMismatch},
		{"stale", hdr(stdID, stdTS, stdSig), stdBody, stdT0.Add(5*time.Minute + time.Second), ErrStale},
		{"from the future", hdr(stdID, stdTS, stdSig), stdBody, stdT0.Add(-5*time.Minute - time.Second), ErrStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := newTestStandard(t, nil, tt.now).Verify(&Request{
				Header: header(tt.hdr...),
				Body:   []byte(tt.body),
			})
			checkErr(t, err, tt.want)
			if evs != nil {
				t.Fatalf("events returned with error: %v", evs)
			}
		})
	}
}

func TestNewStandardValidates(t *testing.T) {
	if _, err := NewStandard(Keyring{}, 0, nil); err == nil {
		t.Fatal("NewStandard accepted no keys")
	}
	if _, err := NewStandard(Keyring{"a": {[]byte("k")}}, -time.Second, nil); err == nil {
		t.Fatal("NewStandard accepted a negative tolerance")
	}
}

func FuzzStandard(f *testing.F) {
	// The verifier's key is not the vector's: no input may verify.
	f.Add(stdID, stdTS, stdSig, []byte(stdBody))
	f.Add(stdID, stdTS, "v1a,abc "+stdSig+" v1,", []byte(``))
	f.Add("", "0", "v1,", []byte(`{"type":"x"}`))
	v := newTestStandard(f, Keyring{"partner": {[]byte("fuzz-key-never-in-corpus")}}, stdT0)
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		evs, err := v.Verify(&Request{
			Header: header("webhook-id", id, "webhook-timestamp", ts, "webhook-signature", sig),
			Body:   body,
		})
		if err == nil {
			t.Fatalf("forged signature accepted: %q %q %q %q -> %v", id, ts, sig, body, evs)
		}
	})
}

func FuzzStandardRoundTrip(f *testing.F) {
	f.Add(stdID, int64(0), []byte(stdBody), uint16(0))
	f.Add("x", int64(-299), []byte(``), uint16(9))
	key := stdKey(f, stdSecret)
	v := newTestStandard(f, nil, stdT0)
	f.Fuzz(func(t *testing.T, id string, delta int64, body []byte, flip uint16) {
		id = strings.TrimSpace(id)
		if id == "" || strings.ContainsAny(id, "\r\n\x00") {
			return // not a header value net/http would deliver
		}
		ts := stdT0.Add(time.Duration(delta%300) * time.Second)
		sig := SignStandard(key, id, ts, body)
		h := header("webhook-id", id, "webhook-timestamp", strconv.FormatInt(ts.Unix(), 10), "webhook-signature", sig)
		evs, err := v.Verify(&Request{Header: h, Body: body})
		if err != nil {
			t.Fatalf("signed message rejected: %v", err)
		}
		if evs[0].ID != id || evs[0].Key != idKey("partner", id) {
			t.Fatalf("ID, Key = %q, %q; want %q, %q", evs[0].ID, evs[0].Key, id, idKey("partner", id))
		}
		tampered := append([]byte(nil), body...)
		if len(tampered) == 0 {
			tampered = []byte{0}
		} else {
			tampered[int(flip)%len(tampered)] ^= 0x80
		}
		if _, err := v.Verify(&Request{Header: h, Body: tampered}); !errors.Is(err, ErrSignatureMismatch) {
			t.Fatalf("tampered body: err = %v, want ErrSignatureMismatch", err)
		}
	})
}

func BenchmarkVerifyStandard(b *testing.B) {
	body := payload(1024, `"type":"invoice.paid",`)
	key := stdKey(b, stdSecret)
	v := newTestStandard(b, nil, stdT0)
	r := &Request{
		Header: header("webhook-id", stdID, "webhook-timestamp", stdTS, "webhook-signature", SignStandard(key, stdID, stdT0, body)),
		Body:   body,
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}
