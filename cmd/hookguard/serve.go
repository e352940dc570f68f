package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/hookguard/hookguard/dedupe"
	"github.com/hookguard/hookguard/listen"
	"github.com/hookguard/hookguard/proxy"
	"github.com/hookguard/hookguard/queue"
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
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	if cfg.Dedupe != nil && cfg.Dedupe.Store == "redis" {
		redis.SetLogger(redisLogger{logger})
	}
	rt, err := newRuntime(cfg, e, logger, false)
	if err != nil {
		return err
	}
	defer rt.close()
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

// runtime is a configured hookguard, ready to listen.
type runtime struct {
	cfg     *fileConfig
	log     *slog.Logger
	handler *proxy.Handler
	store   dedupe.Store
	closer  io.Closer
	queue   queue.Store // nil without queue routes
	admin   adminSettings
	now     func() time.Time
	certs   *listen.Certificates // nil without tls
	metrics *proxy.Metrics
	ready   readiness
	// onListen, when set, is told the webhook listener's address.
	onListen func(addr string)
}

// newRuntime wires cfg. With checkOnly, nothing is opened that another
// running hookguard could hold (the queue's file).
func newRuntime(cfg *fileConfig, e env, logger *slog.Logger, checkOnly bool) (*runtime, error) {
	routes, err := buildRoutes(cfg, e)
	if err != nil {
		return nil, err
	}
	trusted, err := parsePrefixes("trusted_proxies", cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	store, closer, err := buildStores(cfg, routes, e)
	if err != nil {
		return nil, err
	}
	rt := &runtime{cfg: cfg, log: logger, store: store, closer: closer, metrics: proxy.NewMetrics(), now: e.now}
	if rt.admin, err = checkAdmin(cfg, e); err != nil {
		closer.Close()
		return nil, err
	}
	var q queue.Enqueuer
	if checkOnly {
		if _, err := checkQueue(cfg, e); err != nil {
			closer.Close()
			return nil, err
		}
		q = unopened{}
	} else {
		if rt.queue, err = buildQueue(cfg, e, logger, rt.metrics); err != nil {
			closer.Close()
			return nil, err
		}
		if rt.queue != nil {
			q = rt.queue
		}
	}
	if rt.queue != nil {
		rt.closer = closers{rt.queue, closer}
		closer = rt.closer
	}
	onStoreError := ""
	if cfg.Dedupe != nil {
		onStoreError = cfg.Dedupe.OnStoreError
	}
	rt.handler, err = proxy.New(proxy.Config{
		Routes:         routes,
		Store:          store,
		OnStoreError:   onStoreError,
		TrustedProxies: trusted,
		Logger:         logger,
		Now:            e.now,
		Observer:       rt.metrics,
		Queue:          q,
	})
	if err != nil {
		closer.Close()
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	rt.metrics.WatchStores(rt.handler.Routes())
	if rt.queue != nil {
		rt.metrics.WatchQueue(rt.queue)
	}
	if cfg.TLS != nil {
		tc := listen.TLSConfig{Now: e.now, Getenv: e.getenv,
			HTTPSListen: rt.listenAddr(),
			HTTPListen:  cfg.TLS.HTTPListen, Domains: cfg.TLS.Domains, Email: cfg.TLS.Email,
			CA: cfg.TLS.CA, CARoot: cfg.TLS.CARoot, Storage: cfg.TLS.Storage,
			CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile,
		}
		if err := tc.Validate(); err != nil {
			closer.Close()
			return nil, fmt.Errorf("%w: %w", errConfig, tlsKeys(err))
		}
		rt.certs, err = listen.NewCertificates(tc, logger)
		if err != nil {
			closer.Close()
			return nil, fmt.Errorf("%w: %w", errConfig, tlsKeys(err))
		}
	}
	return rt, nil
}

func (rt *runtime) close() {
	if rt.closer != nil {
		rt.closer.Close()
	}
}

func (rt *runtime) listenAddr() string {
	if rt.cfg.Listen != "" {
		return rt.cfg.Listen
	}
	if rt.cfg.TLS != nil {
		return ":443"
	}
	return ":8080"
}

// run listens and serves until ctx is done, then drains.
func (rt *runtime) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	drain := rt.handler.MaxTimeout() + 5*time.Second
	dispatchers, err := rt.dispatchers()
	if err != nil {
		return err
	}

	var servers []func() error
	webhookLn, err := net.Listen("tcp", rt.listenAddr())
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := listen.NewServer(listen.ServerConfig{Handler: rt.handler, MaxUpstream: rt.handler.MaxTimeout(), Logger: rt.log,
		OnFramingReject: rt.metrics.FramingRejected})
	scheme := "http"
	if rt.certs != nil {
		// Both listeners are bound before certificates are managed, so
		// ACME challenges are answered on them and not on ports certmagic
		// would bind itself.
		httpAddr := rt.cfg.TLS.HTTPListen
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
		httpSrv := listen.NewServer(listen.ServerConfig{Handler: rt.certs.HTTPHandler(rt.handler.IsWebhookPath), Logger: rt.log,
			OnFramingReject: rt.metrics.FramingRejected})
		rt.log.Info("listening", "addr", httpLn.Addr().String(), "purpose", "acme-http-01 and redirects")
		servers = append(servers, func() error { return httpSrv.Serve(ctx, httpLn, drain) })
		go rt.reloadOnHUP(ctx)
	}
	rt.log.Info("listening", "addr", webhookLn.Addr().String(), "scheme", scheme, "routes", len(rt.cfg.Routes))
	servers = append(servers, func() error { return srv.Serve(ctx, webhookLn, drain) })

	if adminAddr := rt.admin.listen; adminAddr != "off" {
		adminLn, err := net.Listen("tcp", adminAddr)
		if err != nil {
			webhookLn.Close()
			return fmt.Errorf("admin.listen: %w", err)
		}
		adminSrv := listen.NewServer(listen.ServerConfig{Handler: rt.adminHandler(), Logger: rt.log,
			OnFramingReject: rt.metrics.FramingRejected})
		rt.log.Info("listening", "addr", adminLn.Addr().String(), "purpose", "admin: /metrics /healthz /readyz")
		servers = append(servers, func() error { return adminSrv.Serve(ctx, adminLn, 5*time.Second) })
	}
	waitQueue := rt.runQueue(ctx, dispatchers)
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
	return errors.Join(append(errs, waitQueue())...)
}

// reloadOnHUP re-reads static certificates on SIGHUP.
func (rt *runtime) reloadOnHUP(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := rt.certs.Reload(); err != nil {
				rt.log.Error("reloading certificates", "error", err.Error())
			} else {
				rt.log.Info("certificates reloaded")
			}
		}
	}
}
