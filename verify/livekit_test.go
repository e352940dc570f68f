package verify

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// liveKitRoomStarted is a real body from livekit-server v1.13.5 (PROVIDERS.md).
const liveKitRoomStarted = `{"event":"room_started","room":{"sid":"RM_tYR4fbfmcGeh","name":"interop-room","emptyTimeout":5,"creationTime":"1795344706"},"id":"EV_rqKiVYicm5ni","createdAt":"1795344706"}`

var (
	liveKitT0     = time.Unix(1795344706, 0).UTC()
	liveKitSecret = []byte("devsecret-devsecret-devsecret-32")
	liveKitOld    = []byte("old-secret-old-secret-old-secret")
)

func newTestLiveKit(t testing.TB, now time.Time) *LiveKit {
	t.Helper()
	v, err := NewLiveKit(Keyring{
		"devkey": {liveKitSecret},
		"rotkey": {liveKitOld, liveKitSecret},
	}, 0, fixedClock(now))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustSignLiveKit(t testing.TB, key string, secret, body []byte, at time.Time) string {
	t.Helper()
	tok, err := SignLiveKit(key, secret, body, at)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// handToken signs claims with method and key using golang-jwt directly.
func handToken(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func bodySHA(body string) string {
	sum := sha256.Sum256([]byte(body))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// liveKitLikeClaims are the claims livekit-server puts in a webhook token.
func liveKitLikeClaims(key, body string, at time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":    key,
		"nbf":    at.Unix(),
		"iat":    at.Unix(),
		"exp":    at.Add(5 * time.Minute).Unix(),
		"sha256": bodySHA(body),
	}
}

func TestLiveKitRoomStarted(t *testing.T) {
	body := []byte(liveKitRoomStarted)
	tok := mustSignLiveKit(t, "devkey", liveKitSecret, body, liveKitT0)
	evs, err := newTestLiveKit(t, liveKitT0.Add(2*time.Second)).Verify(&Request{
		Header: header("Authorization", tok),
		Body:   body,
	})
	checkErr(t, err, nil)
	checkOneEvent(t, evs, Event{
		Provider: ProviderLiveKit,
		ID:       "EV_rqKiVYicm5ni",
		Key:      "EV_rqKiVYicm5ni",
		Type:     "room_started",
		Time:     liveKitT0,
		KeyID:    "devkey",
		Body:     body,
	})
}

func TestSignLiveKitClaims(t *testing.T) {
	tok := mustSignLiveKit(t, "devkey", liveKitSecret, []byte(liveKitRoomStarted), liveKitT0)
	var claims jwt.MapClaims
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, &claims)
	if err != nil {
		t.Fatal(err)
	}
	if alg := parsed.Header["alg"]; alg != "HS256" {
		t.Errorf("alg = %v, want HS256", alg)
	}
	want := map[string]any{
		"iss":    "devkey",
		"iat":    float64(liveKitT0.Unix()),
		"nbf":    float64(liveKitT0.Unix()),
		"exp":    float64(liveKitT0.Unix() + 300),
		"sha256": bodySHA(liveKitRoomStarted),
	}
	for k, w := range want {
		if claims[k] != w {
			t.Errorf("claim %s = %v, want %v", k, claims[k], w)
		}
	}
	if _, ok := claims["sub"]; ok {
		t.Errorf("unexpected sub claim")
	}
}

func TestLiveKitAccepts(t *testing.T) {
	body := liveKitRoomStarted
	signed := mustSignLiveKit(t, "devkey", liveKitSecret, []byte(body), liveKitT0)
	noIat := liveKitLikeClaims("devkey", body, liveKitT0)
	delete(noIat, "iat")
	withGrant := liveKitLikeClaims("devkey", body, liveKitT0)
	withGrant["video"] = map[string]any{}

	tests := []struct {
		name  string
		auth  string
		now   time.Time
		keyID string
	}{
		{"bare token", signed, liveKitT0, "devkey"},
		{"Bearer prefix", "Bearer " + signed, liveKitT0, "devkey"},
		{"bearer lower case", "bearer " + signed, liveKitT0, "devkey"},
		{"BEARER upper case", "BEARER  " + signed, liveKitT0, "devkey"},
		{"made by hand with golang-jwt", handToken(t, jwt.SigningMethodHS256, liveKitSecret, liveKitLikeClaims("devkey", body, liveKitT0)), liveKitT0, "devkey"},
		{"hand-made without iat", handToken(t, jwt.SigningMethodHS256, liveKitSecret, noIat), liveKitT0, "devkey"},
		{"extra grant claims", handToken(t, jwt.SigningMethodHS256, liveKitSecret, withGrant), liveKitT0, "devkey"},
		{"rotation: old secret", mustSignLiveKit(t, "rotkey", liveKitOld, []byte(body), liveKitT0), liveKitT0, "rotkey"},
		{"rotation: new secret", mustSignLiveKit(t, "rotkey", liveKitSecret, []byte(body), liveKitT0), liveKitT0, "rotkey"},
		{"last second before exp plus leeway", signed, liveKitT0.Add(5*time.Minute + 59*time.Second), "devkey"},
		{"clock behind by less than leeway", signed, liveKitT0.Add(-59 * time.Second), "devkey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := newTestLiveKit(t, tt.now).Verify(&Request{
				Header: header("Authorization", tt.auth),
				Body:   []byte(body),
			})
			checkErr(t, err, nil)
			if evs[0].KeyID != tt.keyID {
				t.Fatalf("KeyID = %q, want %q", evs[0].KeyID, tt.keyID)
			}
		})
	}
}

func TestLiveKitRejects(t *testing.T) {
	body := liveKitRoomStarted
	signed := mustSignLiveKit(t, "devkey", liveKitSecret, []byte(body), liveKitT0)
	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := liveKitLikeClaims("devkey", body, liveKitT0)
		edit(c)
		return c
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	hs256 := func(c jwt.MapClaims) string { return handToken(t, jwt.SigningMethodHS256, liveKitSecret, c) }

	tests := []struct {
		name string
		hdr  []string // Authorization values
		body string
		now  time.Time
		want error
	}{
		{"no header", nil, body, liveKitT0, ErrMissingSignature},
		{"empty header", []string{""}, body, liveKitT0, ErrMissingSignature},
		{"Bearer alone", []string{"Bearer "}, body, liveKitT0, ErrMissingSignature},
		{"conflicting headers", []string{signed, signed + "x"}, body, liveKitT0, ErrMalformedSignature},
		{"garbage", []string{"not-a-jwt"}, body, liveKitT0, ErrMalformedSignature},
		{"three garbage segments", []string{"a.b.c"}, body, liveKitT0, ErrMalformedSignature},
		{"alg none", []string{handToken(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(func(jwt.MapClaims) {}))}, body, liveKitT0, ErrUnsupportedAlgorithm},
		{"alg HS512 with the right secret", []string{handToken(t, jwt.SigningMethodHS512, liveKitSecret, claims(func(jwt.MapClaims) {}))}, body, liveKitT0, ErrUnsupportedAlgorithm},
		{"alg RS256", []string{handToken(t, jwt.SigningMethodRS256, rsaKey, claims(func(jwt.MapClaims) {}))}, body, liveKitT0, ErrUnsupportedAlgorithm},
		{"alg unknown to the library", []string{"eyJhbGciOiJYWDk5OSIsInR5cCI6IkpXVCJ9.e30.c2ln"}, body, liveKitT0, ErrUnsupportedAlgorithm},
		{"no alg", []string{"eyJ0eXAiOiJKV1QifQ.e30.c2ln"}, body, liveKitT0, ErrMalformedSignature},
		{"unknown key", []string{mustSignLiveKit(t, "otherkey", liveKitSecret, []byte(body), liveKitT0)}, body, liveKitT0, ErrUnknownKey},
		{"no iss", []string{hs256(claims(func(c jwt.MapClaims) { delete(c, "iss") }))}, body, liveKitT0, ErrUnknownKey},
		{"token of another key's secret", []string{mustSignLiveKit(t, "devkey", liveKitOld, []byte(body), liveKitT0)}, body, liveKitT0, ErrSignatureMismatch},
		{"tampered signature", []string{signed[:len(signed)-2] + "AA"}, body, liveKitT0, ErrSignatureMismatch},
		{"tampered body", []string{signed}, body[:len(body)-1] + " }", liveKitT0, ErrBodyMismatch},
		{"empty body", []string{signed}, "", liveKitT0, ErrBodyMismatch},
		{"no sha256 claim", []string{hs256(claims(func(c jwt.MapClaims) { delete(c, "sha256") }))}, body, liveKitT0, ErrBodyMismatch},
		{"unpadded sha256 claim", []string{hs256(claims(func(c jwt.MapClaims) { c["sha256"] = base64.RawStdEncoding.EncodeToString(must32(bodySHA(body))) }))}, body, liveKitT0, ErrBodyMismatch},
		{"expired", []string{signed}, body, liveKitT0.Add(6*time.Minute + time.Second), ErrStale},
		{"not valid yet", []string{signed}, body, liveKitT0.Add(-61 * time.Second), ErrStale},
		{"no exp", []string{hs256(claims(func(c jwt.MapClaims) { delete(c, "exp") }))}, body, liveKitT0, ErrMalformedSignature},
		{"exp of wrong type", []string{hs256(claims(func(c jwt.MapClaims) { c["exp"] = "soon" }))}, body, liveKitT0, ErrMalformedSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := header()
			for _, v := range tt.hdr {
				h.Add("Authorization", v)
			}
			evs, err := newTestLiveKit(t, tt.now).Verify(&Request{Header: h, Body: []byte(tt.body)})
			checkErr(t, err, tt.want)
			if evs != nil {
				t.Fatalf("events returned with error: %v", evs)
			}
		})
	}
}

func must32(b64 string) []byte {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b) != 32 {
		panic("bad test hash")
	}
	return b
}

func TestLiveKitBody(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Event
		err  error
	}{
		{"createdAt as number", `{"event":"room_finished","id":"EV_1","createdAt":1795344706}`,
			Event{ID: "EV_1", Key: "EV_1", Type: "room_finished", Time: liveKitT0}, nil},
		{"no id: key from body", `{"event":"room_finished"}`,
			Event{Key: BodyKey([]byte(`{"event":"room_finished"}`)), Type: "room_finished"}, nil},
		{"not JSON", `hello`, Event{}, ErrMalformedBody},
		{"JSON array", `[]`, Event{}, ErrMalformedBody},
		{"JSON null", `null`, Event{}, ErrMalformedBody},
		{"id not a string", `{"id":5}`, Event{}, ErrMalformedBody},
		{"createdAt not a number", `{"createdAt":"yesterday"}`, Event{}, ErrMalformedBody},
		{"duplicate id", `{"id":"a","id":"b"}`, Event{}, ErrMalformedBody},
		{"createdAt in milliseconds", `{"id":"EV_1","createdAt":"1795344706000"}`, Event{}, ErrMalformedBody},
		{"createdAt in the year 2400", `{"id":"EV_1","createdAt":13569465600}`, Event{}, ErrMalformedBody},
		{"createdAt max int64", `{"id":"EV_1","createdAt":"9223372036854775807"}`, Event{}, ErrMalformedBody},
		{"createdAt overflows int64", `{"id":"EV_1","createdAt":"9223372036854775808"}`, Event{}, ErrMalformedBody},
		{"createdAt negative", `{"id":"EV_1","createdAt":"-1795344706"}`, Event{}, ErrMalformedBody},
		{"createdAt with a plus sign", `{"id":"EV_1","createdAt":"+1795344706"}`, Event{}, ErrMalformedBody},
		{"createdAt with spaces", `{"id":"EV_1","createdAt":" 1795344706"}`, Event{}, ErrMalformedBody},
		{"createdAt fractional", `{"id":"EV_1","createdAt":1795344706.5}`, Event{}, ErrMalformedBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := mustSignLiveKit(t, "devkey", liveKitSecret, []byte(tt.body), liveKitT0)
			evs, err := newTestLiveKit(t, liveKitT0).Verify(&Request{
				Header: header("Authorization", tok),
				Body:   []byte(tt.body),
			})
			checkErr(t, err, tt.err)
			if tt.err != nil {
				return
			}
			tt.want.Provider, tt.want.KeyID, tt.want.Body = ProviderLiveKit, "devkey", []byte(tt.body)
			checkOneEvent(t, evs, tt.want)
		})
	}
}

func TestNewLiveKitValidates(t *testing.T) {
	for name, keys := range map[string]Keyring{
		"no keys":      {},
		"empty secret": {"devkey": {nil}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewLiveKit(keys, 0, nil); err == nil {
				t.Fatal("NewLiveKit accepted invalid keys")
			}
		})
	}
}

func FuzzLiveKit(f *testing.F) {
	// The verifier's secret is not the seeds' secret and appears nowhere in
	// the corpus: no input may verify.
	seedSecret := []byte("seed-secret")
	body := []byte(liveKitRoomStarted)
	f.Add(mustSignLiveKit(f, "devkey", seedSecret, body, liveKitT0), body)
	f.Add("Bearer "+mustSignLiveKit(f, "devkey", seedSecret, []byte(`{}`), liveKitT0), []byte(`{}`))
	f.Add(handToken(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, liveKitLikeClaims("devkey", liveKitRoomStarted, liveKitT0)), body)
	f.Add("a.b.c", []byte("x"))
	v, err := NewLiveKit(Keyring{"devkey": {[]byte("fuzz-secret-never-in-corpus")}}, 0, fixedClock(liveKitT0))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, auth string, body []byte) {
		evs, err := v.Verify(&Request{Header: header("Authorization", auth), Body: body})
		if err == nil {
			t.Fatalf("forged token accepted: %q %q -> %v", auth, body, evs)
		}
	})
}

func FuzzLiveKitRoundTrip(f *testing.F) {
	f.Add([]byte(liveKitRoomStarted), uint16(3))
	f.Add([]byte(`{}`), uint16(0))
	f.Add([]byte(``), uint16(0))
	v := newTestLiveKit(f, liveKitT0)
	f.Fuzz(func(t *testing.T, body []byte, flip uint16) {
		tok := mustSignLiveKit(t, "devkey", liveKitSecret, body, liveKitT0)
		_, err := v.Verify(&Request{Header: header("Authorization", tok), Body: body})
		if err != nil && !errors.Is(err, ErrMalformedBody) {
			t.Fatalf("signed body rejected: %v", err)
		}
		if len(body) == 0 {
			return
		}
		tampered := append([]byte(nil), body...)
		tampered[int(flip)%len(tampered)] ^= 0x01
		if _, err := v.Verify(&Request{Header: header("Authorization", tok), Body: tampered}); !errors.Is(err, ErrBodyMismatch) {
			t.Fatalf("tampered body: err = %v, want ErrBodyMismatch", err)
		}
	})
}

func BenchmarkVerifyLiveKit(b *testing.B) {
	body := payload(1024, `"event":"room_started","id":"EV_rqKiVYicm5ni","createdAt":"1795344706",`)
	tok := mustSignLiveKit(b, "devkey", liveKitSecret, body, liveKitT0)
	v := newTestLiveKit(b, liveKitT0)
	r := &Request{Header: header("Authorization", tok), Body: body}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}
