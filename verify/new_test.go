package verify

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestNewEveryProvider(t *testing.T) {
	for _, p := range providers {
		t.Run(p.Name, func(t *testing.T) {
			opts, _ := sampleOptions(p)
			v, err := New(p.Name, opts)
			if err != nil {
				t.Fatal(err)
			}
			if v == nil {
				t.Fatal("nil verifier")
			}
		})
	}
}

func TestNewVerifies(t *testing.T) {
	tests := []struct {
		provider string
		keys     map[string][]string
		now      time.Time
		req      *Request
		keyID    string
	}{
		{ProviderStandardWebhooks, map[string][]string{"partner": {"whsec_old0", stdSecret}}, stdT0,
			&Request{Header: header("webhook-id", stdID, "webhook-timestamp", stdTS, "webhook-signature", stdSig), Body: []byte(stdBody)}, "partner"},
		{ProviderTencent, map[string][]string{tencentAppID: {tencentToken}}, tencentT0,
			&Request{Query: url.Values{"SdkAppid": {tencentAppID}, "RequestTime": {strconv.Itoa(tencentTime)}, "Sign": {tencentSign}}, Body: []byte(tencentBody)}, tencentAppID},
		{ProviderTencentTRTC, map[string][]string{trtcAppID: {trtcKey}}, trtcT0,
			&Request{Header: header("Sign", trtcSign, "SdkAppId", trtcAppID), Body: []byte(trtcBody)}, trtcAppID},
		{ProviderLiveSwitch, map[string][]string{lsApp: {lsSecret}}, lsT0,
			&Request{Header: header(HeaderLiveSwitchSignature, lsSign(lsChannelActivated)), Body: []byte(lsChannelActivated)}, lsApp},
		{ProviderLiveKit, map[string][]string{"devkey": {string(liveKitSecret)}}, liveKitT0,
			&Request{Header: header("Authorization", mustSignLiveKit(t, "devkey", liveKitSecret, []byte(liveKitRoomStarted), liveKitT0)), Body: []byte(liveKitRoomStarted)}, "devkey"},
	}
	for _, tt := range tests {
		t.Run(tt.provider, func(t *testing.T) {
			v, err := New(tt.provider, Options{Keys: tt.keys, Now: fixedClock(tt.now)})
			if err != nil {
				t.Fatal(err)
			}
			evs, err := v.Verify(tt.req)
			checkErr(t, err, nil)
			if evs[0].Provider != tt.provider || evs[0].KeyID != tt.keyID {
				t.Fatalf("event %s", fmtEvent(evs[0]))
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	const secret = "whsec_not*base64-s3cr3t"
	tests := []struct {
		name     string
		provider string
		opts     Options
		is       error  // sentinel the error wraps, if any
		mention  string // text the error must contain
	}{
		{"unknown provider", "gitlab", Options{Keys: map[string][]string{"k": {"s"}}}, ErrUnknownProvider, "gitlab"},
		{"no keys", ProviderLiveKit, Options{}, nil, "no keys"},
		{"empty secret", ProviderTencent, Options{Keys: map[string][]string{"1400000000": {""}}}, nil, `"1400000000"`},
		{"no secrets", ProviderTencentTRTC, Options{Keys: map[string][]string{"1400000000": {}}}, nil, `"1400000000"`},
		{"empty key id", ProviderLiveSwitch, Options{Keys: map[string][]string{"": {"s"}}}, nil, "empty key id"},
		{"bad whsec secret", ProviderStandardWebhooks, Options{Keys: map[string][]string{"partner": {stdSecret, secret}}}, nil, `"partner": secret 2`},
		{"negative tolerance for tencent", ProviderTencent, Options{Keys: map[string][]string{"1": {"t"}}, Tolerance: -time.Second}, nil, "tolerance"},
		{"negative tolerance for standard", ProviderStandardWebhooks, Options{Keys: map[string][]string{"1": {stdSecret}}, Tolerance: -time.Second}, nil, "tolerance"},
		{"negative token lifetime", ProviderLiveKit, Options{Keys: map[string][]string{"k": {"s"}}, MaxTokenLifetime: -time.Second}, nil, "MaxTokenLifetime"},
		{"token lifetime for another provider", ProviderTencentTRTC, Options{Keys: map[string][]string{"k": {"s"}}, MaxTokenLifetime: time.Hour}, nil, "MaxTokenLifetime"},
		{"negative tolerance for livekit", ProviderLiveKit, Options{Keys: map[string][]string{"k": {"s"}}, Tolerance: -time.Second}, nil, "negative tolerance"},
		{"negative tolerance for trtc", ProviderTencentTRTC, Options{Keys: map[string][]string{"k": {"s"}}, Tolerance: -time.Second}, nil, "negative tolerance"},
		{"negative tolerance for liveswitch", ProviderLiveSwitch, Options{Keys: map[string][]string{"k": {"s"}}, Tolerance: -time.Second}, nil, "negative tolerance"},
		{"tolerance off for tencent", ProviderTencent, Options{Keys: map[string][]string{"1": {"t"}}, ToleranceOff: true}, ErrToleranceOff, "tencent"},
		{"tolerance off for livekit", ProviderLiveKit, Options{Keys: map[string][]string{"k": {"s"}}, ToleranceOff: true}, ErrToleranceOff, "livekit"},
		{"tolerance off for standard", ProviderStandardWebhooks, Options{Keys: map[string][]string{"1": {stdSecret}}, ToleranceOff: true}, ErrToleranceOff, "standard"},
		{"tolerance and off", ProviderTencentTRTC, Options{Keys: map[string][]string{"k": {"s"}}, Tolerance: time.Minute, ToleranceOff: true}, nil, "both"},
		{"tolerance and off for liveswitch", ProviderLiveSwitch, Options{Keys: map[string][]string{"k": {"s"}}, Tolerance: time.Minute, ToleranceOff: true}, nil, "both"},
		{"public_url for github", ProviderGitHub, Options{Keys: map[string][]string{"k": {"s"}}, PublicURL: "https://h/x"}, ErrOptionNotApplicable, "PublicURL applies to twilio only"},
		{"allow_sha1 for stripe", ProviderStripe, Options{Keys: map[string][]string{"k": {"s"}}, AllowSHA1: true}, ErrOptionNotApplicable, "AllowSHA1 applies to agora, github, hmac only"},
		{"hmac settings for slack", ProviderSlack, Options{Keys: map[string][]string{"k": {"s"}}, HMAC: &SampleHMACConfig}, ErrOptionNotApplicable, "HMAC applies to hmac only"},
		{"hmac without settings", ProviderHMAC, Options{Keys: map[string][]string{"k": {"s"}}}, nil, "hmac settings are required"},
		{"hmac sha1 without allow_sha1", ProviderHMAC, Options{Keys: map[string][]string{"k": {"s"}}, HMAC: &HMACConfig{Header: "X", Algorithm: "sha1"}}, nil, "allow_sha1"},
		{"bad public_url", ProviderTwilio, Options{Keys: map[string][]string{"k": {"s"}}, PublicURL: "https://h/x?q=1"}, nil, "PublicURL"},
		{"tolerance for github", ProviderGitHub, Options{Keys: map[string][]string{"k": {"s"}}, Tolerance: time.Minute}, nil, "signs no time"},
		{"tolerance for agora", ProviderAgora, Options{Keys: map[string][]string{"k": {"s"}}, Tolerance: time.Minute}, nil, "signs no time"},
		{"tolerance for twilio", ProviderTwilio, Options{Keys: map[string][]string{"k": {"s"}}, Tolerance: time.Minute}, nil, "signs no time"},
		{"tolerance off for zoom", ProviderZoom, Options{Keys: map[string][]string{"k": {"s"}}, ToleranceOff: true}, ErrToleranceOff, "zoom"},
		{"tolerance off for stripe", ProviderStripe, Options{Keys: map[string][]string{"k": {"s"}}, ToleranceOff: true}, ErrToleranceOff, "stripe"},
		{"negative tolerance for slack", ProviderSlack, Options{Keys: map[string][]string{"k": {"s"}}, Tolerance: -time.Second}, nil, "negative tolerance"},
		{"bad daily secret", ProviderDaily, Options{Keys: map[string][]string{"room": {"s3cr3t!"}}}, nil, `"room": secret 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := New(tt.provider, tt.opts)
			if err == nil || v != nil {
				t.Fatalf("New = %v, %v; want an error", v, err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("error = %v, want %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("error %q does not mention %q", err, tt.mention)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("error repeats a secret: %v", err)
			}
		})
	}
}

func TestNewLiveKitMaxTokenLifetime(t *testing.T) {
	body := []byte(liveKitRoomStarted)
	at := liveKitT0.Unix()
	tok := rawToken(`{"alg":"HS256"}`, fmt.Sprintf(`{"iss":"devkey","exp":%d,"sha256":%q}`, at+3600, bodySHA(liveKitRoomStarted)), liveKitSecret)
	tests := []struct {
		name     string
		lifetime time.Duration
		want     error
	}{
		{"default: ten minutes", 0, ErrStale},
		{"two hours", 2 * time.Hour, nil},
		{"thirty minutes", 30 * time.Minute, ErrStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := New(ProviderLiveKit, Options{Keys: map[string][]string{"devkey": {string(liveKitSecret)}}, MaxTokenLifetime: tt.lifetime, Now: fixedClock(liveKitT0)})
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(&Request{Header: header("Authorization", tok), Body: body})
			checkErr(t, err, tt.want)
		})
	}
}
