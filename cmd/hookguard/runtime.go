package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookguard/hookguard/listen"
	"github.com/hookguard/hookguard/proxy"
	"github.com/hookguard/hookguard/queue"
)

// runtime is a configured hookguard, ready to listen. What a reload may
// change lives in its current generation; the stores, the queue, the
// listeners and the metrics live as long as the process.
type runtime struct {
	env      env
	log      *slog.Logger
	cur      atomic.Pointer[generation]
	stores   *storeSet
	queue    queue.Store    // nil without queue routes
	enqueuer queue.Enqueuer // the queue, or a stand-in when only checking
	admin    adminSettings
	now      func() time.Time
	certs    *listen.Certificates // nil without tls
	metrics  *proxy.Metrics
	observer proxy.Observer
	ready    readiness
	// onListen, when set, is told the webhook listener's address.
	onListen func(addr string)

	// reload state (reload.go).
	reloadMu    sync.Mutex
	load        func() (*fileConfig, error) // re-reads the config; nil: nothing to re-read
	configPath  string                      // the config file, if any (watch)
	fingerprint []byte                      // of the files the running config was read from
	maxTimeout  time.Duration               // the server timeouts were sized for it
	disp        *dispatcherSet
}

// generation is one loaded configuration and the handler built from it.
type generation struct {
	cfg     *fileConfig
	handler *proxy.Handler
}

func (rt *runtime) gen() *generation { return rt.cur.Load() }

// ServeHTTP serves webhooks with the current generation's handler: a
// reload swaps it atomically for new requests; requests in flight finish
// on the handler they started with.
func (rt *runtime) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt.gen().handler.ServeHTTP(w, r)
}

// isWebhookPath asks the current generation.
func (rt *runtime) isWebhookPath(path string) bool { return rt.gen().handler.IsWebhookPath(path) }

// newRuntime wires cfg. With checkOnly, nothing is opened that another
// running hookguard could hold (the queue's file).
func newRuntime(cfg *fileConfig, e env, logger *slog.Logger, checkOnly bool) (*runtime, error) {
	rt := &runtime{env: e, log: logger, metrics: proxy.NewMetrics(), now: e.now}
	rt.observer = withConsole(rt.metrics, e.now)
	var err error
	if rt.admin, err = checkAdmin(cfg, e); err != nil {
		return nil, err
	}
	if rt.stores, err = newStoreSet(cfg, e); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			rt.close()
		}
	}()
	if checkOnly {
		if _, err := checkQueue(cfg, e); err != nil {
			return nil, err
		}
		rt.enqueuer = unopened{}
	} else {
		if rt.queue, err = buildQueue(cfg, e, logger, rt.metrics); err != nil {
			return nil, err
		}
		if rt.queue != nil {
			rt.enqueuer = rt.queue
			rt.metrics.WatchQueue(rt.queue)
		}
	}
	g, err := rt.build(cfg)
	if err != nil {
		return nil, err
	}
	rt.cur.Store(g)
	if cfg.TLS != nil {
		tc := listen.TLSConfig{Now: e.now, Getenv: e.getenv,
			HTTPSListen: listenAddr(cfg),
			HTTPListen:  cfg.TLS.HTTPListen, Domains: cfg.TLS.Domains, Email: cfg.TLS.Email,
			CA: cfg.TLS.CA, CARoot: cfg.TLS.CARoot, Storage: cfg.TLS.Storage,
			CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile,
		}
		if err := tc.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %w", errConfig, tlsKeys(err))
		}
		rt.certs, err = listen.NewCertificates(tc, logger)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errConfig, tlsKeys(err))
		}
	}
	ok = true
	return rt, nil
}

// build makes a generation of cfg: its routes (reading every secret again)
// on the runtime's stores and queue, and a handler for them.
func (rt *runtime) build(cfg *fileConfig) (*generation, error) {
	if _, err := parseLevel(cfg.LogLevel); err != nil {
		return nil, err
	}
	routes, err := buildRoutes(cfg, rt.env)
	if err != nil {
		return nil, err
	}
	trusted, err := parsePrefixes("trusted_proxies", cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	if hasQueueRoutes(cfg) && rt.enqueuer == nil {
		return nil, fmt.Errorf("the first route with delivery: queue: %w (the queue's store is opened at start)", errRestart)
	}
	if err := rt.stores.attach(cfg, routes); err != nil {
		return nil, err
	}
	onStoreError := ""
	if cfg.Dedupe != nil {
		onStoreError = cfg.Dedupe.OnStoreError
	}
	h, err := proxy.New(proxy.Config{
		Routes:         routes,
		Store:          rt.stores.shared,
		OnStoreError:   onStoreError,
		TrustedProxies: trusted,
		Logger:         rt.log,
		Now:            rt.now,
		Observer:       rt.observer,
		Queue:          rt.enqueuer,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	rt.metrics.WatchStores(h.Routes())
	return &generation{cfg: cfg, handler: h}, nil
}

func (rt *runtime) close() {
	var cs closers
	if rt.queue != nil {
		cs = append(cs, rt.queue)
	}
	if rt.stores != nil {
		cs = append(cs, rt.stores)
	}
	cs.Close()
}
