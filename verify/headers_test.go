package verify

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func TestSingleHeader(t *testing.T) {
	tests := []struct {
		name string
		vals []string
		want string
		err  error
	}{
		{"absent", nil, "", nil},
		{"one", []string{"a"}, "a", nil},
		{"spaces trimmed", []string{"  a \t"}, "a", nil},
		{"repeated, same value", []string{"a", " a"}, "a", nil},
		{"repeated, different values", []string{"a", "b"}, "", ErrMalformedSignature},
		{"empty then a value", []string{"", "b"}, "", ErrMalformedSignature},
		{"a value then empty", []string{"a", ""}, "", ErrMalformedSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.vals {
				h.Add("Sign", v)
			}
			got, err := singleHeader(h, "Sign")
			checkErr(t, err, tt.err)
			if got != tt.want {
				t.Fatalf("singleHeader = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDecodeMAC(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"vector", trtcSign, true},
		{"non-zero trailing bits", trtcSign[:42] + "B=", false},
		{"unpadded", strings.TrimSuffix(trtcSign, "="), false},
		{"URL alphabet", base64.URLEncoding.EncodeToString(must32(trtcSign)), false}, // trtcSign holds a '/'
		{"line break inside", trtcSign[:10] + "\r\n" + trtcSign[10:], false},
		{"too short", base64.StdEncoding.EncodeToString(make([]byte, 31)), false},
		{"too long", base64.StdEncoding.EncodeToString(make([]byte, 33)), false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := decodeMAC(tt.in, 32); ok != tt.ok {
				t.Fatalf("decodeMAC(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			}
		})
	}
}

// TestCanonicalSignatures pins that a signature has one spelling: with
// encoding/base64's default decoder, a Sign whose last character differed
// in its unused bits decoded to the same MAC and was accepted.
func TestCanonicalSignatures(t *testing.T) {
	alt := trtcSign[:42] + "B=" // same bytes as trtcSign, non-zero trailing bits
	lsBody := lsChannelActivated
	lsSig := lsSign(lsBody)
	lsAlt := lsSig[:42] + string(lsSig[42]^1) + "="
	if _, err := base64.StdEncoding.DecodeString(lsAlt); err != nil || lsSig[43] != '=' {
		t.Fatal("test setup: the LiveSwitch signature must end with one '='")
	}
	stdAlt := "v1," + strings.TrimPrefix(stdSig, "v1,")[:42] + string(stdSig[3+42]^1) + "="
	many := strings.Repeat("v1a,eA== ", MaxStandardSignatures-1)
	tests := []struct {
		name string
		v    Verifier
		req  *Request
		want error
	}{
		{"tencent-trtc", newTestTRTC(t, nil, 0, trtcT0), &Request{Header: header("Sign", alt, "SdkAppId", trtcAppID), Body: []byte(trtcBody)}, ErrMalformedSignature},
		{"liveswitch", newTestLiveSwitch(t, nil, 0, lsT0), &Request{Header: header(HeaderLiveSwitchSignature, lsAlt), Body: []byte(lsBody)}, ErrMalformedSignature},
		{"standard-webhooks", newTestStandard(t, nil, stdT0), &Request{Header: header("webhook-id", stdID, "webhook-timestamp", stdTS, "webhook-signature", stdAlt), Body: []byte(stdBody)}, ErrMalformedSignature},
		{"standard-webhooks: as many entries as allowed", newTestStandard(t, nil, stdT0), &Request{Header: header("webhook-id", stdID, "webhook-timestamp", stdTS, "webhook-signature", many+stdSig), Body: []byte(stdBody)}, nil},
		{"standard-webhooks: one entry too many", newTestStandard(t, nil, stdT0), &Request{Header: header("webhook-id", stdID, "webhook-timestamp", stdTS, "webhook-signature", many+"v1,x "+stdSig), Body: []byte(stdBody)}, ErrMalformedSignature},
		{"standard-webhooks: too many over several lines", newTestStandard(t, nil, stdT0), &Request{Header: header("webhook-id", stdID, "webhook-timestamp", stdTS, "webhook-signature", many, "webhook-signature", "v1,x", "webhook-signature", stdSig), Body: []byte(stdBody)}, ErrMalformedSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := tt.v.Verify(tt.req)
			checkErr(t, err, tt.want)
			if err != nil && evs != nil {
				t.Fatalf("events returned with error: %v", evs)
			}
		})
	}
}

// FuzzHeaderValues checks the header helpers on any input: decodeMAC
// accepts only the canonical spelling of what it returns, and parseDigits
// only plain digits that fit.
func FuzzHeaderValues(f *testing.F) {
	f.Add(trtcSign)
	f.Add(trtcSign[:42] + "B=")
	f.Add("1669872112")
	f.Add("+1")
	f.Add("999999999999999999")
	f.Fuzz(func(t *testing.T, s string) {
		if b, ok := decodeMAC(s, 32); ok {
			if len(b) != 32 || base64.StdEncoding.EncodeToString(b) != s {
				t.Fatalf("decodeMAC(%q) accepted a non-canonical spelling", s)
			}
		}
		if n, ok := parseDigits(s); ok {
			if strings.TrimLeft(s, "0123456789") != "" || len(s) > 18 {
				t.Fatalf("parseDigits(%q) accepted", s)
			}
			if m, err := strconv.ParseInt(s, 10, 64); err != nil || m != n {
				t.Fatalf("parseDigits(%q) = %d", s, n)
			}
		}
		if _, err := singleHeader(http.Header{"Sign": {s, s + "x"}}, "Sign"); !errors.Is(err, ErrMalformedSignature) {
			t.Fatalf("conflicting headers %q accepted", s)
		}
	})
}
