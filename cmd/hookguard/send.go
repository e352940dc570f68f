package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hookguard/hookguard/verify"
	"github.com/spf13/pflag"
)

// send signs a test webhook like the provider would and posts it, so a
// setup can be tried without the real platform.
func send(ctx context.Context, args []string, e env, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("hookguard send", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		s        signed
		secret   string
		bodyArg  string
		count    int
		forge    bool
		age      time.Duration
		insecure bool
	)
	fs.StringVar(&s.Provider, "provider", "", strings.Join(verify.Providers(), ", "))
	fs.StringVar(&s.URL, "url", "http://127.0.0.1:8080/webhook", "where to post")
	fs.StringVar(&s.KeyID, "key-id", "", keyIDHelp())
	fs.StringVar(&secret, "secret", "", "env:NAME, file:/path or the secret itself (whsec_... for standard-webhooks, base64 for daily; hmac signs X-Signature: hex HMAC-SHA256 of the body)")
	fs.StringVar(&bodyArg, "body", "", "body to send: JSON text, or @file; default: a sample event")
	fs.StringVar(&s.Type, "type", "", "event type or command of the sample event")
	fs.StringVar(&s.ID, "id", "", "event id of the sample event (default: random)")
	fs.IntVar(&s.Batch, "batch", 0, "liveswitch: send N events in one batch")
	fs.IntVar(&count, "count", 1, "send the same signed request N times (a retry, or a replay)")
	fs.BoolVar(&forge, "forge", false, "sign with a random secret instead, as a forger would")
	fs.DurationVar(&age, "age", 0, "sign as if sent this long ago (to see stale requests refused)")
	fs.BoolVar(&insecure, "insecure", false, "do not verify the server's TLS certificate")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return errHelp
		}
		return err
	}
	if s.Provider == "" || s.KeyID == "" || secret == "" {
		return errors.New("send: --provider, --key-id and --secret are required")
	}
	v, err := flagSecret(secret, e.getenv)
	if err != nil {
		return fmt.Errorf("send: --secret: %w", err)
	}
	if s.Secret, err = resolveSecret(v, e); err != nil {
		return fmt.Errorf("send: --secret: %w", err)
	}
	if forge {
		s.Secret = forgedSecret(s.Secret)
	}
	if bodyArg != "" {
		if path, ok := strings.CutPrefix(bodyArg, "@"); ok {
			if s.Body, err = e.readFile(path); err != nil {
				return fmt.Errorf("send: --body: %w", err)
			}
		} else {
			s.Body = []byte(bodyArg)
		}
	}
	s.At = e.now().Add(-age)
	req, err := newSignedRequest(s)
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	body, _ := io.ReadAll(req.Body)
	client := newClient(insecure)
	var failed int
	for i := 0; i < max(count, 1); i++ {
		r := req.Clone(ctx)
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.GetBody = nil
		status, answer, err := post(client, r)
		if err != nil {
			return fmt.Errorf("send: %w", err)
		}
		fmt.Fprintf(stdout, "%d %s\n", status, strings.TrimSpace(answer))
		if status < 200 || status > 299 {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("send: %d of %d requests were not accepted", failed, max(count, 1))
	}
	return nil
}

func newClient(insecure bool) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if insecure {
		t.TLSClientConfig.InsecureSkipVerify = true
	}
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

func post(c *http.Client, r *http.Request) (int, string, error) {
	resp, err := c.Do(r)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b), nil
}

// forgedSecret is a random secret of the same kind as real.
func forgedSecret(real string) string {
	b := make([]byte, 24)
	rand.Read(b)
	if strings.HasPrefix(real, "whsec_") {
		return "whsec_" + base64.StdEncoding.EncodeToString(b)
	}
	return base64.StdEncoding.EncodeToString(b) // base64 as daily's secrets are
}

// keyIDHelp says what a key id is, provider by provider.
func keyIDHelp() string {
	var parts []string
	for _, name := range verify.Providers() {
		p, _ := verify.Lookup(name)
		parts = append(parts, p.KeyID+" ("+name+")")
	}
	return strings.Join(parts, ", ")
}
