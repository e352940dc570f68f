package faulttest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/verify"
)

// signedHead is the head of a LiveKit webhook for event id, signed, up
// to the framing fields, and its body.
func signedHead(t *testing.T, id, proto string) (head string, body []byte) {
	t.Helper()
	now := time.Now()
	body = liveKitBody(id, now)
	tok, err := verify.SignLiveKit(lkKey, []byte(lkSecret), body, now)
	if err != nil {
		t.Fatal(err)
	}
	return "POST /livekit " + proto + "\r\nHost: hookguard\r\nContent-Type: application/webhook+json\r\nAuthorization: " + tok + "\r\n", body
}

func validWebhook(t *testing.T, id string) string {
	head, body := signedHead(t, id, "HTTP/1.1")
	return head + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body)
}

func chunk(body []byte, sizeSuffix, last string) string {
	return strconv.FormatInt(int64(len(body)), 16) + sizeSuffix + "\r\n" + string(body) + "\r\n" + last
}

// framingCases are signed webhooks whose framing Go's server accepts
// and hookguard refuses; each would reach the app if it got through.
func framingCases(t *testing.T) []struct{ name, req string } {
	h := func(id string) (string, string, []byte) {
		head, body := signedHead(t, id, "HTTP/1.1")
		return head, strconv.Itoa(len(body)), body
	}
	var cases []struct{ name, req string }
	add := func(name string, build func(head, cl string, body []byte) string) {
		head, cl, body := h("EV_framing_" + strings.ReplaceAll(name, " ", "_"))
		cases = append(cases, struct{ name, req string }{name, build(head, cl, body)})
	}
	add("content-length with chunked", func(head, cl string, body []byte) string {
		return head + "Content-Length: " + cl + "\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(body, "", "0\r\n\r\n")
	})
	add("transfer-encoding Chunked", func(head, cl string, body []byte) string {
		return head + "Transfer-Encoding: Chunked\r\n\r\n" + chunk(body, "", "0\r\n\r\n")
	})
	add("transfer-encoding in HTTP/1.0", func(head, cl string, body []byte) string {
		return strings.Replace(head, "HTTP/1.1", "HTTP/1.0", 1) + "Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(body, "", "0\r\n\r\n")
	})
	add("obs-fold in transfer-encoding", func(head, cl string, body []byte) string {
		return head + "Transfer-Encoding:\r\n chunked\r\n\r\n" + chunk(body, "", "0\r\n\r\n")
	})
	add("bare LF", func(head, cl string, body []byte) string {
		return strings.Replace(head, "Host: hookguard\r\n", "Host: hookguard\n", 1) + "Content-Length: " + cl + "\r\n\r\n" + string(body)
	})
	add("duplicate content-length", func(head, cl string, body []byte) string {
		return head + "Content-Length: " + cl + "\r\nContent-Length: " + cl + "\r\n\r\n" + string(body)
	})
	add("whitespace after chunk size", func(head, cl string, body []byte) string {
		return head + "Transfer-Encoding: chunked\r\n\r\n" + chunk(body, " ", "0\r\n\r\n")
	})
	add("control byte in chunk extension", func(head, cl string, body []byte) string {
		return head + "Transfer-Encoding: chunked\r\n\r\n" + chunk(body, ";a\x01", "0\r\n\r\n")
	})
	add("bare LF ends the chunked body", func(head, cl string, body []byte) string {
		return head + "Transfer-Encoding: chunked\r\n\r\n" + chunk(body, "", "0\r\n\n")
	})
	add("chunk size of 2 GiB", func(head, cl string, body []byte) string {
		return head + "Transfer-Encoding: chunked\r\n\r\n80000000\r\n" + string(body)
	})
	return cases
}

// exchangeRaw writes in on c and reads answers until the server closes
// the connection or 10 s pass. It returns the statuses and whether the
// server closed the connection.
func exchangeRaw(c net.Conn, in string) ([]int, bool) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, in)
	br := bufio.NewReader(c)
	var statuses []int
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return statuses, err == io.EOF || errorsIsClosed(err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
		if err != nil || resp.Close {
			_, err := br.ReadByte()
			return statuses, err == io.EOF || errorsIsClosed(err)
		}
	}
}

func errorsIsClosed(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "EOF"))
}

func (a *app) got(id string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.perID[id]
}

// TestFramingRefused runs the binary and sends, on one connection each,
// a valid signed webhook, then one with ambiguous framing, then another
// valid one: the first is forwarded and answered, the second gets 400,
// the connection is closed, and the app gets neither of the others.
func TestFramingRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := newApp(t, func(string, int) (string, int, time.Duration) { return answerAck, http.StatusOK, 0 })
	addr, admin := freeAddr(t), freeAddr(t)
	hg := startHookguard(t, dir, hgConfig(t, dir, addr, admin, a.addr), addr, admin, 0)
	defer hg.checkLog(t)

	for i, tc := range framingCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			before, after := fmt.Sprintf("EV_before_%d", i), fmt.Sprintf("EV_after_%d", i)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			statuses, closed := exchangeRaw(c, validWebhook(t, before)+tc.req+validWebhook(t, after))
			if len(statuses) != 2 || statuses[0] != http.StatusOK || statuses[1] != http.StatusBadRequest || !closed {
				t.Errorf("statuses %v (closed %v), want [200 400] and closed", statuses, closed)
			}
			id := "EV_framing_" + strings.ReplaceAll(tc.name, " ", "_")
			if a.got(before) != 1 || a.got(id) != 0 || a.got(after) != 0 {
				t.Errorf("app got %s %d times, %s %d, %s %d; want 1, 0, 0", before, a.got(before), id, a.got(id), after, a.got(after))
			}
		})
	}
	if !hg.awaitLog("ambiguous HTTP/1 framing", 5*time.Second) || strings.Contains(hg.log(), lkSecret) {
		t.Errorf("log lacks the refusals or shows the secret:\n%s", hg.log())
	}
}

// TestFramingRefusedOverTLS: the same over HTTPS with HTTP/1.1; HTTP/2
// still negotiates and forwards.
func TestFramingRefusedOverTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := newApp(t, func(string, int) (string, int, time.Duration) { return answerAck, http.StatusOK, 0 })
	addr, admin, httpAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	pool := writeTestCert(t, dir)
	cfg := hgConfig(t, dir, addr, admin, a.addr)
	extra := "tls:\n  http_listen: \"" + httpAddr + "\"\n  cert_file: " + filepath.Join(dir, "cert.pem") + "\n  key_file: " + filepath.Join(dir, "key.pem") + "\n"
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(extra)
	f.Close()
	hg := startHookguard(t, dir, cfg, addr, admin, 0)
	defer hg.checkLog(t)
	tlsCfg := &tls.Config{RootCAs: pool, ServerName: "localhost"}

	t.Run("http/1.1", func(t *testing.T) {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		smuggle := framingCases(t)[0]
		statuses, closed := exchangeRaw(c, validWebhook(t, "EV_tls_before")+smuggle.req+validWebhook(t, "EV_tls_after"))
		if len(statuses) != 2 || statuses[0] != http.StatusOK || statuses[1] != http.StatusBadRequest || !closed {
			t.Errorf("statuses %v (closed %v), want [200 400] and closed", statuses, closed)
		}
		if a.got("EV_tls_before") != 1 || a.got("EV_framing_content-length_with_chunked") != 0 || a.got("EV_tls_after") != 0 {
			t.Errorf("app got the wrong events")
		}
	})
	t.Run("h2", func(t *testing.T) {
		tr := &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		head, body := signedHead(t, "EV_tls_h2", "HTTP/1.1")
		req, _ := http.NewRequest(http.MethodPost, "https://"+addr+"/livekit", bytes.NewReader(body))
		for _, line := range strings.Split(strings.TrimSpace(head), "\r\n")[2:] {
			k, v, _ := strings.Cut(line, ": ")
			req.Header.Set(k, v)
		}
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 || a.got("EV_tls_h2") != 1 {
			t.Errorf("%s over %s; app got it %d times", resp.Status, resp.Proto, a.got("EV_tls_h2"))
		}
	})
}

// writeTestCert writes a self-signed certificate for localhost and
// 127.0.0.1 to dir/cert.pem and dir/key.pem and returns a pool trusting it.
func writeTestCert(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]*pem.Block{"cert.pem": {Type: "CERTIFICATE", Bytes: der}, "key.pem": {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}
