package listen

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"
)

// ServerConfig configures a Server.
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
	// for ambiguous HTTP/1 framing, with the reason (Reason*). Nil:
	// refusals are only logged.
	OnFramingReject func(reason string)
}

// Server is an http.Server with every timeout set, whose HTTP/1.x
// connections are guarded against ambiguous framing. Create it with
// NewServer; HTTP may be adjusted (its TLSConfig set) before Serve.
type Server struct {
	HTTP  *http.Server
	guard *Guard
}

// NewServer returns a Server with every timeout set: a slow or stalled
// client cannot hold a connection open.
func NewServer(cfg ServerConfig) *Server {
	up := cfg.MaxUpstream
	if up == 0 {
		up = 10 * time.Second
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Server{
		HTTP: &http.Server{
			Handler:           cfg.Handler,
			TLSConfig:         cfg.TLSConfig,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30*time.Second + up,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		},
		guard: &Guard{Logger: logger, OnReject: cfg.OnFramingReject},
	}
}

// Serve serves on ln until ctx is done, then shuts down gracefully: the
// listener closes at once (new connections are refused) and requests in
// flight get up to drain to finish. It returns nil after a clean
// shutdown.
//
// HTTP/1.x connections are guarded against ambiguous framing (request
// smuggling; see Guard): with HTTP.TLSConfig set, above TLS
// (Guard.TLSListener), HTTP/2 connections being left as they are.
func (s *Server) Serve(ctx context.Context, ln net.Listener, drain time.Duration) error {
	srv := s.HTTP
	if srv.TLSConfig != nil {
		// What ServeTLS would do, above the guard: offer HTTP/1.1 (and
		// HTTP/2, when TLSConfig lists h2), handshake within the
		// shortest of the server's timeouts.
		cfg := srv.TLSConfig.Clone()
		if !slices.Contains(cfg.NextProtos, "http/1.1") {
			cfg.NextProtos = append(slices.Clip(cfg.NextProtos), "http/1.1")
		}
		ln = s.guard.TLSListener(ln, cfg, tlsHandshakeTimeout(srv))
	} else {
		ln = s.guard.Listener(ln)
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
