package verify

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

const (
	lsApp    = "5a3e1a2c-1b2d-4c3e-9f40-0a1b2c3d4e5f"
	lsSecret = "--replaceThisWithYourOwnSharedSecret--"

	lsChannelActivated = `{"timestamp":1700000000123,"origin":"mediaserver","type":"channel.activated","id":"0d4a3f0e-ev-1","channel":{"id":"room-1","applicationId":"` + lsApp + `"}}`
	lsClientRegistered = `{"timestamp":1700000000456,"origin":"gateway","type":"client.registered","client":{"id":"c-1","applicationId":"` + lsApp + `","userId":"alice","deviceId":"d-1"}}`
	lsConnConnected    = `{"timestamp":1700000000789,"origin":"mediaserver","type":"connection.connected","connection":{"id":"k-1","applicationId":"` + lsApp + `","channelId":"room-1"}}`
	lsGatewayStarted   = `{"timestamp":1700000000000,"origin":"gateway","type":"gateway.started"}`
)

var lsT0 = time.UnixMilli(1700000000123).UTC()

func newTestLiveSwitch(t testing.TB, keys Keyring, tol time.Duration, now time.Time) *LiveSwitch {
	t.Helper()
	if keys == nil {
		keys = Keyring{lsApp: {[]byte(lsSecret)}, "other-app": {[]byte("other-secret")}}
	}
	v, err := NewLiveSwitch(keys, tol, fixedClock(now))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func lsSign(body string) string { return SignLiveSwitch([]byte(lsSecret), []byte(body)) }

func TestLiveSwitchSingle(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Event
	}{
		{"channel event", lsChannelActivated, Event{ID: "0d4a3f0e-ev-1", Key: idKey(lsApp, "0d4a3f0e-ev-1"), Type: "channel.activated", Time: lsT0}},
		{"client event without id", lsClientRegistered, Event{Key: BodyKey(lsApp, []byte(lsClientRegistered)), Type: "client.registered", Time: time.UnixMilli(1700000000456).UTC()}},
		{"connection event", lsConnConnected, Event{Key: BodyKey(lsApp, []byte(lsConnConnected)), Type: "connection.connected", Time: time.UnixMilli(1700000000789).UTC()}},
		{"whitespace around", " \n" + lsChannelActivated + "\n", Event{ID: "0d4a3f0e-ev-1", Key: idKey(lsApp, "0d4a3f0e-ev-1"), Type: "channel.activated", Time: lsT0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := newTestLiveSwitch(t, nil, 0, lsT0).Verify(&Request{
				Header: header(HeaderLiveSwitchSignature, lsSign(tt.body)),
				Body:   []byte(tt.body),
			})
			checkErr(t, err, nil)
			tt.want.Provider, tt.want.KeyID, tt.want.Body = ProviderLiveSwitch, lsApp, []byte(tt.body)
			checkOneEvent(t, evs, tt.want)
		})
	}
}

func TestLiveSwitchBatch(t *testing.T) {
	body := "{\"batch\": [\n " + lsChannelActivated + ",\n " + lsClientRegistered + ", " + lsGatewayStarted + "]}"
	evs, err := newTestLiveSwitch(t, nil, 0, lsT0).Verify(&Request{
		Header: header(HeaderLiveSwitchSignature, lsSign(body)),
		Body:   []byte(body),
	})
	checkErr(t, err, nil)
	want := []Event{
		{ID: "0d4a3f0e-ev-1", Key: idKey(lsApp, "0d4a3f0e-ev-1"), Type: "channel.activated", Time: lsT0, Body: []byte(lsChannelActivated)},
		{Key: BodyKey(lsApp, []byte(lsClientRegistered)), Type: "client.registered", Time: time.UnixMilli(1700000000456).UTC(), Body: []byte(lsClientRegistered)},
		{Key: BodyKey(lsApp, []byte(lsGatewayStarted)), Type: "gateway.started", Time: time.UnixMilli(1700000000000).UTC(), Body: []byte(lsGatewayStarted)},
	}
	if len(evs) != len(want) {
		t.Fatalf("got %d events, want %d", len(evs), len(want))
	}
	for i := range want {
		want[i].Provider, want[i].KeyID = ProviderLiveSwitch, lsApp
		checkEvent(t, evs[i], want[i])
	}
}

func TestLiveSwitchAccepts(t *testing.T) {
	noApp := `{"timestamp":1700000000123,"type":"message.sent","message":{"text":"hi"}}`
	old := time.UnixMilli(1700000000123).Add(-365 * 24 * time.Hour)
	tests := []struct {
		name  string
		keys  Keyring
		tol   time.Duration
		sign  string
		body  string
		now   time.Time
		keyID string
	}{
		{"rotation: new secret", Keyring{lsApp: {[]byte("old"), []byte(lsSecret)}}, 0, lsSign(lsChannelActivated), lsChannelActivated, lsT0, lsApp},
		{"no applicationId, one application configured", Keyring{"only": {[]byte(lsSecret)}}, 0, lsSign(noApp), noApp, lsT0, "only"},
		{"freshness off by default: a year late", nil, 0, lsSign(lsChannelActivated), lsChannelActivated, old.Add(2 * 365 * 24 * time.Hour), lsApp},
		{"within a positive tolerance", nil, time.Minute, lsSign(lsChannelActivated), lsChannelActivated, lsT0.Add(time.Minute), lsApp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := newTestLiveSwitch(t, tt.keys, tt.tol, tt.now).Verify(&Request{
				Header: header(HeaderLiveSwitchSignature, tt.sign),
				Body:   []byte(tt.body),
			})
			checkErr(t, err, nil)
			if evs[0].KeyID != tt.keyID {
				t.Fatalf("KeyID = %q, want %q", evs[0].KeyID, tt.keyID)
			}
		})
	}
}

func TestLiveSwitchRejects(t *testing.T) {
	otherApp := strings.ReplaceAll(lsChannelActivated, lsApp, "unknown-app")
	noApp := `{"timestamp":1700000000123,"type":"message.sent","message":{"text":"hi"}}`
	mixedBatch := `{"batch":[` + lsChannelActivated + `,` + strings.ReplaceAll(lsClientRegistered, lsApp, "other-app") + `]}`
	mixedEvent := `{"type":"channel.client.joined","channel":{"applicationId":"` + lsApp + `"},"client":{"applicationId":"other-app"}}`
	noTimestamp := `{"type":"channel.activated","channel":{"applicationId":"` + lsApp + `"}}`
	staleBatch := `{"batch":[` + lsChannelActivated + `,` + strings.Replace(lsClientRegistered, "1700000000456", "1600000000000", 1) + `]}`
	big := `{"batch":[` + strings.Repeat(lsChannelActivated+",", MaxLiveSwitchBatch) + lsChannelActivated + `]}`
	tests := []struct {
		name string
		keys Keyring
		tol  time.Duration
		sign []string
		body string
		now  time.Time
		want error
	}{
		{"unsigned server webhook", nil, 0, nil, lsGatewayStarted, lsT0, ErrUnsigned},
		{"no signature on an application webhook", nil, 0, nil, lsChannelActivated, lsT0, ErrMissingSignature},
		{"no signature, body not JSON", nil, 0, nil, `hello`, lsT0, ErrMissingSignature},
		{"conflicting signature headers", nil, 0, []string{lsSign(lsChannelActivated), lsSign(lsClientRegistered)}, lsChannelActivated, lsT0, ErrMalformedSignature},
		{"signature not base64", nil, 0, []string{"%%%"}, lsChannelActivated, lsT0, ErrMalformedSignature},
		{"signature of the wrong length", nil, 0, []string{"c2hvcnQ="}, lsChannelActivated, lsT0, ErrMalformedSignature},
		{"unknown applicationId", nil, 0, []string{lsSign(otherApp)}, otherApp, lsT0, ErrUnknownKey},
		{"no applicationId, two applications configured", nil, 0, []string{lsSign(noApp)}, noApp, lsT0, ErrUnknownKey},
		{"signed with another application's secret", nil, 0, []string{SignLiveSwitch([]byte("other-secret"), []byte(lsChannelActivated))}, lsChannelActivated, lsT0, ErrSignatureMismatch},
		{"tampered body", nil, 0, []string{lsSign(lsChannelActivated)}, strings.Replace(lsChannelActivated, "room-1", "room-2", 1), lsT0, ErrSignatureMismatch},
		{"batch naming two applications", nil, 0, []string{lsSign(mixedBatch)}, mixedBatch, lsT0, ErrMalformedBody},
		{"forged batch naming two applications", nil, 0, []string{SignLiveSwitch([]byte("guess"), []byte(mixedBatch))}, mixedBatch, lsT0, ErrSignatureMismatch},
		{"event naming two applications", nil, 0, []string{lsSign(mixedEvent)}, mixedEvent, lsT0, ErrMalformedBody},
		{"body not JSON", nil, 0, []string{lsSign(`hello`)}, `hello`, lsT0, ErrMalformedBody},
		{"forged body not JSON", nil, 0, []string{lsSign(`hello!`)}, `hello`, lsT0, ErrSignatureMismatch},
		{"empty batch", nil, 0, []string{lsSign(`{"batch":[]}`)}, `{"batch":[]}`, lsT0, ErrMalformedBody},
		{"batch not an array", nil, 0, []string{lsSign(`{"batch":{}}`)}, `{"batch":{}}`, lsT0, ErrMalformedBody},
		{"batch item not an object", nil, 0, []string{lsSign(`{"batch":[1]}`)}, `{"batch":[1]}`, lsT0, ErrMalformedBody},
		{"batch too large", nil, 0, []string{lsSign(big)}, big, lsT0, ErrMalformedBody},
		{"stale", nil, time.Minute, []string{lsSign(lsChannelActivated)}, lsChannelActivated, lsT0.Add(time.Minute + time.Millisecond), ErrStale},
		{"one stale item in a batch", nil, time.Minute, []string{lsSign(staleBatch)}, staleBatch, lsT0, ErrStale},
		{"no timestamp with a tolerance", nil, time.Minute, []string{lsSign(noTimestamp)}, noTimestamp, lsT0, ErrMalformedBody},
		{"type not a string", nil, 0, []string{lsSign(`{"type":1,"channel":{"applicationId":"` + lsApp + `"}}`)}, `{"type":1,"channel":{"applicationId":"` + lsApp + `"}}`, lsT0, ErrMalformedBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := header()
			for _, s := range tt.sign {
				h.Add(HeaderLiveSwitchSignature, s)
			}
			evs, err := newTestLiveSwitch(t, tt.keys, tt.tol, tt.now).Verify(&Request{Header: h, Body: []byte(tt.body)})
			checkErr(t, err, tt.want)
			if evs != nil {
				t.Fatalf("events returned with error: %v", evs)
			}
		})
	}
}

func TestSplitBatch(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		items []string
		batch bool
		ok    bool
	}{
		{"single", lsChannelActivated, []string{lsChannelActivated}, false, true},
		{"batch", `{"batch":[{"a":1}, {"b":2}]}`, []string{`{"a":1}`, `{"b":2}`}, true, true},
		{"batch with spaces", "{ \"batch\" : [ {\"a\" : 1} ] }", []string{`{"a" : 1}`}, true, true},
		{"Batch is not batch", `{"Batch":[{"a":1}]}`, []string{`{"Batch":[{"a":1}]}`}, false, true},
		{"empty batch", `{"batch":[]}`, nil, true, false},
		{"null batch", `{"batch":null}`, nil, true, false},
		{"item not an object", `{"batch":[{},"x"]}`, nil, true, false},
		{"not an object", `[{}]`, nil, false, false},
		{"duplicate batch", `{"batch":[{}],"batch":[{}]}`, nil, false, false},
		{"invalid JSON", `{"batch":[{]}`, nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, batch, err := SplitBatch([]byte(tt.body))
			if (err == nil) != tt.ok {
				t.Fatalf("SplitBatch error = %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok {
				return
			}
			if batch != tt.batch || len(items) != len(tt.items) {
				t.Fatalf("SplitBatch = %d items, batch=%v; want %d, %v", len(items), batch, len(tt.items), tt.batch)
			}
			for i := range items {
				if string(items[i]) != tt.items[i] {
					t.Errorf("item %d = %s, want %s", i, items[i], tt.items[i])
				}
			}
		})
	}
}

func FuzzSplitBatch(f *testing.F) {
	f.Add([]byte(lsChannelActivated))
	f.Add([]byte(`{"batch":[` + lsChannelActivated + `,` + lsClientRegistered + `]}`))
	f.Add([]byte(`{"batch":[]}`))
	f.Add([]byte(`{"batch":[1,{}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		items, batch, err := SplitBatch(body)
		if err != nil {
			if items != nil {
				t.Fatal("items returned with an error")
			}
			return
		}
		if len(items) == 0 || len(items) > MaxLiveSwitchBatch {
			t.Fatalf("%d items", len(items))
		}
		if !batch && (len(items) != 1 || !bytes.Equal(items[0], body)) {
			t.Fatal("a single event must be the body itself")
		}
		for i, it := range items {
			if _, err := objectFields(it); err != nil && !errors.Is(err, errDuplicateKey) {
				t.Fatalf("item %d is not a JSON object: %v", i, err)
			}
			if batch && !bytes.Contains(body, it) {
				t.Fatalf("item %d is not a slice of the body's bytes", i)
			}
		}
	})
}

func FuzzLiveSwitch(f *testing.F) {
	// The verifier's secret is not in the corpus: no input may verify.
	f.Add(lsSign(lsChannelActivated), []byte(lsChannelActivated))
	f.Add(lsSign(lsGatewayStarted), []byte(`{"batch":[`+lsChannelActivated+`,`+lsGatewayStarted+`]}`))
	f.Add("", []byte(lsGatewayStarted))
	v := newTestLiveSwitch(f, Keyring{lsApp: {[]byte("fuzz-secret-never-in-corpus")}}, 0, lsT0)
	f.Fuzz(func(t *testing.T, sign string, body []byte) {
		evs, err := v.Verify(&Request{Header: header(HeaderLiveSwitchSignature, sign), Body: body})
		if err == nil {
			t.Fatalf("forged signature accepted: %q %q -> %v", sign, body, evs)
		}
	})
}

func FuzzLiveSwitchRoundTrip(f *testing.F) {
	f.Add([]byte(lsChannelActivated), uint16(5))
	f.Add([]byte(`{"batch":[`+lsChannelActivated+`,`+lsGatewayStarted+`]}`), uint16(40))
	f.Add([]byte(`{}`), uint16(0))
	v := newTestLiveSwitch(f, Keyring{lsApp: {[]byte(lsSecret)}}, 0, lsT0)
	f.Fuzz(func(t *testing.T, body []byte, flip uint16) {
		sign := lsSign(string(body))
		evs, err := v.Verify(&Request{Header: header(HeaderLiveSwitchSignature, sign), Body: body})
		switch {
		case err == nil:
			for _, ev := range evs {
				if ev.KeyID != lsApp || ev.Key == "" {
					t.Fatalf("bad event %v", fmtEvent(ev))
				}
			}
		case !errors.Is(err, ErrMalformedBody) && !errors.Is(err, ErrUnknownKey):
			t.Fatalf("signed body rejected: %v", err)
		}
		if len(body) == 0 {
			return
		}
		tampered := append([]byte(nil), body...)
		tampered[int(flip)%len(tampered)] ^= 0x04
		if evs, err := v.Verify(&Request{Header: header(HeaderLiveSwitchSignature, sign), Body: tampered}); err == nil {
			t.Fatalf("tampered body accepted: %q -> %v", tampered, evs)
		}
	})
}

func BenchmarkVerifyLiveSwitch(b *testing.B) {
	body := payload(1024, `"timestamp":1700000000123,"origin":"mediaserver","type":"channel.activated","id":"0d4a3f0e-ev-1","channel":{"id":"room-1","applicationId":"`+lsApp+`"},`)
	v := newTestLiveSwitch(b, nil, 0, lsT0)
	r := &Request{Header: header(HeaderLiveSwitchSignature, lsSign(string(body))), Body: body}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}
