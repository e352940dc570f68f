package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hookguard/hookguard/dedupe"
	"github.com/hookguard/hookguard/proxy"
)

// errRestart is wrapped by reload errors about changes that need a
// restart.
var errRestart = errors.New("needs a restart")

// replayWindower is implemented by verifiers that know how long a captured
// request of theirs keeps verifying.
type replayWindower interface {
	ReplayWindow() time.Duration
}

// closers closes several stores.
type closers []io.Closer

func (cs closers) Close() error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// storeSet holds the dedupe stores for the life of the process: one Redis
// store shared by every route, or a bounded memory store of each sync
// route's own (so that a flood on one route cannot push out another's
// records). Across reloads a route keeps its memory store, and so its
// records, for as long as it keeps its name and size.
type storeSet struct {
	env    env
	cfg    dedupeConfig
	shared dedupe.Store // redis; nil with memory stores
	mem    map[string]memStore
	all    closers
}

type memStore struct {
	size int
	m    *dedupe.Memory
}

// newStoreSet validates the dedupe section and opens the shared store it
// names, if any.
func newStoreSet(cfg *fileConfig, e env) (*storeSet, error) {
	s := &storeSet{env: e, mem: make(map[string]memStore)}
	if cfg.Dedupe != nil {
		s.cfg = *cfg.Dedupe
	}
	dc := s.cfg
	switch dc.Store {
	case "", "memory":
		if dc.RedisURL != "" {
			return nil, fmt.Errorf("%w: dedupe.redis_url is set but dedupe.store is not redis", errConfig)
		}
		return s, nil
	case "redis":
		if dc.RedisURL == "" {
			return nil, fmt.Errorf("%w: dedupe.redis_url: required with store: redis", errConfig)
		}
		if dc.Size != 0 {
			return nil, fmt.Errorf("%w: dedupe.size applies to the memory store only", errConfig)
		}
		r, err := dedupe.NewRedis(dedupe.RedisConfig{URL: dc.RedisURL, TTL: time.Duration(dc.TTL), InFlightTTL: time.Duration(dc.InFlightTTL)})
		if err != nil {
			return nil, fmt.Errorf("%w: dedupe.redis_url: %w", errConfig, err)
		}
		s.shared = r
		s.all = append(s.all, r)
		return s, nil
	}
	return nil, fmt.Errorf("%w: dedupe.store: %q (want memory or redis)", errConfig, dc.Store)
}

// attach gives each sync route of cfg its memory store (routes are in the
// order of cfg.Routes): the one it had, or a new one. With Redis the
// routes share it (proxy.Config.Store). A route whose size changed keeps
// its records only across a restart.
func (s *storeSet) attach(cfg *fileConfig, routes []proxy.Route) error {
	for i, rc := range cfg.Routes {
		r := &routes[i]
		if s.shared != nil {
			if rc.DedupeSize != 0 {
				return fmt.Errorf("%w: routes[%d] (%s): dedupe_size applies to the memory store only", errConfig, i, rc.Path)
			}
			continue
		}
		if r.Delivery == proxy.DeliveryQueue {
			// A queue route's dedupe marks live in the queue's store.
			if rc.DedupeSize != 0 {
				return fmt.Errorf("%w: routes[%d] (%s): dedupe_size: a queue route's dedupe marks live in the queue", errConfig, i, rc.Path)
			}
			continue
		}
		size := s.cfg.Size
		if rc.DedupeSize != 0 {
			size = rc.DedupeSize
		}
		name := routeName(rc)
		if have, ok := s.mem[name]; ok {
			if have.size != size {
				return fmt.Errorf("routes[%d] (%s): dedupe_size changed: %w (its records would be lost)", i, rc.Path, errRestart)
			}
			r.Store = have.m
			continue
		}
		var window time.Duration
		if rw, ok := r.Verifier.(replayWindower); ok {
			window = rw.ReplayWindow()
		}
		m, err := dedupe.NewMemory(dedupe.MemoryConfig{Size: size, TTL: time.Duration(s.cfg.TTL),
			InFlightTTL: time.Duration(s.cfg.InFlightTTL), Window: window, Now: s.env.now})
		if err != nil {
			return fmt.Errorf("%w: dedupe (route %s): %w", errConfig, rc.Path, err)
		}
		s.mem[name] = memStore{size: size, m: m}
		s.all = append(s.all, m)
		r.Store = m
	}
	return nil
}

// Close closes every store the set ever opened.
func (s *storeSet) Close() error { return s.all.Close() }

// routeName is a route's name: its name, else its path.
func routeName(rc routeConfig) string {
	if rc.Name != "" {
		return rc.Name
	}
	return rc.Path
}
