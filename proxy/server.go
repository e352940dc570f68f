package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
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
	// Logger receives server errors. Nil: slog.Default().
	Logger *slog.Logger
}

// NewServer returns an http.Server with every timeout set: a slow or
// stalled client cannot hold a connection open.
func NewServer(cfg ServerConfig) *http.Server {
	up := cfg.MaxUpstream
	if up == 0 {
		up = 10 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &http.Server{
		Handler:           cfg.Handler,
		TLSConfig:         cfg.TLSConfig,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30*time.Second + up,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// Serve serves srv on ln until ctx is done, then shuts down gracefully:
// the listener closes at once (new connections are refused) and requests
// in flight get up to drain to finish. It returns nil after a clean
// shutdown.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, drain time.Duration) error {
	errc := make(chan error, 1)
	go func() {
		var err error
		if srv.TLSConfig != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		errc <- err
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
