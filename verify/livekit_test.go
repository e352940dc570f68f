package verify

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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
		Key:      idKey("devkey", "EV_rqKiVYicm5ni"),
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
			Event{ID: "EV_1", Key: idKey("devkey", "EV_1"), Type: "room_finished", Time: liveKitT0}, nil},
		{"no id: key from body", `{"event":"room_finished"}`,
			Event{Key: BodyKey("devkey", []byte(`{"event":"room_finished"}`)), Type: "room_finished"}, nil},
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

// rawToken signs the exact header and claims JSON given with HS256, so that
// tests can write what golang-jwt would never produce (duplicate names,
// quoted numbers, crit, ...).
func rawToken(header, claims string, secret []byte) string {
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(signed))
	return signed + "." + enc.EncodeToString(h.Sum(nil))
}

// TestLiveKitStrictToken pins the token rules of the LiveKit type: what
// golang-jwt's parser let through (it decodes with encoding/json, which
// takes the last of two members and lets json.Number take a quoted number)
// is refused, and each refusal has its sentinel.
func TestLiveKitStrictToken(t *testing.T) {
	body := liveKitRoomStarted
	sha := bodySHA(body)
	at := liveKitT0.Unix()
	const hdr = `{"alg":"HS256","typ":"JWT"}`
	claims := func(extra string) string {
		return fmt.Sprintf(`{"iss":"devkey","nbf":%d,"iat":%d,"exp":%d,"sha256":%q%s}`, at, at, at+300, sha, extra)
	}
	ok := rawToken(hdr, claims(""), liveKitSecret)
	sig := ok[strings.LastIndexByte(ok, '.')+1:]
	tests := []struct {
		name   string
		auth   string
		now    time.Time
		maxLif time.Duration
		want   error
	}{
		{"well-formed by hand", ok, liveKitT0, 0, nil},
		{"no iat and no nbf", rawToken(hdr, fmt.Sprintf(`{"iss":"devkey","exp":%d,"sha256":%q}`, at+300, sha), liveKitSecret), liveKitT0, 0, nil},
		{"kid naming another key is ignored", rawToken(`{"alg":"HS256","kid":"rotkey"}`, claims(""), liveKitSecret), liveKitT0, 0, nil},
		{"kid path trick is ignored", rawToken(`{"alg":"HS256","kid":"../../dev/null"}`, claims(""), liveKitSecret), liveKitT0, 0, nil},
		{"aud as strings", rawToken(hdr, claims(`,"aud":["a","b"]`), liveKitSecret), liveKitT0, 0, nil},
		{"grants nested", rawToken(hdr, claims(`,"video":{"room":"r","roomJoin":true}`), liveKitSecret), liveKitT0, 0, nil},

		{"duplicate sha256, last one right", rawToken(hdr, claims(`,"sha256":"`+sha+`"`), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"duplicate sha256, first one right", rawToken(hdr, fmt.Sprintf(`{"iss":"devkey","exp":%d,"sha256":%q,"sha256":"x"}`, at+300, sha), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"duplicate exp", rawToken(hdr, claims(fmt.Sprintf(`,"exp":%d`, at+3600)), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"duplicate iss", rawToken(hdr, claims(`,"iss":"rotkey"`), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"escaped duplicate iss", rawToken(hdr, claims(`,"\u0069ss":"rotkey"`), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"duplicate inside a grant", rawToken(hdr, claims(`,"video":{"room":"a","room":"b"}`), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"duplicate alg in the header", rawToken(`{"alg":"none","alg":"HS256"}`, claims(""), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"duplicate typ in the header", rawToken(`{"alg":"HS256","typ":"JWT","typ":"JWT"}`, claims(""), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"exp as a quoted number", rawToken(hdr, fmt.Sprintf(`{"iss":"devkey","exp":"%d","sha256":%q}`, at+300, sha), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"nbf as a quoted number", rawToken(hdr, fmt.Sprintf(`{"iss":"devkey","nbf":"%d","exp":%d,"sha256":%q}`, at, at+300, sha), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"iat as a quoted number", rawToken(hdr, fmt.Sprintf(`{"iss":"devkey","iat":"%d","exp":%d,"sha256":%q}`, at, at+300, sha), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"exp with a fraction", rawToken(hdr, fmt.Sprintf(`{"iss":"devkey","exp":%d.5,"sha256":%q}`, at+300, sha), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"exp with an exponent", rawToken(hdr, fmt.Sprintf(`{"iss":"devkey","exp":1.795345e9,"sha256":%q}`, sha), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"exp a boolean", rawToken(hdr, fmt.Sprintf(`{"iss":"devkey","exp":true,"sha256":%q}`, sha), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"exp null", rawToken(hdr, fmt.Sprintf(`{"iss":"devkey","exp":null,"sha256":%q}`, sha), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"exp max int64", rawToken(hdr, fmt.Sprintf(`{"iss":"devkey","exp":9223372036854775807,"sha256":%q}`, sha), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"exp 1e300", rawToken(hdr, fmt.Sprintf(`{"iss":"devkey","exp":1e300,"sha256":%q}`, sha), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"exp negative", rawToken(hdr, fmt.Sprintf(`{"iss":"devkey","exp":-1,"sha256":%q}`, sha), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"exp min int64", rawToken(hdr, fmt.Sprintf(`{"iss":"devkey","exp":-9223372036854775808,"sha256":%q}`, sha), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"exp in milliseconds", rawToken(hdr, fmt.Sprintf(`{"iss":"devkey","exp":%d,"sha256":%q}`, (at+300)*1000, sha), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"iat in the year 2400", rawToken(hdr, fmt.Sprintf(`{"iss":"devkey","iat":13569465600,"exp":%d,"sha256":%q}`, at+300, sha), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"iss a number", rawToken(hdr, fmt.Sprintf(`{"iss":1,"exp":%d,"sha256":%q}`, at+300, sha), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"sha256 an array", rawToken(hdr, fmt.Sprintf(`{"iss":"devkey","exp":%d,"sha256":[%q]}`, at+300, sha), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"sub a number", rawToken(hdr, claims(`,"sub":5`), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"aud a number", rawToken(hdr, claims(`,"aud":5`), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"claims not an object", rawToken(hdr, `["iss"]`, liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"claims with data after the object", rawToken(hdr, claims("")+`{}`, liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"claims not UTF-8", rawToken(hdr, claims(",\"name\":\"\xff\""), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"claims nested too deep", rawToken(hdr, claims(`,"x":`+nest(MaxJSONDepth, `1`)), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"crit naming exp", rawToken(`{"alg":"HS256","crit":["exp"],"exp":1}`, claims(""), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"crit empty", rawToken(`{"alg":"HS256","crit":[]}`, claims(""), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"crit b64", rawToken(`{"alg":"HS256","b64":false,"crit":["b64"]}`, claims(""), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"alg lower case", rawToken(`{"alg":"hs256"}`, claims(""), liveKitSecret), liveKitT0, 0, ErrUnsupportedAlgorithm},
		{"alg mixed case", rawToken(`{"alg":"Hs256"}`, claims(""), liveKitSecret), liveKitT0, 0, ErrUnsupportedAlgorithm},
		{"alg with a space", rawToken(`{"alg":"HS256 "}`, claims(""), liveKitSecret), liveKitT0, 0, ErrUnsupportedAlgorithm},
		{"alg None", rawToken(`{"alg":"None"}`, claims(""), liveKitSecret), liveKitT0, 0, ErrUnsupportedAlgorithm},
		{"alg a number", rawToken(`{"alg":256}`, claims(""), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"alg an array", rawToken(`{"alg":["HS256"]}`, claims(""), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"header not an object", rawToken(`"HS256"`, claims(""), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},
		{"four segments", ok + "." + sig, liveKitT0, 0, ErrMalformedSignature},
		{"two segments", ok[:strings.LastIndexByte(ok, '.')], liveKitT0, 0, ErrMalformedSignature},
		{"empty signature", ok[:strings.LastIndexByte(ok, '.')+1], liveKitT0, 0, ErrMalformedSignature},
		{"padded signature", ok + "=", liveKitT0, 0, ErrMalformedSignature},
		{"padded header", base64.URLEncoding.EncodeToString([]byte(hdr+" ")) + ok[strings.IndexByte(ok, '.'):], liveKitT0, 0, ErrMalformedSignature},
		{"standard base64 alphabet", ok[:len(ok)-5] + "+" + ok[len(ok)-4:], liveKitT0, 0, ErrMalformedSignature},
		{"signature with non-canonical trailing bits", ok[:len(ok)-1] + string(ok[len(ok)-1]^1), liveKitT0, 0, ErrMalformedSignature},
		{"signature of the wrong length", ok[:strings.LastIndexByte(ok, '.')+1] + base64.RawURLEncoding.EncodeToString(make([]byte, 64)), liveKitT0, 0, ErrMalformedSignature},
		{"line break inside a segment", ok[:10] + "\n" + ok[10:], liveKitT0, 0, ErrMalformedSignature},
		{"header longer than 8 KiB", rawToken(`{"alg":"HS256","pad":"`+strings.Repeat("x", MaxLiveKitTokenSize)+`"}`, claims(""), liveKitSecret), liveKitT0, 0, ErrMalformedSignature},

		{"exp ten minutes ahead", rawToken(hdr, fmt.Sprintf(`{"iss":"devkey","exp":%d,"sha256":%q}`, at+600, sha), liveKitSecret), liveKitT0, 0, nil},
		{"exp a second more than ten minutes ahead", rawToken(hdr, fmt.Sprintf(`{"iss":"devkey","exp":%d,"sha256":%q}`, at+601, sha), liveKitSecret), liveKitT0, 0, ErrStale},
		{"exp in 2199", rawToken(hdr, fmt.Sprintf(`{"iss":"devkey","exp":%d,"sha256":%q}`, time.Date(2199, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), sha), liveKitSecret), liveKitT0, 0, ErrStale},
		{"exp an hour ahead, MaxLifetime two hours", rawToken(hdr, fmt.Sprintf(`{"iss":"devkey","exp":%d,"sha256":%q}`, at+3600, sha), liveKitSecret), liveKitT0, 2 * time.Hour, nil},
		{"exp an hour ahead, MaxLifetime negative means default", rawToken(hdr, fmt.Sprintf(`{"iss":"devkey","exp":%d,"sha256":%q}`, at+3600, sha), liveKitSecret), liveKitT0, -1, ErrStale},
		{"exp in 2000", rawToken(hdr, fmt.Sprintf(`{"iss":"devkey","exp":%d,"sha256":%q}`, minSignedUnix, sha), liveKitSecret), liveKitT0, 0, ErrStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newTestLiveKit(t, tt.now)
			v.MaxLifetime = tt.maxLif
			evs, err := v.Verify(&Request{Header: header("Authorization", tt.auth), Body: []byte(body)})
			checkErr(t, err, tt.want)
			if err != nil {
				if evs != nil {
					t.Fatalf("events returned with error: %v", evs)
				}
				if strings.Contains(err.Error(), sig) {
					t.Fatalf("error repeats the signature: %v", err)
				}
			}
		})
	}
}

// FuzzLiveKitClaims signs any header and claims JSON with the right secret:
// whatever is accepted must pass the strict rules when checked again with
// encoding/json (no duplicate names at any depth, alg HS256, no crit, exp
// a JSON integer at most ten minutes ahead, iss and sha256 the expected
// strings).
func FuzzLiveKitClaims(f *testing.F) {
	at := liveKitT0.Unix()
	sha := bodySHA(liveKitRoomStarted)
	f.Add(`{"alg":"HS256","typ":"JWT"}`, fmt.Sprintf(`{"iss":"devkey","nbf":%d,"iat":%d,"exp":%d,"sha256":%q}`, at, at, at+300, sha))
	f.Add(`{"alg":"HS256"}`, fmt.Sprintf(`{"iss":"devkey","exp":"%d","sha256":%q,"sha256":"x"}`, at+300, sha))
	f.Add(`{"alg":"HS256","crit":["exp"]}`, fmt.Sprintf(`{"iss":"devkey","exp":%d.0,"sha256":%q}`, at+300, sha))
	f.Add(`{"alg":"HS256","alg":"none"}`, fmt.Sprintf(`{"iss":"devkey","exp":%d,"exp":%d,"sha256":%q}`, at+300, at+1e9, sha))
	v := newTestLiveKit(f, liveKitT0)
	body := []byte(liveKitRoomStarted)
	f.Fuzz(func(t *testing.T, hdr, claims string) {
		_, err := v.Verify(&Request{Header: header("Authorization", rawToken(hdr, claims, liveKitSecret)), Body: body})
		if err != nil {
			return
		}
		for _, part := range []string{hdr, claims} {
			if !utf8.ValidString(part) || referenceCheck([]byte(part)) != nil {
				t.Fatalf("accepted a token part with duplicate names or bad UTF-8: %q", part)
			}
		}
		var h map[string]any
		if err := json.Unmarshal([]byte(hdr), &h); err != nil || h["alg"] != "HS256" || h["crit"] != nil {
			t.Fatalf("accepted header %q", hdr)
		}
		var c map[string]any
		dec := json.NewDecoder(strings.NewReader(claims))
		dec.UseNumber()
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("accepted claims encoding/json refuses: %v", err)
		}
		exp, ok := c["exp"].(json.Number)
		if !ok || strings.ContainsAny(string(exp), ".eE") {
			t.Fatalf("accepted exp %#v", c["exp"])
		}
		if n, err := exp.Int64(); err != nil || n > at+600 || n+60 <= at {
			t.Fatalf("accepted exp %s at %d", exp, at)
		}
		if c["iss"] != "devkey" || c["sha256"] != sha {
			t.Fatalf("accepted iss %#v, sha256 %#v", c["iss"], c["sha256"])
		}
	})
}

// TestLiveKitAllocs pins the allocations of verifying a ~1 KiB event
// (issue: at most 12): the token and its decoded segments are read in a
// stack buffer, the body's fields in one pass, and the event's strings
// cut from one allocation. What remains is golang-jwt's HMAC check (7:
// the HMAC's state and the signing string as bytes), its validator's error
// list, the claims it reads, the strings and the []Event.
func TestLiveKitAllocs(t *testing.T) {
	body := payload(1024, `"event":"room_started","id":"EV_rqKiVYicm5ni","createdAt":"1795344706",`)
	v := newTestLiveKit(t, liveKitT0)
	r := &Request{Header: header("Authorization", mustSignLiveKit(t, "devkey", liveKitSecret, body, liveKitT0)), Body: body}
	if _, err := v.Verify(r); err != nil { // builds the validator and keys
		t.Fatal(err)
	}
	const max = 12
	if n := testing.AllocsPerRun(100, func() {
		if _, err := v.Verify(r); err != nil {
			t.Fatal(err)
		}
	}); n > max {
		t.Errorf("Verify allocates %v times per event, want at most %d", n, max)
	}
}

// TestLiveKitFieldsChangedAfterUse: what the first Verify builds (the
// validator, the secrets as golang-jwt takes them) follows the exported
// fields when they change afterwards.
func TestLiveKitFieldsChangedAfterUse(t *testing.T) {
	body := []byte(liveKitRoomStarted)
	verify := func(v *LiveKit, secret []byte) error {
		_, err := v.Verify(&Request{Header: header("Authorization", mustSignLiveKit(t, "devkey", secret, body, liveKitT0)), Body: body})
		return err
	}
	t.Run("secret replaced", func(t *testing.T) {
		v := newTestLiveKit(t, liveKitT0)
		checkErr(t, verify(v, liveKitSecret), nil)
		v.Keys = Keyring{"devkey": {liveKitOld}}
		checkErr(t, verify(v, liveKitSecret), ErrSignatureMismatch)
		checkErr(t, verify(v, liveKitOld), nil)
	})
	t.Run("secret changed in place", func(t *testing.T) {
		secret := bytes.Clone(liveKitSecret)
		v, err := NewLiveKit(Keyring{"devkey": {secret}}, 0, fixedClock(liveKitT0))
		if err != nil {
			t.Fatal(err)
		}
		checkErr(t, verify(v, liveKitSecret), nil)
		copy(secret, liveKitOld)
		checkErr(t, verify(v, liveKitSecret), ErrSignatureMismatch)
		checkErr(t, verify(v, liveKitOld), nil)
	})
	t.Run("key added", func(t *testing.T) {
		v := newTestLiveKit(t, liveKitT0)
		checkErr(t, verify(v, liveKitSecret), nil)
		v.Keys["newkey"] = [][]byte{liveKitOld}
		_, err := v.Verify(&Request{Header: header("Authorization", mustSignLiveKit(t, "newkey", liveKitOld, body, liveKitT0)), Body: body})
		checkErr(t, err, nil)
	})
	t.Run("leeway", func(t *testing.T) {
		v := newTestLiveKit(t, liveKitT0.Add(5*time.Minute+30*time.Second))
		checkErr(t, verify(v, liveKitSecret), nil)
		v.Leeway = 10 * time.Second
		checkErr(t, verify(v, liveKitSecret), ErrStale)
	})
	t.Run("clock", func(t *testing.T) {
		v := newTestLiveKit(t, liveKitT0)
		checkErr(t, verify(v, liveKitSecret), nil)
		v.Now = fixedClock(liveKitT0.Add(time.Hour))
		checkErr(t, verify(v, liveKitSecret), ErrStale)
		v.Now = fixedClock(liveKitT0.Add(-time.Hour))
		checkErr(t, verify(v, liveKitSecret), ErrStale)
	})
}

// TestLiveKitTokenLongerThanBuffer: a token that does not fit Verify's
// stack buffer is read in an allocated one, by the same rules.
func TestLiveKitTokenLongerThanBuffer(t *testing.T) {
	at := liveKitT0.Unix()
	pad := strings.Repeat("g", liveKitTokenBuf)
	for _, tt := range []struct {
		claims string
		want   error
	}{
		{fmt.Sprintf(`{"iss":"devkey","exp":%d,"sha256":%q,"video":{"room":%q}}`, at+300, bodySHA(liveKitRoomStarted), pad), nil},
		{fmt.Sprintf(`{"iss":"devkey","exp":%d,"sha256":%q,"video":{"room":%q},"iss":"devkey"}`, at+300, bodySHA(liveKitRoomStarted), pad), ErrMalformedSignature},
	} {
		tok := rawToken(`{"alg":"HS256"}`, tt.claims, liveKitSecret)
		_, err := newTestLiveKit(t, liveKitT0).Verify(&Request{Header: header("Authorization", tok), Body: []byte(liveKitRoomStarted)})
		checkErr(t, err, tt.want)
	}
}

// TestLiveKitEscapes: names and values are compared after decoding their
// escapes, as encoding/json (and the app) reads them.
func TestLiveKitEscapes(t *testing.T) {
	at := liveKitT0.Unix()
	sha := bodySHA(liveKitRoomStarted)
	escSHA := strings.ReplaceAll(strings.ReplaceAll(sha, "/", `\/`), "+", `\u002b`)
	tests := []struct {
		name, hdr, claims, body string
		wantID                  string
		want                    error
	}{
		{"escaped alg", `{"\u0061lg":"HS\u0032\u00356"}`, fmt.Sprintf(`{"iss":"devkey","exp":%d,"sha256":%q}`, at+300, sha), liveKitRoomStarted, "EV_rqKiVYicm5ni", nil},
		{"escaped claim names and iss", `{"alg":"HS256"}`, fmt.Sprintf(`{"\u0069ss":"dev\u006bey","\u0065xp":%d,"sha\u0032\u00356":%q}`, at+300, sha), liveKitRoomStarted, "EV_rqKiVYicm5ni", nil},
		{"escaped sha256 value", `{"alg":"HS256"}`, fmt.Sprintf(`{"iss":"devkey","exp":%d,"sha256":"%s"}`, at+300, escSHA), liveKitRoomStarted, "EV_rqKiVYicm5ni", nil},
		{"escaped crit", `{"alg":"HS256","\u0063rit":["exp"]}`, fmt.Sprintf(`{"iss":"devkey","exp":%d,"sha256":%q}`, at+300, sha), liveKitRoomStarted, "", ErrMalformedSignature},
		{"escaped body names", `{"alg":"HS256"}`, "", `{"\u0069d":"EV_\u0031","even\u0074":"room_started","createdAt":"\u0031795344706"}`, "EV_1", nil},
		{"escaped duplicate id in the body", `{"alg":"HS256"}`, "", `{"id":"EV_1","\u0069d":"EV_2"}`, "", ErrMalformedBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims := tt.claims
			if claims == "" {
				claims = fmt.Sprintf(`{"iss":"devkey","exp":%d,"sha256":%q}`, at+300, bodySHA(tt.body))
			}
			evs, err := newTestLiveKit(t, liveKitT0).Verify(&Request{Header: header("Authorization", rawToken(tt.hdr, claims, liveKitSecret)), Body: []byte(tt.body)})
			checkErr(t, err, tt.want)
			if err == nil && (evs[0].ID != tt.wantID || evs[0].KeyID != "devkey" || evs[0].Key != idKey("devkey", tt.wantID)) {
				t.Fatalf("event %s", fmtEvent(evs[0]))
			}
		})
	}
}

// TestLiveKitEventStrings: the strings cut from one allocation are those
// idKey and BodyKey give.
func TestLiveKitEventStrings(t *testing.T) {
	for _, tt := range []struct{ iss, id, typ string }{
		{"devkey", "EV_1", "room_started"}, {"k", "", "x"}, {"", "", ""}, {"1:a", ":b", ""}, {strings.Repeat("k", 120), "i", "t"},
	} {
		body := []byte(`{"x":1}`)
		ev := liveKitEvent([]byte(tt.iss), []byte(tt.id), []byte(tt.typ), body)
		key := idKey(tt.iss, tt.id)
		if tt.id == "" {
			key = BodyKey(tt.iss, body)
		}
		checkEvent(t, ev, Event{Provider: ProviderLiveKit, ID: tt.id, Key: key, Type: tt.typ, KeyID: tt.iss, Body: body})
	}
}

// scanObjectSeeds are JSON texts on the edges of the grammar and of the
// scanner's stack buffers.
var scanObjectSeeds = []string{
	`{}`, ` { } `, `{"a":1}`, "{\"a\"\t:\n1\r}", `{"a":[]}`, `{"a":{}}`, `{"a":[{}]}`, `{"a":[{},{}],"b":{"c":[]}}`,
	`{"a":-0}`, `{"a":-}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":1e+}`, `{"a":1E-7}`, `{"a":-1.5e+10}`, `{"a":2e308}`,
	`{"a":tru}`, `{"a":true}`, `{"a":truex}`, `{"a":nul}`, `{"a":null}`, `{"a":false}`, `{"a":fals}`,
	`{"a":"\u00zz"}`, `{"a":"\u00e9"}`, `{"a":"\ud800"}`, `{"a":"\x"}`, `{"a":"\/\b\f\n\r\t\"\\"}`, "{\"a\":\"\x01\"}", "{\"a\":\"\x7f\"}",
	`{"a":"`, `{"a":"\`, `{"a":"\u12`, `{"a"`, `{"a":`, `{"a":1`, `{"a":1,`, `{"a":1,}`, `{,}`, `{"a":[1,]}`, `{"a":[,1]}`, `{"a" 1}`, `{1:2}`,
	`{"a":1}}`, `{"a":[1}`, `{"a":{1]}`, `{"a":1} x`, `{"a":1} `, ` []`, `[{"a":1}]`, `"{}"`, `1`, ``, ` `, `nul`,
	`{"a":1,"a":2}`, `{"a":1,"\u0061":2}`, `{"\\":1,"\u005c":2}`, `{"a":{"b":1},"c":{"b":1}}`, `{"a":[{"b":1,"b":2}]}`,
	`{"0123456":"0123456\"","k":"0123456789abcdef\\"}`, `{"k":"0123456\u0022"}`, `{"k":"01234567` + "\x1f" + `"}`,
	`{"k":"é0123456€012345😀"}`, `{"x":"é"}`,
	nest(8, `1`), nest(9, `[[[[1]]]]`), nest(MaxJSONDepth-1, `{}`), nest(MaxJSONDepth, `{}`), nest(MaxJSONDepth, `1`),
	strings.Repeat(`[`, 70) + strings.Repeat(`]`, 70), `{"a":` + strings.Repeat(`[`, 63) + strings.Repeat(`]`, 63) + `}`,
	manyMembers(16, false), manyMembers(17, true), manyMembers(40, true), manyMembers(40, false),
	`{"a":` + manyMembers(20, false) + `,"b":` + manyMembers(20, true) + `}`,
	`{"id":"EV_1","event":"room_started","createdAt":"1795344706","room":{"id":"RM","event":1}}`,
}

// twoPassFields is objectFields as it was before scanObject validated
// for it: json.Valid and checkJSON, then cutMembers.
func twoPassFields(b []byte) (map[string]json.RawMessage, error) {
	if err := validJSON(b); err != nil {
		return nil, err
	}
	return cutMembers(b)
}

// FuzzScanObject checks scanObject against the two-pass validation: the
// same inputs are accepted, for the same reason when they are JSON, and
// the spans are the raw values cutMembers returns.
func FuzzScanObject(f *testing.F) {
	for _, s := range scanObjectSeeds {
		f.Add([]byte(s), "a")
	}
	f.Add([]byte(liveKitRoomStarted), "id")
	f.Add([]byte(`{"\u0069d":"x"}`), "id")
	f.Fuzz(func(t *testing.T, b []byte, extra string) {
		m, err := twoPassFields(b)
		names := []string{"id", "event", "createdAt", "a", "b", "k"}
		for _, name := range append(slices.Collect(maps.Keys(m)), extra) {
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
		spans := make([]jsonSpan, len(names))
		serr := scanObject(b, names, spans)
		if (err == nil) != (serr == nil) {
			t.Fatalf("scanObject error %v, objectFields error %v", serr, err)
		}
		if err != nil {
			// Both check the syntax as they go: which refusal comes first
			// may differ only for text that is not JSON at all.
			if errors.Is(err, errInvalidUTF8) != errors.Is(serr, errInvalidUTF8) || json.Valid(b) &&
				(errors.Is(err, errDuplicateKey) != errors.Is(serr, errDuplicateKey) ||
					errors.Is(err, errTooDeep) != errors.Is(serr, errTooDeep)) {
				t.Fatalf("scanObject error %v, objectFields error %v", serr, err)
			}
			return
		}
		for k, name := range names {
			raw, ok := m[name]
			if ok != spans[k].present() || !bytes.Equal(raw, spans[k].in(b)) {
				t.Fatalf("member %q: scanObject %q (present %v), objectFields %q (present %v)", name, spans[k].in(b), spans[k].present(), raw, ok)
			}
		}
	})
}

// TestSpecial8 checks the eight-byte test of scanString against a byte
// loop, for every byte value at every position and behind every other.
func TestSpecial8(t *testing.T) {
	special := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 }
	first := func(w [8]byte) int {
		for i, c := range w {
			if special(c) {
				return i
			}
		}
		return 8
	}
	check := func(w [8]byte) {
		got := 8
		if s := special8(binary.LittleEndian.Uint64(w[:])); s != 0 {
			got = bits.TrailingZeros64(s) / 8
		}
		if want := first(w); got != want {
			t.Fatalf("% x: first special byte %d, want %d", w, got, want)
		}
	}
	for p := range 8 {
		for v := range 256 {
			for _, fill := range []byte{'a', 0x80, 0xff, 0x21, 0x5d, 0x23, 0x5b} {
				for q := p + 1; q <= 8; q++ {
					for _, u := range []byte{0, '"', '\\', 0x1f, 'z'} {
						var w [8]byte
						for i := range w {
							w[i] = fill
						}
						w[p] = byte(v)
						if q < 8 {
							w[q] = u
						}
						check(w)
					}
				}
			}
		}
	}
}

func FuzzSpecial8(f *testing.F) {
	f.Add(uint64(0x6161616161616161))
	f.Add(uint64(0x2222222222222222))
	f.Fuzz(func(t *testing.T, x uint64) {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], x)
		want := -1
		for i, c := range w {
			if c == '"' || c == '\\' || c < 0x20 {
				want = i
				break
			}
		}
		got := -1
		if s := special8(x); s != 0 {
			got = bits.TrailingZeros64(s) / 8
		}
		if got != want {
			t.Fatalf("% x: %d, want %d", w, got, want)
		}
	})
}

// FuzzParseInt checks parseInt against intLiteral and strconv.ParseInt.
func FuzzParseInt(f *testing.F) {
	for _, s := range []string{"0", "-0", "1795344706", "-1", "", "-", "+1", " 1", "1 ", "01", "1.0", "1e3",
		"9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
		"18446744073709551615", "18446744073709551616", "99999999999999999999", "922337203685477580", "9223372036854775799"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseInt([]byte(s))
		want, err := strconv.ParseInt(s, 10, 64)
		wok := intLiteral(s) && err == nil
		if ok != wok || ok && got != want {
			t.Fatalf("parseInt(%q) = %d, %v; want %d, %v", s, got, ok, want, wok)
		}
	})
}

// FuzzClaimStrings checks claimStrings against golang-jwt's ClaimStrings.
func FuzzClaimStrings(f *testing.F) {
	for _, s := range []string{`"a"`, `[]`, ` [ ] `, `["a","b"]`, `[ "a" , "b" ]`, `["a",1]`, `[null]`, `null`, `5`, `{}`, `[["a"]]`, `true`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s)
		if !json.Valid(b) || len(bytes.TrimSpace(b)) != len(b) {
			return // claimStrings reads a value scanObject cut out
		}
		var aud jwt.ClaimStrings
		want := json.Unmarshal(b, &aud) == nil
		if got := claimStrings(b); got != want {
			t.Fatalf("claimStrings(%s) = %v, golang-jwt %v", s, got, want)
		}
	})
}

// BenchmarkScanObject compares reading a ~1 KiB body's fields in one pass
// with objectFields (json.Valid, then checkJSON, then a map of members).
func BenchmarkScanObject(b *testing.B) {
	body := payload(1024, `"event":"room_started","id":"EV_rqKiVYicm5ni","createdAt":"1795344706",`)
	b.Run("scanObject", func(b *testing.B) {
		var spans [len(liveKitBodyNames)]jsonSpan
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if err := scanObject(body, liveKitBodyNames[:], spans[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("objectFields", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := objectFields(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzDecodeSegment checks decodeSegment against jwtSegment.
func FuzzDecodeSegment(f *testing.F) {
	for _, s := range []string{"", "e30", "eyJhbGciOiJIUzI1NiJ9", "e30=", "e3\n0", "e3\r0", "e+/", "e31", "A", "AB", "ABC", "_-", " e30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, seg string) {
		want, werr := jwtSegment(seg)
		got, err := decodeSegment(make([]byte, liveKitB64.DecodedLen(len(seg))), []byte(seg))
		if (err == nil) != (werr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("decodeSegment(%q) = %x, %v; jwtSegment %x, %v", seg, got, err, want, werr)
		}
	})
}
