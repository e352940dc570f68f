package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/hookguard/hookguard/listen"
)

// ServerConfig configures an HTTP(S) listener's server.
type ServerConfig struct {
	// Handler serves the requests. Required.
	Handler http.Handler
	// TLSConfig, when set, makes the server speak HTTPS.
	TLSConfig *tls.Config
	// MaxUpstream is the longest time a request may wait for an app; the
	// write timeout leaves room for it. Zero: 10 s.
	MaxUpstream time.Duration
	// Logger receives server errors and connections refused for
	// ambiguous HTTP/1 framing. Nil: slog.Default().
	Logger *slog.Logger
	// OnFramingReject, when set, is called once per connection refused
	// for ambiguous HTTP/1 framing, with the reason (listen.Reason*).
	// Nil: refusals are only logged.
	OnFramingReject func(reason string)
}

// NewServer returns an http.Server with every timeout set: a slow or
// stalled client cannot hold a connection open.
func NewServer(cfg ServerConfig) *http.Server {
	up := cfg.MaxUpstream
	if up == 0 {
		up = 10 * time.Second
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &http.Server{
		Handler:           cfg.Handler,
		TLSConfig:         cfg.TLSConfig,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30*time.Second + up,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog: log.New(&serverLog{
			Writer: slog.NewLogLogger(logger.Handler(), slog.LevelDebug).Writer(),
			guard:  &listen.Guard{Logger: logger, OnReject: cfg.OnFramingReject},
		}, "", 0),
	}
}

// serverLog writes the ErrorLog of a server made by NewServer to its
// slog handler, and keeps the guard Serve puts on its connections (an
// http.Server has no field for it, and Serve gets only the server).
type serverLog struct {
	io.Writer
	guard *listen.Guard
}

// serverGuard is srv's guard: NewServer's, else one logging to
// slog.Default().
func serverGuard(srv *http.Server) *listen.Guard {
	if srv.ErrorLog != nil {
		if sl, ok := srv.ErrorLog.Writer().(*serverLog); ok {
			return sl.guard
		}
	}
	return &listen.Guard{}
}

// Serve serves srv on ln until ctx is done, then shuts down gracefully:
// the listener closes at once (new connections are refused) and requests
// in flight get up to drain to finish. It returns nil after a clean
// shutdown.
//
// HTTP/1.x connections are guarded against ambiguous framing (request
// smuggling; see listen.Guard): with srv.TLSConfig set, above TLS
// (listen.Guard.TLSListener), HTTP/2 connections being left as they are.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, drain time.Duration) error {
	guard := serverGuard(srv)
	if srv.TLSConfig != nil {
		// What ServeTLS would do, above the guard: offer HTTP/1.1 (and
		// HTTP/2, when srv.TLSConfig lists h2), handshake within the
		// shortest of the server's timeouts.
		cfg := srv.TLSConfig.Clone()
		if !slices.Contains(cfg.NextProtos, "http/1.1") {
			cfg.NextProtos = append(slices.Clip(cfg.NextProtos), "http/1.1")
		}
		ln = guard.TLSListener(ln, cfg, tlsHandshakeTimeout(srv))
	} else {
		ln = guard.Listener(ln)
	}
	errc := make(chan error, 1)
	go func() {
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	if err != nil {
		srv.Close()
		return err
	}
	return nil
}

// tlsHandshakeTimeout is http.Server's: the shortest of its read-header,
// read and write timeouts (zero: none).
func tlsHandshakeTimeout(srv *http.Server) time.Duration {
	var d time.Duration
	for _, v := range []time.Duration{srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout} {
		if v > 0 && (d == 0 || v < d) {
			d = v
		}
	}
	return d
}
