package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hookguard/hookguard/proxy"
	"github.com/hookguard/hookguard/queue"
)

// sweepInterval is how often expired dead letters and dedupe marks are
// deleted from the queue's store.
const sweepInterval = time.Minute

// defaultQueuePath is queue.path's default: beside the state of other
// services, never in the working directory by surprise.
func defaultQueuePath(getenv func(string) string) string {
	if d := getenv("STATE_DIRECTORY"); d != "" { // systemd's StateDirectory=
		return filepath.Join(d, "queue.db")
	}
	if d := getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "hookguard", "queue.db")
	}
	if h := getenv("HOME"); h != "" && h != "/" {
		return filepath.Join(h, ".local", "state", "hookguard", "queue.db")
	}
	return "/var/lib/hookguard/queue.db"
}

// hasQueueRoutes reports whether any route has delivery: queue.
func hasQueueRoutes(cfg *fileConfig) bool {
	for _, rc := range cfg.Routes {
		if rc.Delivery == proxy.DeliveryQueue {
			return true
		}
	}
	return false
}

// queueSettings is the validated queue section.
type queueSettings struct {
	store, path, redisURL, consumer string
	maxEvents                       int
	deadMaxAge, dedupeTTL           time.Duration
}

// checkQueue validates the queue section of cfg without opening anything.
func checkQueue(cfg *fileConfig, e env) (queueSettings, error) {
	qc := cfg.Queue
	if qc == nil {
		qc = &queueConfig{}
	}
	s := queueSettings{store: qc.Store, path: qc.Path, redisURL: qc.RedisURL, consumer: qc.Consumer,
		maxEvents: qc.MaxEvents, deadMaxAge: time.Duration(qc.DeadMaxAge)}
	if cfg.Dedupe != nil {
		s.dedupeTTL = time.Duration(cfg.Dedupe.TTL)
	}
	switch {
	case qc.MaxEvents < 0:
		return s, fmt.Errorf("%w: queue.max_events: must not be negative", errConfig)
	case qc.Lease < 0 || qc.DeadMaxAge < 0:
		return s, fmt.Errorf("%w: queue.lease and queue.dead_max_age must not be negative", errConfig)
	}
	switch qc.Store {
	case "", "disk":
		s.store = "disk"
		if qc.RedisURL != "" {
			return s, fmt.Errorf("%w: queue.redis_url is set but queue.store is not redis", errConfig)
		}
		if s.path == "" {
			s.path = defaultQueuePath(e.getenv)
		}
	case "redis":
		if qc.RedisURL == "" {
			return s, fmt.Errorf("%w: queue.redis_url: required with store: redis", errConfig)
		}
		if qc.Path != "" {
			return s, fmt.Errorf("%w: queue.path applies to the disk store only", errConfig)
		}
		if s.consumer == "" {
			s.consumer = defaultConsumer(e, listenAddr(cfg))
		}
	default:
		return s, fmt.Errorf("%w: queue.store: %q (want disk or redis)", errConfig, qc.Store)
	}
	return s, nil
}

// buildQueue opens the queue's store the config names, or returns nil when
// no route has delivery: queue.
func buildQueue(cfg *fileConfig, e env, logger *slog.Logger, obs queue.Observer) (queue.Store, error) {
	s, err := checkQueue(cfg, e)
	if err != nil || !hasQueueRoutes(cfg) {
		return nil, err
	}
	if s.store == "redis" {
		r, err := queue.NewRedis(queue.RedisConfig{URL: s.redisURL, Consumer: s.consumer, MaxEvents: s.maxEvents, DeadMaxAge: s.deadMaxAge,
			DedupeTTL: s.dedupeTTL, Now: e.now, Logger: logger, Observer: obs})
		if err != nil {
			return nil, fmt.Errorf("%w: queue.redis_url: %w", errConfig, err)
		}
		logger.Info("queue opened", "store", "redis", "consumer", s.consumer)
		return r, nil
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return nil, fmt.Errorf("%w: queue.path: %w", errConfig, err)
	}
	d, err := queue.OpenDisk(queue.DiskConfig{Path: s.path, MaxEvents: s.maxEvents, DeadMaxAge: s.deadMaxAge,
		DedupeTTL: s.dedupeTTL, Now: e.now, Logger: logger, Observer: obs})
	if err != nil {
		return nil, fmt.Errorf("%w: queue.path %s: %w", errConfig, s.path, err)
	}
	logger.Info("queue opened", "store", "disk", "path", s.path)
	return d, nil
}

// defaultConsumer is queue.consumer's default: the host name and the
// webhook listen address. Two replicas on one host listen on different
// addresses, so they never share a name (a replica that starts puts the
// entries pending under its name back in line: with a shared name, those
// another live replica is delivering); one replica restarted keeps its
// name and resumes its own entries at once.
func defaultConsumer(e env, listen string) string {
	host := e.getenv("HOSTNAME")
	if host == "" {
		host, _ = os.Hostname()
	}
	return host + "/" + listen
}

// unopened stands in for the queue when a config is only checked: the
// store is not opened (a running hookguard holds the disk file's lock).
type unopened struct{}

func (unopened) Enqueue(context.Context, *queue.Event) (queue.Enqueued, error) {
	return queue.Enqueued{}, fmt.Errorf("%w: not opened by check", queue.ErrUnavailable)
}

// dispatcherSpec is what a queue route's dispatcher is built from; a
// reload restarts a dispatcher only when its spec changed.
type dispatcherSpec struct {
	concurrency int
	lease       time.Duration
	retry       retryConfig
}

// dispatcherSpecs returns the spec of each queue route of cfg, by name.
func dispatcherSpecs(cfg *fileConfig) map[string]dispatcherSpec {
	var lease time.Duration
	if cfg.Queue != nil {
		lease = time.Duration(cfg.Queue.Lease)
	}
	specs := make(map[string]dispatcherSpec)
	for _, rc := range cfg.Routes {
		if rc.Delivery != proxy.DeliveryQueue {
			continue
		}
		sp := dispatcherSpec{concurrency: rc.Concurrency, lease: lease}
		if rc.Retry != nil {
			sp.retry = *rc.Retry
		}
		specs[routeName(rc)] = sp
	}
	return specs
}

// dispatcherSet runs one dispatcher per queue route, and the sweeper.
type dispatcherSet struct {
	rt      *runtime
	ctx     context.Context
	mu      sync.Mutex
	running map[string]*runningDispatcher
	wg      sync.WaitGroup
	errMu   sync.Mutex // not mu: reconcile holds mu while a dispatcher stops
	errs    []error
}

type runningDispatcher struct {
	spec   dispatcherSpec
	cancel context.CancelFunc
	done   chan struct{}
}

// startQueue starts the dispatchers of cfg and the sweeper; they stop
// when ctx is done (wait waits for them).
func (rt *runtime) startQueue(ctx context.Context, cfg *fileConfig) (*dispatcherSet, error) {
	ds := &dispatcherSet{rt: rt, ctx: ctx, running: make(map[string]*runningDispatcher)}
	if rt.queue == nil {
		return ds, nil
	}
	if err := ds.reconcile(dispatcherSpecs(cfg)); err != nil {
		return nil, err
	}
	ds.wg.Add(1)
	go func() {
		defer ds.wg.Done()
		if err := queue.RunSweeper(ctx, rt.queue, sweepInterval, rt.log); err != nil && !errors.Is(err, context.Canceled) {
			ds.fail(err)
		}
	}()
	return ds, nil
}

// reconcile makes the running dispatchers those of specs: new routes get
// one, removed routes lose theirs (their events stay queued), and a route
// whose spec changed gets a new one once the old one finished its
// deliveries in flight. Deliveries go through the current generation's
// handler, so a new upstream or secret applies without a restart.
func (ds *dispatcherSet) reconcile(specs map[string]dispatcherSpec) error {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	for name, r := range ds.running {
		if sp, ok := specs[name]; !ok || sp != r.spec {
			r.cancel()
			<-r.done
			delete(ds.running, name)
			if !ok {
				ds.rt.log.Warn("queue: route removed; its queued events wait for it to come back", "route", name)
			}
		}
	}
	for name, sp := range specs {
		if _, ok := ds.running[name]; ok {
			continue
		}
		retry := &queue.Backoff{Now: ds.rt.now, MaxAttempts: sp.retry.MaxAttempts, MaxAge: time.Duration(sp.retry.MaxAge),
			InitialBackoff: time.Duration(sp.retry.InitialBackoff), MaxBackoff: time.Duration(sp.retry.MaxBackoff)}
		d, err := queue.NewDispatcher(queue.DispatcherConfig{
			Store: ds.rt.queue, Route: name,
			Deliver: func(ctx context.Context, ev *queue.Event) queue.Outcome {
				return ds.rt.gen().handler.DeliverQueued(ctx, ev)
			},
			Concurrency: sp.concurrency, Lease: sp.lease, Retry: retry,
			Now: ds.rt.now, Logger: ds.rt.log, Observer: ds.rt.metrics,
		})
		if err != nil {
			return fmt.Errorf("%w: route %s: %w", errConfig, name, err)
		}
		ctx, cancel := context.WithCancel(ds.ctx)
		r := &runningDispatcher{spec: sp, cancel: cancel, done: make(chan struct{})}
		ds.running[name] = r
		ds.wg.Add(1)
		go func() {
			defer ds.wg.Done()
			defer close(r.done)
			if err := d.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				ds.fail(fmt.Errorf("queue: route %s: %w", name, err))
			}
		}()
	}
	return nil
}

func (ds *dispatcherSet) fail(err error) {
	ds.errMu.Lock()
	ds.errs = append(ds.errs, err)
	ds.errMu.Unlock()
}

// wait waits for every dispatcher and the sweeper to stop (after ctx is
// done: each waits for its deliveries in flight) and returns their errors.
func (ds *dispatcherSet) wait() error {
	ds.wg.Wait()
	ds.errMu.Lock()
	defer ds.errMu.Unlock()
	return errors.Join(ds.errs...)
}
