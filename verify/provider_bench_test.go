package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"slices"
	"testing"
	"time"
)

// BenchmarkEveryVerifier times each provider's Verify on its own sender's
// sample event, and in the same iterations a plain HMAC-SHA256 of the
// same body (a new hmac.New each time, as a verifier does): the hashing
// any verifier has to do. over-hash-µs is the difference of their
// medians, what the verifier adds to hashing (the target: at most 2 µs).
//
//	go test -run='^$' -bench='^BenchmarkEveryVerifier$' -benchtime=20000x ./verify/
func BenchmarkEveryVerifier(b *testing.B) {
	at := time.Now()
	for _, p := range providers {
		b.Run(p.Name, func(b *testing.B) {
			opts, secret := sampleOptions(p)
			opts.Now = func() time.Time { return at }
			v, err := New(p.Name, opts)
			if err != nil {
				b.Fatal(err)
			}
			out, err := p.Send(Message{KeyID: "1400000000", Secret: secret, ID: "ev-bench-1", At: at, URL: sampleURL})
			if err != nil {
				b.Fatal(err)
			}
			req := requestOf(out)
			if _, err := v.Verify(req); err != nil {
				b.Fatal(err)
			}
			key := []byte(secret)
			const samples = 4096
			var verifyT, hashT [samples]time.Duration
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				t0 := time.Now()
				if _, err := v.Verify(req); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				m := hmac.New(sha256.New, key)
				m.Write(req.Body)
				m.Sum(nil)
				t2 := time.Now()
				verifyT[n%samples], hashT[n%samples] = t1.Sub(t0), t2.Sub(t1)
				n++
			}
			median := func(d []time.Duration) time.Duration {
				d = slices.Clone(d[:min(n, samples)])
				slices.Sort(d)
				return d[len(d)/2]
			}
			vm, hm := median(verifyT[:]), median(hashT[:])
			b.ReportMetric(float64(len(req.Body)), "body-bytes")
			b.ReportMetric(float64(vm)/1e3, "verify-µs")
			b.ReportMetric(float64(vm-hm)/1e3, "over-hash-µs")
		})
	}
}
