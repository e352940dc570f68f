package verify

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// The vector of PROVIDERS.md, from Slack's docs.
const (
	slackSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	slackTS     = 1531420618
	slackBody   = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	slackSig    = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
	slackEvent  = `{"token":"x","team_id":"T1","type":"event_callback","event_id":"Ev08MFMKH6","event_time":1531420600,"event":{"type":"app_mention","text":"hi"}}`
	slackChal   = `{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`
)

var slackT0 = time.Unix(slackTS, 0).UTC()

func newTestSlack(t testing.TB, now time.Time) *Slack {
	t.Helper()
	v, err := NewSlack(Keyring{"app": {[]byte(slackSecret)}}, 0, fixedClock(now))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func slackHeader(sig string, ts int) []string {
	return []string{HeaderSlackSignature, sig, HeaderSlackTimestamp, strconv.Itoa(ts)}
}

func TestSignSlackVector(t *testing.T) {
	if got := SignSlack([]byte(slackSecret), slackT0, []byte(slackBody)); got != slackSig {
		t.Fatalf("SignSlack = %s, want %s", got, slackSig)
	}
}

func TestSlackAccepts(t *testing.T) {
	sign := func(b string) string { return SignSlack([]byte(slackSecret), slackT0, []byte(b)) }
	tests := []struct {
		name, body, sig string
		want            Event
	}{
		{"slash command vector", slackBody, slackSig, Event{Key: BodyKey("app", []byte(slackBody)), Type: "/webhook-collect", Time: slackT0}},
		{"Events API: event_id", slackEvent, sign(slackEvent), Event{ID: "Ev08MFMKH6", Key: idKey("app", "Ev08MFMKH6"), Type: "app_mention", Time: time.Unix(1531420600, 0).UTC()}},
		{"interactivity payload", "payload=%7B%22type%22%3A%22block_actions%22%7D", sign("payload=%7B%22type%22%3A%22block_actions%22%7D"),
			Event{Key: BodyKey("app", []byte("payload=%7B%22type%22%3A%22block_actions%22%7D")), Time: slackT0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := newTestSlack(t, slackT0.Add(-5*time.Minute)).Verify(&Request{Header: header(slackHeader(tt.sig, slackTS)...), Body: []byte(tt.body)})
			checkErr(t, err, nil)
			tt.want.Provider, tt.want.KeyID, tt.want.Body = ProviderSlack, "app", []byte(tt.body)
			checkOneEvent(t, evs, tt.want)
		})
	}
}

func TestSlackChallenge(t *testing.T) {
	evs, err := newTestSlack(t, slackT0).Verify(&Request{Header: header(slackHeader(SignSlack([]byte(slackSecret), slackT0, []byte(slackChal)), slackTS)...), Body: []byte(slackChal)})
	checkErr(t, err, nil)
	c := evs[0].Challenge
	if c == nil || c.ContentType != "application/json" || string(c.Body) != `{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}` {
		t.Fatalf("challenge = %+v", c)
	}
}

func TestSlackRejects(t *testing.T) {
	sign := func(b string) []string {
		return slackHeader(SignSlack([]byte(slackSecret), slackT0, []byte(b)), slackTS)
	}
	tests := []struct {
		name string
		hdr  []string
		body string
		now  time.Time
		want error
	}{
		{"no headers", nil, slackBody, slackT0, ErrMissingSignature},
		{"no timestamp", []string{HeaderSlackSignature, slackSig}, slackBody, slackT0, ErrMissingSignature},
		{"no signature", []string{HeaderSlackTimestamp, strconv.Itoa(slackTS)}, slackBody, slackT0, ErrMissingSignature},
		{"no v0=", slackHeader(strings.TrimPrefix(slackSig, "v0="), slackTS), slackBody, slackT0, ErrMalformedSignature},
		{"not hex", slackHeader("v0=zz", slackTS), slackBody, slackT0, ErrMalformedSignature},
		{"timestamp not a number", []string{HeaderSlackSignature, slackSig, HeaderSlackTimestamp, "1531420618.5"}, slackBody, slackT0, ErrMalformedSignature},
		{"wrong secret", slackHeader(SignSlack([]byte("other"), slackT0, []byte(slackBody)), slackTS), slackBody, slackT0, ErrSignatureMismatch},
		{"tampered body", slackHeader(slackSig, slackTS), strings.Replace(slackBody, "roadrunner", "coyote", 1), slackT0, ErrSignatureMismatch},
		{"other timestamp", slackHeader(slackSig, slackTS+1), slackBody, slackT0, ErrSignatureMismatch},
		{"stale", slackHeader(slackSig, slackTS), slackBody, slackT0.Add(5*time.Minute + time.Second), ErrStale},
		{"from the future", slackHeader(slackSig, slackTS), slackBody, slackT0.Add(-5*time.Minute - time.Second), ErrStale},
		{"forged challenge", slackHeader(slackSig, slackTS), slackChal, slackT0, ErrSignatureMismatch},
		{"challenge without a value", sign(`{"type":"url_verification"}`), `{"type":"url_verification"}`, slackT0, ErrMalformedBody},
		{"JSON with a duplicate type", sign(`{"type":"event_callback","type":"url_verification","challenge":"x"}`), `{"type":"event_callback","type":"url_verification","challenge":"x"}`, slackT0, ErrMalformedBody},
		{"broken JSON", sign(`{"type":`), `{"type":`, slackT0, ErrMalformedBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := newTestSlack(t, tt.now).Verify(&Request{Header: header(tt.hdr...), Body: []byte(tt.body)})
			checkRejected(t, evs, err, tt.want)
		})
	}
}

func FuzzSlack(f *testing.F) {
	f.Add(slackSig, strconv.Itoa(slackTS), []byte(slackBody), int64(0), uint16(7))
	f.Add("v0=", "1", []byte(slackChal), int64(30), uint16(0))
	forged, err := NewSlack(Keyring{"app": {[]byte("fuzz-key-never-in-corpus")}}, 0, fixedClock(slackT0))
	if err != nil {
		f.Fatal(err)
	}
	v := newTestSlack(f, slackT0)
	f.Fuzz(func(t *testing.T, sig, ts string, body []byte, delta int64, flip uint16) {
		checkForgeryRefused(t, forged, &Request{Header: header(HeaderSlackSignature, sig, HeaderSlackTimestamp, ts), Body: body})
		at := slackT0.Add(time.Duration(delta%300) * time.Second)
		h := header(HeaderSlackSignature, SignSlack([]byte(slackSecret), at, body), HeaderSlackTimestamp, strconv.FormatInt(at.Unix(), 10))
		checkRoundTrip(t, v, &Request{Header: h, Body: body}, &Request{Header: h, Body: fuzzTamper(body, flip)}, ErrSignatureMismatch)
	})
}
