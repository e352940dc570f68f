// Command go-backend is an example app behind hookguard.
//
// hookguard has already verified the provider's signature, dropped
// forgeries, replays and duplicates, and it signs every request it forwards
// with Standard Webhooks headers (webhook-id, webhook-timestamp,
// webhook-signature) using the route's forward.signing_secret. This app
// checks that signature with the official Standard Webhooks Go library, so
// only requests that came through hookguard are accepted, then reads the
// normalized X-Hookguard-* headers, which are the same for every provider.
//
// Environment:
//
//	LISTEN          address to listen on (default :9000)
//	FORWARD_SECRET  the route's forward.signing_secret (whsec_...)
//
// It logs one JSON line per event and answers 2xx JSON: Tencent's
// acknowledgement for Tencent callbacks, {"ok":true,...} otherwise. A
// request whose forwarding signature does not verify gets 401.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// maxBody bounds a request body; hookguard's own default limit is 1 MiB.
const maxBody = 4 << 20

// tencentAck is the answer Tencent callbacks expect. For "Before" callbacks
// (e.g. Live.CallbackBeforeSendGift) ErrorCode decides: 0 allow, 1 reject,
// 2 discard; hookguard returns this body to Tencent unchanged.
const tencentAck = `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "go-backend:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	addr := getenv("LISTEN")
	if addr == "" {
		addr = ":9000"
	}
	secret := getenv("FORWARD_SECRET")
	if !strings.HasPrefix(secret, "whsec_") || len(secret) == len("whsec_") {
		return errors.New("FORWARD_SECRET must be the route's forward.signing_secret (whsec_...)")
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return errors.New("FORWARD_SECRET is not whsec_ followed by base64")
	}
	log := slog.New(slog.NewJSONHandler(stdout, nil))

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           &handler{wh: wh, log: log},
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	log.Info("listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

type handler struct {
	wh  *standardwebhooks.Webhook
	log *slog.Logger
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/healthz" {
		io.WriteString(w, "ok\n")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(w, http.StatusMethodNotAllowed, map[string]any{"error": "POST only"})
		return
	}
	// Read the raw bytes: the signature covers them exactly.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		reply(w, http.StatusRequestEntityTooLarge, map[string]any{"error": "body too large"})
		return
	}
	if err := h.wh.Verify(body, r.Header); err != nil {
		h.log.Warn("rejected", "path", r.URL.Path, "reason", err.Error(), "remote", r.RemoteAddr)
		reply(w, http.StatusUnauthorized, map[string]any{"error": "invalid forwarding signature"})
		return
	}

	// The same headers for every provider.
	ev := struct {
		Provider, Route, ID, Type, Time, KeyID string
	}{
		Provider: r.Header.Get("X-Hookguard-Provider"),
		Route:    r.Header.Get("X-Hookguard-Route"),
		ID:       r.Header.Get("X-Hookguard-Event-Id"),
		Type:     r.Header.Get("X-Hookguard-Event-Type"),
		Time:     r.Header.Get("X-Hookguard-Event-Time"),
		KeyID:    r.Header.Get("X-Hookguard-Key-Id"),
	}
	h.log.Info("event", "provider", ev.Provider, "route", ev.Route, "event_id", ev.ID,
		"type", ev.Type, "event_time", ev.Time, "key_id", ev.KeyID,
		"content_type", r.Header.Get("Content-Type"), "bytes", len(body))

	// Handle the event here. hookguard forwards an event again only if this
	// app did not answer 2xx, so keep the handling idempotent on the event id.

	if ev.Provider == "tencent" {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, tencentAck)
		return
	}
	reply(w, http.StatusOK, map[string]any{"ok": true, "event_id": ev.ID})
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
