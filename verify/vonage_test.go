package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Vonage publishes no vector: tokens are made here with golang-jwt (an
// independent HS256 implementation) and by hand, and the round trip with
// SignVonage is fuzzed.
const (
	vonageKey    = "abcd1234"
	vonageSecret = "vonage-signature-secret-0123456789"
	vonageBody   = `{"message_uuid":"aaaaaaaa-bbbb-cccc-dddd-0123456789ab","to":"447700900000","from":"447700900001","timestamp":"2025-01-01T00:00:00Z","status":"delivered"}`
)

var vonageT0 = time.Unix(1735689600, 0).UTC()

func newTestVonage(t testing.TB, now time.Time) *Vonage {
	t.Helper()
	v, err := NewVonage(Keyring{vonageKey: {[]byte(vonageSecret)}, "other": {[]byte("other-secret")}}, 0, fixedClock(now))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func vonageHash(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:])
}

// vonageToken is a token signed by golang-jwt with these claims.
func vonageToken(t testing.TB, method jwt.SigningMethod, secret string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + s
}

func vonageClaimsFor(body string, at time.Time) jwt.MapClaims {
	return jwt.MapClaims{"iat": at.Unix(), "jti": "j-1", "iss": "Vonage", "api_key": vonageKey,
		"application_id": "app-1", "payload_hash": vonageHash(body)}
}

func TestVonageAccepts(t *testing.T) {
	uuid := "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
	voice := `{"uuid":"call-1","status":"answered"}`
	tests := []struct {
		name string
		auth string
		body string
		now  time.Time
		want Event
	}{
		{"golang-jwt token", vonageToken(t, jwt.SigningMethodHS256, vonageSecret, vonageClaimsFor(vonageBody, vonageT0)), vonageBody, vonageT0,
			Event{ID: uuid, Key: BodyKey(vonageKey, []byte(uuid+"\x00delivered")), Type: "delivered"}},
		{"no Bearer prefix", strings.TrimPrefix(vonageToken(t, jwt.SigningMethodHS256, vonageSecret, vonageClaimsFor(vonageBody, vonageT0)), "Bearer "), vonageBody, vonageT0.Add(-5 * time.Minute),
			Event{ID: uuid, Key: BodyKey(vonageKey, []byte(uuid+"\x00delivered")), Type: "delivered"}},
		{"voice event: uuid and status", vonageToken(t, jwt.SigningMethodHS256, vonageSecret, vonageClaimsFor(voice, vonageT0)), voice, vonageT0.Add(5 * time.Minute),
			Event{ID: "call-1", Key: BodyKey(vonageKey, []byte("call-1\x00answered")), Type: "answered"}},
		{"no id: body hash", vonageToken(t, jwt.SigningMethodHS256, vonageSecret, vonageClaimsFor(`{}`, vonageT0)), `{}`, vonageT0,
			Event{Key: BodyKey(vonageKey, []byte(`{}`))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := newTestVonage(t, tt.now).Verify(&Request{Header: header("Authorization", tt.auth), Body: []byte(tt.body)})
			checkErr(t, err, nil)
			tt.want.Provider, tt.want.Time, tt.want.KeyID, tt.want.Body = ProviderVonage, vonageT0, vonageKey, []byte(tt.body)
			checkOneEvent(t, evs, tt.want)
		})
	}
}

func TestVonageRejects(t *testing.T) {
	good := vonageClaimsFor(vonageBody, vonageT0)
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	hs := func(c jwt.MapClaims) string { return vonageToken(t, jwt.SigningMethodHS256, vonageSecret, c) }
	raw := func(head, claims string) string { return "Bearer " + rawToken(head, claims, []byte(vonageSecret)) }
	claimsJSON := fmt.Sprintf(`{"iat":%d,"api_key":%q,"payload_hash":%q}`, vonageT0.Unix(), vonageKey, vonageHash(vonageBody))
	tests := []struct {
		name string
		auth string
		body string
		now  time.Time
		want error
	}{
		{"no header", "", vonageBody, vonageT0, ErrMissingSignature},
		{"Bearer alone", "Bearer", vonageBody, vonageT0, ErrMissingSignature},
		{"not a JWT", "Bearer abc", vonageBody, vonageT0, ErrMalformedSignature},
		{"too long", "Bearer " + strings.Repeat("a", MaxVonageTokenSize), vonageBody, vonageT0, ErrMalformedSignature},
		{"HS512", vonageToken(t, jwt.SigningMethodHS512, vonageSecret, good), vonageBody, vonageT0, ErrUnsupportedAlgorithm},
		{"alg none", raw(`{"alg":"none"}`, claimsJSON), vonageBody, vonageT0, ErrUnsupportedAlgorithm},
		{"crit header", raw(`{"alg":"HS256","crit":["x"]}`, claimsJSON), vonageBody, vonageT0, ErrMalformedSignature},
		{"duplicate claim", raw(`{"alg":"HS256"}`, `{"iat":1,"iat":2}`), vonageBody, vonageT0, ErrMalformedSignature},
		{"iat as a string", raw(`{"alg":"HS256"}`, fmt.Sprintf(`{"iat":"%d","api_key":%q}`, vonageT0.Unix(), vonageKey)), vonageBody, vonageT0, ErrMalformedSignature},
		{"unknown api_key", hs(with("api_key", "nobody")), vonageBody, vonageT0, ErrUnknownKey},
		{"wrong secret", vonageToken(t, jwt.SigningMethodHS256, "not-the-secret", good), vonageBody, vonageT0, ErrSignatureMismatch},
		{"another key's secret", vonageToken(t, jwt.SigningMethodHS256, "other-secret", good), vonageBody, vonageT0, ErrSignatureMismatch},
		{"no iat", hs(with("iat", nil)), vonageBody, vonageT0, ErrMalformedSignature},
		{"stale", hs(good), vonageBody, vonageT0.Add(5*time.Minute + time.Second), ErrStale},
		{"from the future", hs(good), vonageBody, vonageT0.Add(-5*time.Minute - time.Second), ErrStale},
		{"expired", hs(with("exp", vonageT0.Unix()-1)), vonageBody, vonageT0, ErrStale},
		{"no payload_hash", hs(with("payload_hash", nil)), vonageBody, vonageT0, ErrBodyMismatch},
		{"tampered body", hs(good), strings.Replace(vonageBody, "delivered", "rejected", 1), vonageT0, ErrBodyMismatch},
		{"body not JSON", hs(vonageClaimsFor("x", vonageT0)), "x", vonageT0, ErrMalformedBody},
		{"duplicate status", hs(vonageClaimsFor(`{"status":"a","status":"b"}`, vonageT0)), `{"status":"a","status":"b"}`, vonageT0, ErrMalformedBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := newTestVonage(t, tt.now).Verify(&Request{Header: header("Authorization", tt.auth), Body: []byte(tt.body)})
			checkRejected(t, evs, err, tt.want)
		})
	}
}

func FuzzVonage(f *testing.F) {
	tok, err := SignVonage(vonageKey, []byte(vonageSecret), []byte(vonageBody), vonageT0, "j")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok, []byte(vonageBody), int64(0), uint16(4))
	f.Add("Bearer a.b.c", []byte(`{}`), int64(100), uint16(0))
	forged, err := NewVonage(Keyring{vonageKey: {[]byte("fuzz-key-never-in-corpus")}}, 0, fixedClock(vonageT0))
	if err != nil {
		f.Fatal(err)
	}
	v := newTestVonage(f, vonageT0)
	f.Fuzz(func(t *testing.T, auth string, body []byte, delta int64, flip uint16) {
		checkForgeryRefused(t, forged, &Request{Header: header("Authorization", auth), Body: body})
		tok, err := SignVonage(vonageKey, []byte(vonageSecret), body, vonageT0.Add(time.Duration(delta%300)*time.Second), "j")
		if err != nil {
			t.Fatal(err)
		}
		h := header("Authorization", tok)
		checkRoundTrip(t, v, &Request{Header: h, Body: body}, &Request{Header: h, Body: fuzzTamper(body, flip)}, ErrBodyMismatch)
	})
}
