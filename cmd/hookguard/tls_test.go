package main

import (
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookguard/hookguard/internal/syncbuf"
	"github.com/hookguard/hookguard/internal/testpebble"
	"github.com/hookguard/hookguard/verify"
)

// TestHTTPSWithACMEFromPebble runs hookguard with `tls:` against a real ACME
// server: it obtains a certificate for localhost, serves a verified webhook
// over HTTPS (HTTP/2) to a client that trusts only pebble's root, refuses
// the webhook over plain HTTP, and on a second start with the same storage
// orders nothing new.
func TestHTTPSWithACMEFromPebble(t *testing.T) {
	p := testpebble.Start(t)
	httpAddr, tlsAddr := p.HTTPListener.Addr().String(), p.TLSListener.Addr().String()
	p.HTTPListener.Close()
	p.TLSListener.Close()

	var received atomic.Int32
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received.Add(1)
		io.WriteString(w, `{"ok":true}`)
	}))
	defer app.Close()
	storage := t.TempDir()
	cfg := `tls:
  http_listen: "` + httpAddr + `"
  domains: [localhost]
  email: ops@example.com
  ca: "` + p.DirectoryURL() + `"
  ca_root: "` + p.CARootPath() + `"
  storage: "` + storage + `"
routes:
  - path: /lk
    provider: livekit
    upstream: ` + app.URL + `
    secrets: {key1: the-livekit-secret}
`
	_, admin, logs, stop := startServeAt(t, cfg, tlsAddr)
	waitReady(t, admin, logs)

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: p.IssuanceRoots(t)},
		ForceAttemptHTTP2: true,
	}}
	port := tlsAddr[strings.LastIndex(tlsAddr, ":")+1:]
	url := "https://localhost:" + port + "/lk"
	now := time.Now()
	body := []byte(`{"event":"room_started","id":"EV_tls","createdAt":"` + strconv.FormatInt(now.Unix(), 10) + `"}`)
	tok, err := verify.SignLiveKit("key1", []byte("the-livekit-secret"), body, now)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Authorization", tok)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("HTTPS POST: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || received.Load() != 1 {
		t.Fatalf("status %d, app received %d", resp.StatusCode, received.Load())
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("protocol %s, want HTTP/2", resp.Proto)
	}
	if len(resp.TLS.VerifiedChains) == 0 {
		t.Errorf("no verified chain")
	} else if leaf := resp.TLS.VerifiedChains[0][0]; leaf.VerifyHostname("localhost") != nil {
		t.Errorf("leaf does not cover localhost: %v", leaf.DNSNames)
	}

	// The plain HTTP listener does not redirect a webhook.
	plain, err := http.Post("http://"+httpAddr+"/lk", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	plain.Body.Close()
	if plain.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("webhook over plain HTTP: %d, want 421", plain.StatusCode)
	}
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	orders := p.Orders()
	_, admin, logs, stop = startServeAt(t, cfg, tlsAddr)
	waitReady(t, admin, logs)
	if got := p.Orders(); got != orders {
		t.Errorf("second start placed %d new orders, want 0", got-orders)
	}
	stop()
}

// startServeAt is startServe with a fixed webhook address.
func startServeAt(t *testing.T, config, listen string) (string, string, *syncbuf.Buffer, func() error) {
	t.Helper()
	return startServeWith(t, config, mapEnv(nil), listen)
}

func waitReady(t *testing.T, admin string, logs *syncbuf.Buffer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 60 s; log:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
