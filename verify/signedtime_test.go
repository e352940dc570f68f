package verify

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// timeCase is one provider whose request carries a signed time: sign makes a
// correctly signed request whose time is n in unit.
type timeCase struct {
	name      string
	unit      time.Duration
	now       time.Time
	tol       time.Duration // the window the verifier below uses
	malformed error         // the sentinel for a time outside 2000-2200
	sign      func(t testing.TB, n int64) *Request
	verifier  func(t testing.TB) Verifier
	want      func(n int64) error // if set, replaces the window rule of wantTime
}

func timeCases() []timeCase {
	return []timeCase{
		{
			name: ProviderTencent + " RequestTime", unit: time.Second, now: tencentT0, tol: time.Minute, malformed: ErrMalformedSignature,
			sign: func(t testing.TB, n int64) *Request {
				q := url.Values{"SdkAppid": {tencentAppID}, "RequestTime": {strconv.FormatInt(n, 10)}, "Sign": {SignTencent(tencentToken, n)}}
				return &Request{Query: q, Body: []byte(tencentBody)}
			},
			verifier: func(t testing.TB) Verifier { return newTestTencent(t, tencentT0) },
		},
		{
			name: ProviderStandardWebhooks + " webhook-timestamp", unit: time.Second, now: stdT0, tol: 5 * time.Minute, malformed: ErrMalformedSignature,
			sign: func(t testing.TB, n int64) *Request {
				sig := SignStandard(stdKey(t, stdSecret), stdID, time.Unix(n, 0), []byte(stdBody))
				return &Request{Header: header("webhook-id", stdID, "webhook-timestamp", strconv.FormatInt(n, 10), "webhook-signature", sig), Body: []byte(stdBody)}
			},
			verifier: func(t testing.TB) Verifier { return newTestStandard(t, nil, stdT0) },
		},
		{
			name: ProviderTencentTRTC + " CallbackTs", unit: time.Millisecond, now: trtcT0, tol: 5 * time.Minute, malformed: ErrMalformedBody,
			sign: func(t testing.TB, n int64) *Request {
				body := fmt.Sprintf(`{"EventGroupId":1,"EventType":101,"CallbackTs":%d}`, n)
				return &Request{Header: header("Sign", SignTRTC([]byte(trtcKey), []byte(body)), "SdkAppId", trtcAppID), Body: []byte(body)}
			},
			verifier: func(t testing.TB) Verifier { return newTestTRTC(t, nil, 0, trtcT0) },
		},
		{
			name: ProviderLiveSwitch + " timestamp", unit: time.Millisecond, now: lsT0, tol: time.Minute, malformed: ErrMalformedBody,
			sign: func(t testing.TB, n int64) *Request {
				body := fmt.Sprintf(`{"timestamp":%d,"type":"channel.activated","id":"ev-1","channel":{"applicationId":"%s"}}`, n, lsApp)
				return &Request{Header: header(HeaderLiveSwitchSignature, lsSign(body)), Body: []byte(body)}
			},
			verifier: func(t testing.TB) Verifier { return newTestLiveSwitch(t, nil, time.Minute, lsT0) },
		},
		{
			name: ProviderLiveSwitch + " batch timestamp", unit: time.Millisecond, now: lsT0, tol: time.Minute, malformed: ErrMalformedBody,
			sign: func(t testing.TB, n int64) *Request {
				body := fmt.Sprintf(`{"batch":[%s,{"timestamp":%d,"type":"client.registered","client":{"applicationId":"%s"}}]}`, lsChannelActivated, n, lsApp)
				return &Request{Header: header(HeaderLiveSwitchSignature, lsSign(body)), Body: []byte(body)}
			},
			verifier: func(t testing.TB) Verifier { return newTestLiveSwitch(t, nil, time.Minute, lsT0) },
		},
		{
			// iat = nbf = n, exp = n + 5 min; one minute of leeway (golang-jwt
			// refuses now == exp + leeway); exp at
			// most ten minutes ahead.
			name: ProviderLiveKit + " token times", unit: time.Second, now: liveKitT0, tol: 6 * time.Minute, malformed: ErrMalformedSignature,
			sign: func(t testing.TB, n int64) *Request {
				body := []byte(liveKitRoomStarted)
				return &Request{Header: header("Authorization", mustSignLiveKit(t, "devkey", liveKitSecret, body, time.Unix(n, 0))), Body: body}
			},
			verifier: func(t testing.TB) Verifier { return newTestLiveKit(t, liveKitT0) },
			want: func(n int64) error {
				if n < minSignedUnix || n > maxSignedUnix-300 { // iat or exp out of range
					return ErrMalformedSignature
				}
				if now := liveKitT0.Unix(); n > now+60 || n+300 <= now-60 { // exp+leeway is exclusive
					return ErrStale
				}
				return nil
			},
		},
	}
}

// inUnit returns t as a count of unit since the Unix epoch.
func inUnit(t time.Time, unit time.Duration) int64 {
	if unit == time.Millisecond {
		return t.UnixMilli()
	}
	return t.Unix()
}

// wantTime is the outcome the window rule gives for n: nil inside the
// window, ErrStale outside it, tc.malformed outside 2000-2200. It is
// computed in big-enough integers: n and now are both bounded first.
func (tc timeCase) wantTime(n int64) error {
	if tc.want != nil {
		return tc.want(n)
	}
	per := int64(time.Second / tc.unit)
	if n < minSignedUnix*per || n > maxSignedUnix*per {
		return tc.malformed
	}
	now, tol := inUnit(tc.now, tc.unit), int64(tc.tol/tc.unit)
	if n < now-tol || n > now+tol {
		return ErrStale
	}
	return nil
}

// TestSignedTimesOutOfRange pins the bug where a far-future signed time
// overflowed the tolerance check (now.Sub saturated, and the negation of
// the minimum Duration stayed negative) and the request was accepted.
func TestSignedTimesOutOfRange(t *testing.T) {
	for _, tc := range timeCases() {
		per := int64(time.Second / tc.unit)
		now := inUnit(tc.now, tc.unit)
		values := []struct {
			name string
			n    int64
		}{
			{"now", now},
			{"edge of the window, late", now - int64(tc.tol/tc.unit)},
			{"edge of the window, early", now + int64(tc.tol/tc.unit)},
			{"just past the window", now + int64(tc.tol/tc.unit) + 1},
			{"milliseconds where seconds are expected", now * 1000},
			{"seconds where milliseconds are expected", now / 1000},
			{"18 digits", 999999999999999999},
			{"year 2400", time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC).Unix() * per},
			{"just after 2200", maxSignedUnix*per + 1},
			{"2200-01-01", maxSignedUnix * per},
			{"2000-01-01", minSignedUnix * per},
			{"just before 2000", minSignedUnix*per - 1},
			{"zero", 0},
			{"max int64", math.MaxInt64},
			{"max int64 minus now", math.MaxInt64 - now},
			{"negative", -now},
			{"minus one", -1},
			{"min int64", math.MinInt64},
		}
		for _, val := range values {
			t.Run(tc.name+"/"+val.name, func(t *testing.T) {
				want := tc.wantTime(val.n)
				evs, err := tc.verifier(t).Verify(tc.sign(t, val.n))
				if want == tc.malformed && tc.malformed == ErrMalformedSignature && val.n < 0 {
					want = ErrMalformedSignature // a sign is not a Unix time either
				}
				checkErr(t, err, want)
				if err != nil && evs != nil {
					t.Fatalf("events returned with error: %v", evs)
				}
			})
		}
	}
}

// FuzzSignedTimeWindow checks the window property for every provider with
// a signed time: for any int64 time (in the field's unit), a correctly
// signed request is accepted exactly when the time is within the
// tolerance of now, refused as stale outside it, and refused as malformed
// outside 2000-2200. With near set, the time is drawn around now so that
// the window's edges are explored too.
func FuzzSignedTimeWindow(f *testing.F) {
	for _, n := range []int64{0, 1, -1, math.MaxInt64, math.MinInt64, 1669872112, 1664209748188, 999999999999999999} {
		f.Add(n, false)
	}
	f.Add(int64(0), true)
	f.Add(int64(-300001), true)
	f.Add(int64(60000), true)
	cases := timeCases()
	verifiers := make([]Verifier, len(cases))
	for i, tc := range cases {
		verifiers[i] = tc.verifier(f)
	}
	f.Fuzz(func(t *testing.T, n int64, near bool) {
		for i, tc := range cases {
			ts := n
			if near {
				span := 3 * int64(tc.tol/tc.unit)
				ts = inUnit(tc.now, tc.unit) + n%span
			}
			want := tc.wantTime(ts)
			_, err := verifiers[i].Verify(tc.sign(t, ts))
			if want == nil {
				if err != nil {
					t.Fatalf("%s: time %d inside the window refused: %v", tc.name, ts, err)
				}
				continue
			}
			if err == nil {
				t.Fatalf("%s: time %d outside the window accepted (want %v)", tc.name, ts, want)
			}
			if !errors.Is(err, want) && !(want == tc.malformed && errors.Is(err, ErrMalformedSignature)) {
				t.Fatalf("%s: time %d: err = %v, want %v", tc.name, ts, err, want)
			}
		}
	})
}
