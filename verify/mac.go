package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
)

// hmacMatch reports whether mac is HMAC-SHA256(key, body) for one of keys,
// comparing in constant time.
func hmacMatch(keys [][]byte, mac, body []byte) bool {
	match := false
	for _, k := range keys {
		h := hmac.New(sha256.New, k)
		h.Write(body)
		if hmac.Equal(h.Sum(nil), mac) {
			match = true
		}
	}
	return match
}

// signHMAC returns the standard base64 of HMAC-SHA256(key, body).
func signHMAC(key, body []byte) string {
	h := hmac.New(sha256.New, key)
	h.Write(body)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}
