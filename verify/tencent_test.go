package verify

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	tencentAppID = "1400000000"
	tencentToken = "xxxxyyyy"
	tencentTime  = 1669872112
	// tencentSign is the vector of PROVIDERS.md.
	tencentSign = "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"
	tencentBody = `{"CallbackCommand":"Live.CallbackAfterCreateRoom","EventTime":1669872112345,"RoomId":"live_1","Operator_Account":"admin"}`
)

var tencentT0 = time.Unix(tencentTime, 0).UTC()

func newTestTencent(t testing.TB, now time.Time) *Tencent {
	t.Helper()
	v, err := NewTencent(Keyring{
		tencentAppID: {[]byte(tencentToken)},
		"1400000001": {[]byte("old-token"), []byte("new-token")},
	}, 0, fixedClock(now))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// tencentQuery parses a raw query, failing t on error.
func tencentQuery(t testing.TB, raw string) url.Values {
	t.Helper()
	q, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestSignTencentVector(t *testing.T) {
	if got := SignTencent(tencentToken, tencentTime); got != tencentSign {
		t.Fatalf("SignTencent = %s, want %s", got, tencentSign)
	}
}

func TestTencentAccepts(t *testing.T) {
	base := "SdkAppid=" + tencentAppID + "&contenttype=json&ClientIP=$ClientIP&OptPlatform=RESTAPI&RequestTime=" + strconv.Itoa(tencentTime)
	rotSign := SignTencent("new-token", tencentTime)
	eventTime := time.UnixMilli(1669872112345).UTC()
	tests := []struct {
		name  string
		query string
		body  string
		now   time.Time
		typ   string
		keyID string
	}{
		{"vector, CallbackCommand in query", base + "&CallbackCommand=Live.CallbackAfterCreateRoom&Sign=" + tencentSign, tencentBody, tencentT0, "Live.CallbackAfterCreateRoom", tencentAppID},
		{"WebhookCommand", base + "&WebhookCommand=Live.CallbackAfterDestroyRoom&Sign=" + tencentSign, tencentBody, tencentT0, "Live.CallbackAfterDestroyRoom", tencentAppID},
		{"command only in body", base + "&Sign=" + tencentSign, tencentBody, tencentT0, "Live.CallbackAfterCreateRoom", tencentAppID},
		{"keys in other cases", "sdkappid=" + tencentAppID + "&SIGN=" + tencentSign + "&requesttime=" + strconv.Itoa(tencentTime) + "&callbackcommand=Group.CallbackAfterSendMsg", tencentBody, tencentT0, "Group.CallbackAfterSendMsg", tencentAppID},
		{"SdkAppId spelling", "SdkAppId=" + tencentAppID + "&Sign=" + tencentSign + "&RequestTime=" + strconv.Itoa(tencentTime), tencentBody, tencentT0, "Live.CallbackAfterCreateRoom", tencentAppID},
		{"uppercase hex Sign", base + "&Sign=" + strings.ToUpper(tencentSign), tencentBody, tencentT0, "Live.CallbackAfterCreateRoom", tencentAppID},
		{"repeated parameter, same value", base + "&Sign=" + tencentSign + "&sign=" + tencentSign, tencentBody, tencentT0, "Live.CallbackAfterCreateRoom", tencentAppID},
		{"rotation: second token", "SdkAppid=1400000001&RequestTime=" + strconv.Itoa(tencentTime) + "&Sign=" + rotSign, tencentBody, tencentT0, "Live.CallbackAfterCreateRoom", "1400000001"},
		{"one minute late", base + "&Sign=" + tencentSign, tencentBody, tencentT0.Add(time.Minute), "Live.CallbackAfterCreateRoom", tencentAppID},
		{"one minute early", base + "&Sign=" + tencentSign, tencentBody, tencentT0.Add(-time.Minute), "Live.CallbackAfterCreateRoom", tencentAppID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := newTestTencent(t, tt.now).Verify(&Request{
				Query: tencentQuery(t, tt.query),
				Body:  []byte(tt.body),
			})
			checkErr(t, err, nil)
			checkOneEvent(t, evs, Event{
				Provider: ProviderTencent,
				Key:      BodyKey(tt.keyID, []byte(tt.body)),
				Type:     tt.typ,
				Time:     eventTime,
				KeyID:    tt.keyID,
				Body:     []byte(tt.body),
			})
		})
	}
}

func TestTencentRejects(t *testing.T) {
	rt := "&RequestTime=" + strconv.Itoa(tencentTime)
	app := "SdkAppid=" + tencentAppID
	tests := []struct {
		name  string
		query string
		body  string
		now   time.Time
		want  error
	}{
		{"no query", "", tencentBody, tencentT0, ErrMissingSignature},
		{"no Sign", app + rt, tencentBody, tencentT0, ErrMissingSignature},
		{"empty Sign", app + rt + "&Sign=", tencentBody, tencentT0, ErrMissingSignature},
		{"no RequestTime", app + "&Sign=" + tencentSign, tencentBody, tencentT0, ErrMissingSignature},
		{"unknown SdkAppId", "SdkAppid=1499999999" + rt + "&Sign=" + tencentSign, tencentBody, tencentT0, ErrUnknownKey},
		{"no SdkAppId", "Sign=" + tencentSign + rt, tencentBody, tencentT0, ErrUnknownKey},
		{"conflicting SdkAppid and sdkappid", app + "&sdkappid=1400000001" + rt + "&Sign=" + tencentSign, tencentBody, tencentT0, ErrMalformedSignature},
		{"conflicting RequestTime and requesttime", app + rt + "&requesttime=" + strconv.Itoa(tencentTime+1) + "&Sign=" + tencentSign, tencentBody, tencentT0, ErrMalformedSignature},
		{"SdkAppid given empty and set", app + "&sdkappid=" + rt + "&Sign=" + tencentSign, tencentBody, tencentT0, ErrMalformedSignature},
		{"conflicting SdkAppid and SdkAppId", app + "&SdkAppId=1400000001" + rt + "&Sign=" + tencentSign, tencentBody, tencentT0, ErrMalformedSignature},
		{"conflicting Sign", app + rt + "&Sign=" + tencentSign + "&Sign=" + SignTencent(tencentToken, tencentTime+1), tencentBody, tencentT0, ErrMalformedSignature},
		{"conflicting RequestTime", app + rt + "&requestTime=1669872113&Sign=" + tencentSign, tencentBody, tencentT0, ErrMalformedSignature},
		{"conflicting commands", app + rt + "&Sign=" + tencentSign + "&CallbackCommand=a&WebhookCommand=b", tencentBody, tencentT0, ErrMalformedSignature},
		{"RequestTime not numeric", app + "&RequestTime=now&Sign=" + tencentSign, tencentBody, tencentT0, ErrMalformedSignature},
		{"RequestTime signed", app + "&RequestTime=%2B1669872112&Sign=" + SignTencent(tencentToken, tencentTime), tencentBody, tencentT0, ErrMalformedSignature},
		{"Sign not hex", app + rt + "&Sign=" + strings.Repeat("zz", 32), tencentBody, tencentT0, ErrMalformedSignature},
		{"Sign too short", app + rt + "&Sign=" + tencentSign[:62], tencentBody, tencentT0, ErrMalformedSignature},
		{"Sign of another token", app + rt + "&Sign=" + SignTencent("yyyyxxxx", tencentTime), tencentBody, tencentT0, ErrSignatureMismatch},
		{"Sign of another time", app + rt + "&Sign=" + SignTencent(tencentToken, tencentTime+1), tencentBody, tencentT0, ErrSignatureMismatch},
		{"Sign of another app's token", "SdkAppid=1400000001" + rt + "&Sign=" + tencentSign, tencentBody, tencentT0, ErrSignatureMismatch},
		{"stale", app + rt + "&Sign=" + tencentSign, tencentBody, tencentT0.Add(61 * time.Second), ErrStale},
		{"from the future", app + rt + "&Sign=" + tencentSign, tencentBody, tencentT0.Add(-61 * time.Second), ErrStale},
		{"body not JSON", app + rt + "&Sign=" + tencentSign, `ActionStatus=OK`, tencentT0, ErrMalformedBody},
		{"body a JSON array", app + rt + "&Sign=" + tencentSign, `[{}]`, tencentT0, ErrMalformedBody},
		{"EventTime not a number", app + rt + "&Sign=" + tencentSign, `{"EventTime":"soon"}`, tencentT0, ErrMalformedBody},
		{"EventTime in seconds", app + rt + "&Sign=" + tencentSign, `{"EventTime":1669872112}`, tencentT0, ErrMalformedBody},
		{"EventTime in the year 2400", app + rt + "&Sign=" + tencentSign, `{"EventTime":13569465600000}`, tencentT0, ErrMalformedBody},
		{"EventTime min int64", app + rt + "&Sign=" + tencentSign, `{"EventTime":-9223372036854775808}`, tencentT0, ErrMalformedBody},
		{"RequestTime in milliseconds", app + "&RequestTime=1669872112000&Sign=" + SignTencent(tencentToken, 1669872112000), tencentBody, tencentT0, ErrMalformedSignature},
		{"CallbackCommand not a string", app + rt + "&Sign=" + tencentSign, `{"CallbackCommand":1}`, tencentT0, ErrMalformedBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := newTestTencent(t, tt.now).Verify(&Request{
				Query: tencentQuery(t, tt.query),
				Body:  []byte(tt.body),
			})
			checkErr(t, err, tt.want)
			if evs != nil {
				t.Fatalf("events returned with error: %v", evs)
			}
		})
	}
}

func TestTencentAck(t *testing.T) {
	ct, body := newTestTencent(t, tencentT0).Ack()
	if ct != "application/json" || string(body) != `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}` {
		t.Fatalf("Ack() = %q, %q", ct, body)
	}
}

func TestNewTencentValidates(t *testing.T) {
	keys := Keyring{tencentAppID: {[]byte(tencentToken)}}
	tests := []struct {
		name string
		keys Keyring
		tol  time.Duration
	}{
		{"no keys", Keyring{}, 0},
		{"empty token", Keyring{tencentAppID: {{}}}, 0},
		{"negative tolerance", keys, -time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewTencent(tt.keys, tt.tol, nil); err == nil {
				t.Fatal("NewTencent accepted an invalid configuration")
			}
		})
	}
}

func FuzzTencent(f *testing.F) {
	// The verifier's token is not in the corpus: no query may verify.
	f.Add("SdkAppid=1400000000&RequestTime=1669872112&Sign="+tencentSign+"&CallbackCommand=Live.CallbackAfterCreateRoom", []byte(tencentBody))
	f.Add("SdkAppId=1400000000&sdkappid=1400000000&RequestTime=1669872112&Sign="+strings.ToUpper(tencentSign), []byte(`{}`))
	f.Add("Sign=&RequestTime=", []byte(`[]`))
	v, err := NewTencent(Keyring{tencentAppID: {[]byte("fuzz-token-never-in-corpus")}}, 0, fixedClock(tencentT0))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, rawQuery string, body []byte) {
		q, _ := url.ParseQuery(rawQuery) // keeps what parses, as net/http does
		evs, err := v.Verify(&Request{Query: q, Body: body})
		if err == nil {
			t.Fatalf("forged Sign accepted: %q -> %v", rawQuery, evs)
		}
	})
}

func FuzzTencentRoundTrip(f *testing.F) {
	f.Add(int64(tencentTime), []byte(tencentBody), uint8(0))
	f.Add(int64(0), []byte(`{}`), uint8(63))
	v := newTestTencent(f, tencentT0)
	f.Fuzz(func(t *testing.T, delta int64, body []byte, flip uint8) {
		delta %= 60 // within the tolerance
		ts := int64(tencentTime) + delta
		sign := SignTencent(tencentToken, ts)
		q := url.Values{"SdkAppid": {tencentAppID}, "RequestTime": {strconv.FormatInt(ts, 10)}, "Sign": {sign}}
		_, err := v.Verify(&Request{Query: q, Body: body})
		if err != nil && !errors.Is(err, ErrMalformedBody) {
			t.Fatalf("signed request rejected: %v", err)
		}
		b := []byte(sign)
		i := int(flip) % len(b)
		b[i] = "0123456789abcdef"[(strings.IndexByte("0123456789abcdef", b[i])+1)%16]
		q.Set("Sign", string(b))
		if _, err := v.Verify(&Request{Query: q, Body: body}); !errors.Is(err, ErrSignatureMismatch) {
			t.Fatalf("tampered Sign: err = %v, want ErrSignatureMismatch", err)
		}
	})
}

func BenchmarkVerifyTencent(b *testing.B) {
	body := payload(1024, `"CallbackCommand":"Live.CallbackAfterCreateRoom","EventTime":1669872112345,`)
	v := newTestTencent(b, tencentT0)
	r := &Request{
		Query: url.Values{
			"SdkAppid":        {tencentAppID},
			"CallbackCommand": {"Live.CallbackAfterCreateRoom"},
			"contenttype":     {"json"},
			"ClientIP":        {"203.0.113.7"},
			"OptPlatform":     {"RESTAPI"},
			"RequestTime":     {strconv.Itoa(tencentTime)},
			"Sign":            {tencentSign},
		},
		Body: body,
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}
