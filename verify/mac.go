package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"maps"
	"slices"
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

// hmacSum returns the HMAC of the concatenated parts with hash h.
func hmacSum(h func() hash.Hash, key []byte, parts ...[]byte) []byte {
	m := hmac.New(h, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// hexMAC returns the lowercase hex HMAC-SHA256 of the concatenated parts.
func hexMAC(key []byte, parts ...[]byte) string {
	return hex.EncodeToString(hmacSum(sha256.New, key, parts...))
}

// decodeHex decodes a lowercase hex signature of want bytes. Upper case
// is refused, so that one signature has one spelling, as with decodeMAC.
func decodeHex(s string, want int) ([]byte, bool) {
	if len(s) != 2*want {
		return nil, false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return nil, false
		}
	}
	b, err := hex.DecodeString(s)
	return b, err == nil
}

// matchLabel returns the label, in sorted order, and the secret of the
// first secret of keys for which mac(secret) equals one of sigs. Each
// comparison is in constant time.
func matchLabel(keys Keyring, sigs [][]byte, mac func(key []byte) []byte) (label string, secret []byte, ok bool) {
	if len(keys) == 1 { // the usual keyring: nothing to sort
		for label := range keys {
			return matchSecrets(label, keys[label], sigs, mac)
		}
	}
	for _, label := range slices.Sorted(maps.Keys(keys)) {
		if label, secret, ok := matchSecrets(label, keys[label], sigs, mac); ok {
			return label, secret, true
		}
	}
	return "", nil, false
}

// matchSecrets is matchLabel for the secrets of one label.
func matchSecrets(label string, secrets [][]byte, sigs [][]byte, mac func(key []byte) []byte) (string, []byte, bool) {
	for _, secret := range secrets {
		m := mac(secret)
		for _, sig := range sigs {
			if hmac.Equal(m, sig) {
				return label, secret, true
			}
		}
	}
	return "", nil, false
}

// noTolerance refuses a tolerance for a provider that signs no time: only
// dedupe stops a replay there.
func noTolerance(name string, o Options) error {
	if o.Tolerance != 0 {
		return fmt.Errorf("%s signs no time, so tolerance does not apply (only dedupe stops a replay)", name)
	}
	return nil
}
