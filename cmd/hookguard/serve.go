package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hookguard/hookguard/internal/logbuf"
	"github.com/hookguard/hookguard/listen"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"
)

const defaultAdminListen = "127.0.0.1:9090"

func serve(ctx context.Context, args []string, e env, stderr io.Writer) error {
	fs, f := newServeFlagSet("hookguard serve", stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return errHelp
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := applyEnv(fs, e.getenv); err != nil {
		return err
	}
	cfg, err := loadConfig(fs, f, e)
	if err != nil {
		return err
	}
	level, err := parseLevel(cfg.LogLevel)
	if err != nil {
		return err
	}
	// One webhook, one line: buffered, so that the lines of a busy
	// second go out in a few writes; everything is written out on return.
	logOut := logbuf.New(logbuf.Config{Out: stderr})
	defer logOut.Close()
	logger := slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: level}))
	if cfg.Dedupe != nil && cfg.Dedupe.Store == "redis" {
		redis.SetLogger(redisLogger{logger})
	}
	rt, err := newRuntime(cfg, e, logger, false)
	if err != nil {
		return err
	}
	defer rt.close()
	for _, w := range queueWarnings(cfg) {
		logger.Warn(w)
	}
	rt.configPath = f.config
	rt.load = func() (*fileConfig, error) { return loadConfig(fs, f, e) }
	rt.fingerprint = fingerprint(rt.configPath, cfg, e)
	return rt.run(ctx)
}

// loadConfig reads --config, or builds the single route from flags.
func loadConfig(fs *pflag.FlagSet, f *serveFlags, e env) (*fileConfig, error) {
	if f.config == "" {
		return f.toConfig(e.getenv)
	}
	for _, name := range routeFlags {
		if fs.Changed(name) {
			return nil, fmt.Errorf("%w: --%s (or %s) cannot be combined with --config: put the route in the file", errConfig, name, envName(name))
		}
	}
	data, err := e.readFile(f.config)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	cfg, err := parseConfig(data, e.getenv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.config, err)
	}
	if f.listen != "" {
		cfg.Listen = f.listen
	}
	if f.logLevel != "" {
		cfg.LogLevel = f.logLevel
	}
	if f.adminListen != "" {
		if cfg.Admin == nil {
			cfg.Admin = &adminConfig{}
		}
		cfg.Admin.Listen = f.adminListen // the rest of the section stays
	}
	return cfg, nil
}

func (rt *runtime) listenAddr() string { return listenAddr(rt.gen().cfg) }

func listenAddr(cfg *fileConfig) string {
	if cfg.Listen != "" {
		return cfg.Listen
	}
	if cfg.TLS != nil {
		return ":443"
	}
	return ":8080"
}

// run listens and serves until ctx is done, then drains.
func (rt *runtime) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g := rt.gen()
	rt.maxTimeout = g.handler.MaxTimeout()
	drain := rt.maxTimeout + 5*time.Second

	var servers []func() error
	webhookLn, err := net.Listen("tcp", rt.listenAddr())
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := listen.NewServer(listen.ServerConfig{Handler: rt, MaxUpstream: rt.maxTimeout, Logger: rt.log,
		OnFramingReject: rt.metrics.FramingRejected})
	scheme := "http"
	if rt.certs != nil {
		// Both listeners are bound before certificates are managed, so
		// ACME challenges are answered on them and not on ports certmagic
		// would bind itself.
		httpAddr := g.cfg.TLS.HTTPListen
		if httpAddr == "" {
			httpAddr = ":80"
		}
		httpLn, err := net.Listen("tcp", httpAddr)
		if err != nil {
			webhookLn.Close()
			return fmt.Errorf("tls.http_listen: %w", err)
		}
		if err := rt.certs.Start(ctx); err != nil {
			webhookLn.Close()
			httpLn.Close()
			return fmt.Errorf("tls: %w", err)
		}
		srv.HTTP.TLSConfig = rt.certs.TLSConfig()
		scheme = "https"
		httpSrv := listen.NewServer(listen.ServerConfig{Handler: rt.certs.HTTPHandler(rt.isWebhookPath), Logger: rt.log,
			OnFramingReject: rt.metrics.FramingRejected})
		rt.log.Info("listening", "addr", httpLn.Addr().String(), "purpose", "acme-http-01 and redirects")
		servers = append(servers, func() error { return httpSrv.Serve(ctx, httpLn, drain) })
	}
	rt.log.Info("listening", "addr", webhookLn.Addr().String(), "scheme", scheme, "routes", len(g.cfg.Routes))
	servers = append(servers, func() error { return srv.Serve(ctx, webhookLn, drain) })

	if adminAddr := rt.admin.listen; adminAddr != "off" {
		adminLn, err := net.Listen("tcp", adminAddr)
		if err != nil {
			webhookLn.Close()
			return fmt.Errorf("admin.listen: %w", err)
		}
		adminSrv := listen.NewServer(listen.ServerConfig{Handler: rt.adminHandler(), Logger: rt.log,
			OnFramingReject: rt.metrics.FramingRejected})
		rt.log.Info("listening", "addr", adminLn.Addr().String(), "purpose", "admin: console at /, queue API, /metrics /healthz /readyz")
		servers = append(servers, func() error { return adminSrv.Serve(ctx, adminLn, 5*time.Second) })
	}
	ds, err := rt.startQueue(ctx, g.cfg)
	if err != nil {
		webhookLn.Close()
		return err
	}
	rt.disp = ds
	stopReload := rt.startReload(ctx)
	defer stopReload()
	rt.ready.listening.Store(true)
	if rt.onListen != nil {
		rt.onListen(webhookLn.Addr().String())
	}

	var wg sync.WaitGroup
	errs := make([]error, len(servers))
	for i, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s()
			cancel() // one listener failing stops the others
		}()
	}
	<-ctx.Done()
	rt.ready.listening.Store(false)
	rt.log.Info("shutting down", "drain", drain.String())
	wg.Wait()
	// The dispatchers stopped taking events at once and wait for the
	// deliveries in flight; what is queued stays for the next start.
	return errors.Join(append(errs, ds.wait())...)
}
