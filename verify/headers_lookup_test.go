package verify

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
)

// headerValues finds what h.Values finds, for names in any letter case,
// with digits and token punctuation, and for names textproto leaves alone.
func TestHeaderValuesIsValues(t *testing.T) {
	h := http.Header{}
	for _, name := range []string{"Webhook-Id", "X-Github-Event", "Sdkappid", "X-Applicationsignature", "X-1-2",
		"A", "Content-Type", "webhook_id", "Bad Name", "X-Ünicode"} {
		h[name] = []string{"v:" + name}
	}
	names := []string{"webhook-id", "WEBHOOK-ID", "Webhook-Id", "wEbHoOk-iD", "X-GitHub-Event", "x-github-event",
		"SdkAppId", "sdkappid", "X-ApplicationSignature", "x-1-2", "a", "content-type", "webhook_id", "Webhook_Id",
		"Bad Name", "bad name", "X-Ünicode", "x-ünicode", "", "-", "missing-header"}
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abcXYZ-_09!~ "
	for range 2000 {
		b := make([]byte, 1+rng.IntN(12))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		names = append(names, string(b))
		h.Add(string(b), "random")
	}
	for _, name := range names {
		if got, want := headerValues(h, name), h.Values(name); !slices.Equal(got, want) {
			t.Errorf("headerValues(%q) = %q, h.Values gives %q", name, got, want)
		}
	}
	if testing.AllocsPerRun(100, func() { headerValues(h, "webhook-id") }) != 0 {
		t.Error("headerValues allocates for a name in lower case")
	}
}

// matchLabel takes the labels in sorted order, with one label or many.
func TestMatchLabelOrder(t *testing.T) {
	mac := func(secret []byte) []byte { return []byte("mac:" + string(secret)) }
	sig := [][]byte{[]byte("mac:shared")}
	one := Keyring{"only": {[]byte("other"), []byte("shared")}}
	if l, s, ok := matchLabel(one, sig, mac); !ok || l != "only" || string(s) != "shared" {
		t.Fatalf("one label: %q %q %v", l, s, ok)
	}
	many := Keyring{"zeta": {[]byte("shared")}, "alpha": {[]byte("shared")}, "mid": {[]byte("x")}}
	for range 20 { // map order varies; the answer may not
		if l, _, ok := matchLabel(many, sig, mac); !ok || l != "alpha" {
			t.Fatalf("many labels: %q %v, want alpha", l, ok)
		}
	}
	if _, _, ok := matchLabel(one, [][]byte{[]byte("mac:none")}, mac); ok {
		t.Fatal("a signature no secret made matched")
	}
}
