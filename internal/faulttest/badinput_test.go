package faulttest

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookguard/hookguard/verify"
)

// readHeaderTimeout is listen.NewServer's ReadHeaderTimeout: a slowloris
// connection is closed, without an answer, that long after it opened.
const readHeaderTimeout = 10 * time.Second

// badCase is one kind of bad request, sent many times.
type badCase struct {
	name  string
	n     int
	want  int // expected status
	send  func(base string, i int) (int, error)
	sent  atomic.Int64
	right atomic.Int64
	mu    sync.Mutex
	wrong []string
}

// jwtToken builds a token by hand: any alg, any signer.
func jwtToken(alg string, claims string, sign func(signingInput []byte) []byte) string {
	enc := base64.RawURLEncoding
	in := enc.EncodeToString([]byte(`{"alg":"`+alg+`","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(claims))
	return in + "." + enc.EncodeToString(sign([]byte(in)))
}

func liveKitClaims(key string, body []byte, at time.Time) string {
	sum := sha256.Sum256(body)
	return fmt.Sprintf(`{"iss":%q,"nbf":%d,"iat":%d,"exp":%d,"sha256":%q}`, key, at.Unix(), at.Unix(),
		at.Add(5*time.Minute).Unix(), base64.StdEncoding.EncodeToString(sum[:]))
}

// post sends body to url with headers and returns the status.
func post(client *http.Client, u string, body io.Reader, header ...string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, u, body)
	if err != nil {
		return 0, err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// rawStatus writes req on a new connection (then half-closes it when
// closeWrite) and returns the status of the answer.
func rawStatus(addr string, req []byte, closeWrite bool) (int, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write(req); err != nil {
		return 0, err
	}
	if closeWrite {
		c.(*net.TCPConn).CloseWrite()
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestBadInput floods hookguard with bad requests of every kind the issue
// lists and checks that each is answered with the right 4xx (slowloris
// connections are closed after the read-header timeout), that none reaches
// the app, that hookguard's memory stays bounded, and that genuine events
// still go through afterwards.
func TestBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := newApp(t, func(string, int) (string, int, time.Duration) { return answerAck, http.StatusOK, 0 })
	addr, admin := freeAddr(t), freeAddr(t)
	hg := startHookguard(t, dir, hgConfig(t, dir, addr, admin, a.addr), addr, admin, 0)
	base := "http://" + addr
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	rssStart := hg.rssKB()

	// Sample hookguard's RSS while the flood runs.
	var peakKB atomic.Int64
	stopRSS := make(chan struct{})
	rssDone := make(chan struct{})
	go func() {
		defer close(rssDone)
		for {
			if kb := hg.rssKB(); kb > peakKB.Load() {
				peakKB.Store(kb)
			}
			select {
			case <-stopRSS:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	now := time.Now()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	body := func(i int) []byte { return liveKitBody("EV_bad_"+strconv.Itoa(i), now) }
	sign := func(key, secret string, b []byte) string {
		tok, err := verify.SignLiveKit(key, []byte(secret), b, now)
		if err != nil {
			panic(err)
		}
		return tok
	}
	lk := base + "/livekit"
	const ctype = "application/webhook+json"
	big := bytes.Repeat([]byte("x"), 1<<20+1)
	bigTok := sign(lkKey, lkSecret, big)
	manyHeaders := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "X-Filler-%d: v\r\n", i)
		}
		return b.String()
	}
	under, over := manyHeaders(3000), manyHeaders(10000) // ~50 KiB and ~170 KiB: the limit is 64 KiB
	tencent := func(q url.Values) string { return base + "/tencent?" + q.Encode() }
	tcQuery := func() url.Values {
		rt := strconv.FormatInt(now.Unix(), 10)
		return url.Values{"SdkAppid": {tcApp}, "CallbackCommand": {"Live.CallbackAfterCreateRoom"}, "contenttype": {"json"},
			"RequestTime": {rt}, "Sign": {verify.SignTencent(tcToken, now.Unix())}}
	}
	tcBody := []byte(`{"CallbackCommand":"Live.CallbackAfterCreateRoom","EventTime":` + strconv.FormatInt(now.UnixMilli(), 10) + `,"RoomId":"r1"}`)

	cases := []*badCase{
		{name: "oversized body (Content-Length)", n: 20, want: 413, send: func(_ string, i int) (int, error) {
			return post(client, lk, bytes.NewReader(big), "Content-Type", ctype, "Authorization", bigTok)
		}},
		{name: "oversized body (chunked)", n: 20, want: 413, send: func(_ string, i int) (int, error) {
			return post(client, lk, io.MultiReader(bytes.NewReader(big)), "Content-Type", ctype, "Authorization", bigTok)
		}},
		{name: "truncated body (Content-Length > sent, then close)", n: 150, want: 400, send: func(_ string, i int) (int, error) {
			b := body(i)
			req := fmt.Sprintf("POST /livekit HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n%s",
				ctype, sign(lkKey, lkSecret, b), len(b)+500, b)
			return rawStatus(addr, []byte(req), true)
		}},
		{name: "3000 headers (under the 64 KiB limit), forged", n: 100, want: 401, send: func(_ string, i int) (int, error) {
			b := body(i)
			req := fmt.Sprintf("POST /livekit HTTP/1.1\r\nHost: x\r\n%sContent-Type: %s\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n%s",
				under, ctype, sign(lkKey, "forged-forged-forged-forged-forged", b), len(b), b)
			return rawStatus(addr, []byte(req), false)
		}},
		{name: "10000 headers (over the limit)", n: 100, want: 431, send: func(_ string, i int) (int, error) {
			b := body(i)
			req := fmt.Sprintf("POST /livekit HTTP/1.1\r\nHost: x\r\n%sContent-Type: %s\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n%s",
				over, ctype, sign(lkKey, lkSecret, b), len(b), b)
			return rawStatus(addr, []byte(req), false)
		}},
		{name: "invalid UTF-8 body, forged signature", n: 150, want: 401, send: func(_ string, i int) (int, error) {
			b := append(body(i), "\xff\xfe\xc3"...)
			return post(client, lk, bytes.NewReader(b), "Content-Type", ctype, "Authorization", sign(lkKey, "forged-forged-forged-forged-forged", b))
		}},
		{name: "invalid UTF-8 in Authorization", n: 150, want: 401, send: func(_ string, i int) (int, error) {
			b := body(i)
			req := fmt.Sprintf("POST /livekit HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nAuthorization: \xff\xfe%s\xc3\r\nContent-Length: %d\r\n\r\n%s",
				ctype, sign(lkKey, lkSecret, b)[5:], len(b), b)
			return rawStatus(addr, []byte(req), false)
		}},
		{name: "duplicate query keys: two Sign", n: 100, want: 400 /* malformed_query: a name given twice */, send: func(_ string, i int) (int, error) {
			q := tcQuery()
			q.Add("Sign", strings.Repeat("0", 64))
			return post(client, tencent(q), bytes.NewReader(tcBody), "Content-Type", "application/json")
		}},
		{name: "duplicate query keys: SdkAppid and SdkAppId", n: 100, want: 400 /* malformed_query: a name given twice */, send: func(_ string, i int) (int, error) {
			q := tcQuery()
			q.Set("SdkAppId", "1400000001")
			return post(client, tencent(q), bytes.NewReader(tcBody), "Content-Type", "application/json")
		}},
		{name: "duplicate query keys: two RequestTime", n: 100, want: 400 /* malformed_query: a name given twice */, send: func(_ string, i int) (int, error) {
			q := tcQuery()
			q.Add("RequestTime", strconv.FormatInt(now.Unix()+1, 10))
			return post(client, tencent(q), bytes.NewReader(tcBody), "Content-Type", "application/json")
		}},
		{name: "JWT alg none", n: 150, want: 401, send: func(_ string, i int) (int, error) {
			b := body(i)
			tok := jwtToken("none", liveKitClaims(lkKey, b, now), func([]byte) []byte { return nil })
			return post(client, lk, bytes.NewReader(b), "Content-Type", ctype, "Authorization", tok)
		}},
		{name: "JWT alg RS256", n: 100, want: 401, send: func(_ string, i int) (int, error) {
			b := body(i)
			tok := jwtToken("RS256", liveKitClaims(lkKey, b, now), func(in []byte) []byte {
				sum := sha256.Sum256(in)
				sig, _ := rsa.SignPKCS1v15(nil, rsaKey, crypto.SHA256, sum[:])
				return sig
			})
			return post(client, lk, bytes.NewReader(b), "Content-Type", ctype, "Authorization", tok)
		}},
		{name: "JWT alg HS512 with the right secret", n: 150, want: 401, send: func(_ string, i int) (int, error) {
			b := body(i)
			tok := jwtToken("HS512", liveKitClaims(lkKey, b, now), func(in []byte) []byte {
				m := hmac.New(sha512.New, []byte(lkSecret))
				m.Write(in)
				return m.Sum(nil)
			})
			return post(client, lk, bytes.NewReader(b), "Content-Type", ctype, "Authorization", tok)
		}},
		{name: "forged secret", n: 150, want: 401, send: func(_ string, i int) (int, error) {
			b := body(i)
			return post(client, lk, bytes.NewReader(b), "Content-Type", ctype, "Authorization", sign(lkKey, "forged-forged-forged-forged-forged", b))
		}},
		{name: "unknown key", n: 150, want: 401, send: func(_ string, i int) (int, error) {
			b := body(i)
			return post(client, lk, bytes.NewReader(b), "Content-Type", ctype, "Authorization", sign("APIforged", lkSecret, b))
		}},
		{name: "body changed after signing", n: 150, want: 401, send: func(_ string, i int) (int, error) {
			b := body(i)
			tok := sign(lkKey, lkSecret, b)
			return post(client, lk, bytes.NewReader(bytes.Replace(b, []byte("user-1"), []byte("user-2"), 1)), "Content-Type", ctype, "Authorization", tok)
		}},
		{name: "token expired", n: 100, want: 401, send: func(_ string, i int) (int, error) {
			b := body(i)
			tok, _ := verify.SignLiveKit(lkKey, []byte(lkSecret), b, now.Add(-10*time.Minute))
			return post(client, lk, bytes.NewReader(b), "Content-Type", ctype, "Authorization", tok)
		}},
		{name: "no signature", n: 100, want: 401, send: func(_ string, i int) (int, error) {
			return post(client, lk, bytes.NewReader(body(i)), "Content-Type", ctype)
		}},
		{name: "GET", n: 50, want: 405, send: func(_ string, i int) (int, error) {
			resp, err := client.Get(lk)
			if err != nil {
				return 0, err
			}
			resp.Body.Close()
			return resp.StatusCode, nil
		}},
		{name: "unknown path", n: 50, want: 404, send: func(_ string, i int) (int, error) {
			return post(client, base+"/livekit/../admin", bytes.NewReader(body(i)), "Content-Type", ctype)
		}},
	}

	// Slowloris: connections that send a header byte every 500 ms and never
	// finish, opened while the flood runs.
	const slowConns = 20
	type slowResult struct {
		closedAfter time.Duration
		got         string
		err         error
	}
	slow := make(chan slowResult, slowConns)
	for range slowConns {
		go func() {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				slow <- slowResult{err: err}
				return
			}
			defer c.Close()
			start := time.Now()
			readDone := make(chan slowResult, 1)
			go func() {
				c.SetReadDeadline(time.Now().Add(readHeaderTimeout + 15*time.Second))
				b, err := io.ReadAll(c)
				readDone <- slowResult{closedAfter: time.Since(start), got: string(b), err: err}
			}()
			line := "POST /livekit HTTP/1.1\r\nHost: x\r\nX-Slow: "
			for i := 0; ; i++ {
				if i < len(line) {
					c.Write([]byte{line[i]})
				} else {
					c.Write([]byte("a"))
				}
				select {
				case r := <-readDone:
					slow <- r
					return
				case <-time.After(500 * time.Millisecond):
				}
			}
		}()
	}

	var wg sync.WaitGroup
	jobs := make(chan func())
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				j()
			}
		}()
	}
	for i := 0; ; i++ {
		more := false
		for _, c := range cases {
			if i >= c.n {
				continue
			}
			more = true
			jobs <- func() {
				status, err := c.send(base, i)
				c.sent.Add(1)
				if err == nil && status == c.want {
					c.right.Add(1)
					return
				}
				c.mu.Lock()
				if len(c.wrong) < 3 {
					c.wrong = append(c.wrong, fmt.Sprintf("got %d (err %v)", status, err))
				}
				c.mu.Unlock()
			}
		}
		if !more {
			break
		}
	}
	close(jobs)
	wg.Wait()
	floodKB := peakKB.Load()

	sum := summary{scenario: "bad input"}
	for _, c := range cases {
		sum.rejected += int(c.right.Load())
		if c.right.Load() != int64(c.n) {
			t.Errorf("%s: %d of %d answered %d; others: %s", c.name, c.right.Load(), c.n, c.want, strings.Join(c.wrong, "; "))
		}
	}
	var slowMax time.Duration
	for range slowConns {
		r := <-slow
		switch {
		case r.err != nil && !isClosedErr(r.err):
			t.Errorf("slowloris: %v after %v", r.err, r.closedAfter)
		case r.got != "" && !strings.HasPrefix(r.got, "HTTP/1.1 400 "):
			// net/http closes the connection, with or without a 400 first.
			t.Errorf("slowloris: answered %q, want the connection closed (after a 400 at most)", r.got)
		case r.closedAfter < readHeaderTimeout-time.Second || r.closedAfter > readHeaderTimeout+10*time.Second:
			t.Errorf("slowloris: closed after %v, want about %v", r.closedAfter, readHeaderTimeout)
		default:
			sum.rejected++
			slowMax = max(slowMax, r.closedAfter)
		}
	}
	t.Logf("slowloris: %d connections closed by hookguard, the last after %v", slowConns, slowMax.Round(time.Millisecond))
	close(stopRSS)
	<-rssDone

	// Nothing bad reached the app; genuine events still go through.
	if got, _ := a.snapshot(); len(got) != 0 {
		t.Errorf("the app received %d requests during the flood, want 0 (first: %+v)", len(got), got[0])
	}
	s := newSender(lk, 4, [4]time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond})
	events := s.sendAll("EV_after_flood_", 50, 4)
	deliveries, _ := a.snapshot()
	after := account(t, "bad input", events, deliveries, nil, nil, []epoch{{start: now}})
	sum.events, sum.delivered, sum.retried, sum.lost, sum.dupAfterAck = after.events, after.delivered, after.retried, after.lost, after.dupAfterAck
	if after.delivered != 50 {
		t.Errorf("after the flood: %d of 50 genuine events delivered", after.delivered)
	}

	// Memory stays bounded: the bound is generous (the race detector's
	// shadow memory multiplies a Go heap several times), but a leak of the
	// flood's bodies or headers (tens of MiB) would break it.
	limitKB := int64(120 << 10)
	if raceEnabled {
		limitKB = 400 << 10
	}
	endKB := hg.rssKB()
	t.Logf("hookguard RSS: %d KiB at start, peak %d KiB during the flood, %d KiB after (limit %d KiB)", rssStart, floodKB, endKB, limitKB)
	if floodKB > limitKB {
		t.Errorf("hookguard RSS peaked at %d KiB during the flood, want under %d KiB", floodKB, limitKB)
	}
	hg.checkLog(t)
	record(sum)
}

// isClosedErr: the server closed or reset the connection (what slowloris
// should see).
func isClosedErr(err error) bool {
	return err == nil || strings.Contains(err.Error(), "connection reset") || err == io.EOF
}

// TestInvalidUTF8SignedBody: a body signed with the right secret whose
// event id is not valid UTF-8. LiveKit never sends one (protojson refuses
// to write it, and LiveKit's own receiver, webhook.ReceiveWebhookEvent,
// refuses to read it). hookguard must refuse it with 400 too: its JSON
// decoder turns every invalid byte into U+FFFD, so two different ids
// ("EV_\xff" and "EV_\xfe") become the same dedupe key and the second
// event would be dropped as a duplicate of the first.
func TestInvalidUTF8SignedBody(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := newApp(t, func(string, int) (string, int, time.Duration) { return answerAck, http.StatusOK, 0 })
	a.anyBody = true
	addr, admin := freeAddr(t), freeAddr(t)
	hg := startHookguard(t, dir, hgConfig(t, dir, addr, admin, a.addr), addr, admin, 0)
	defer hg.checkLog(t)
	now := time.Now()
	for _, id := range []string{"EV_\xff", "EV_\xfe"} {
		b := liveKitBody(id, now)
		tok, err := verify.SignLiveKit(lkKey, []byte(lkSecret), b, now)
		if err != nil {
			t.Fatal(err)
		}
		status, err := post(http.DefaultClient, "http://"+addr+"/livekit", bytes.NewReader(b), "Content-Type", "application/webhook+json", "Authorization", tok)
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusBadRequest {
			t.Errorf("signed body with id %q: status %d, want 400", id, status)
		}
	}
	if got, _ := a.snapshot(); len(got) != 0 {
		t.Errorf("the app received %d of the 2 events (first id as forwarded: %q), want 0", len(got), got[0].id)
	}
}
