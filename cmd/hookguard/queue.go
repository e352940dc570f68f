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
	store, path, redisURL string
	maxEvents             int
	deadMaxAge, dedupeTTL time.Duration
}

// checkQueue validates the queue section of cfg without opening anything.
func checkQueue(cfg *fileConfig, e env) (queueSettings, error) {
	qc := cfg.Queue
	if qc == nil {
		qc = &queueConfig{}
	}
	s := queueSettings{store: qc.Store, path: qc.Path, redisURL: qc.RedisURL, maxEvents: qc.MaxEvents, deadMaxAge: time.Duration(qc.DeadMaxAge)}
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
		r, err := queue.NewRedis(queue.RedisConfig{URL: s.redisURL, MaxEvents: s.maxEvents, DeadMaxAge: s.deadMaxAge,
			DedupeTTL: s.dedupeTTL, Now: e.now, Logger: logger, Observer: obs})
		if err != nil {
			return nil, fmt.Errorf("%w: queue.redis_url: %w", errConfig, err)
		}
		logger.Info("queue opened", "store", "redis")
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

// unopened stands in for the queue when a config is only checked: the
// store is not opened (a running hookguard holds the disk file's lock).
type unopened struct{}

func (unopened) Enqueue(context.Context, *queue.Event) (queue.Enqueued, error) {
	return queue.Enqueued{}, fmt.Errorf("%w: not opened by check", queue.ErrUnavailable)
}

// dispatchers builds one dispatcher per queue route of cfg.
func (rt *runtime) dispatchers() ([]*queue.Dispatcher, error) {
	var lease time.Duration
	if rt.cfg.Queue != nil {
		lease = time.Duration(rt.cfg.Queue.Lease)
	}
	var out []*queue.Dispatcher
	for i, rc := range rt.cfg.Routes {
		if rc.Delivery != proxy.DeliveryQueue {
			continue
		}
		name := rc.Name
		if name == "" {
			name = rc.Path
		}
		retry := &queue.Backoff{Now: rt.now}
		if r := rc.Retry; r != nil {
			retry.MaxAttempts, retry.MaxAge = r.MaxAttempts, time.Duration(r.MaxAge)
			retry.InitialBackoff, retry.MaxBackoff = time.Duration(r.InitialBackoff), time.Duration(r.MaxBackoff)
		}
		d, err := queue.NewDispatcher(queue.DispatcherConfig{
			Store: rt.queue, Route: name, Deliver: rt.handler.DeliverQueued,
			Concurrency: rc.Concurrency, Lease: lease, Retry: retry,
			Now: rt.now, Logger: rt.log, Observer: rt.metrics,
		})
		if err != nil {
			return nil, fmt.Errorf("%w: routes[%d] (%s): %w", errConfig, i, rc.Path, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// runQueue runs the dispatchers and the sweeper until ctx is done, then
// waits for deliveries in flight (each dispatcher's shutdown timeout); the
// queue itself is left intact, and a restart resumes it.
func (rt *runtime) runQueue(ctx context.Context, ds []*queue.Dispatcher) (wait func() error) {
	if rt.queue == nil {
		return func() error { return nil }
	}
	var wg sync.WaitGroup
	errs := make([]error, len(ds)+1)
	for i, d := range ds {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = d.Run(ctx) }()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := queue.RunSweeper(ctx, rt.queue, sweepInterval, rt.log); err != nil && !errors.Is(err, context.Canceled) {
			errs[len(ds)] = err
		}
	}()
	return func() error { wg.Wait(); return errors.Join(errs...) }
}
