package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Reload results, as counted in hookguard_config_reloads_total{result}.
const (
	reloadOK              = "ok"
	reloadUnchanged       = "unchanged"
	reloadInvalid         = "invalid"
	reloadRestartRequired = "restart_required"
)

// watchDebounce lets an editor or Kubernetes finish replacing files
// before the config is read again.
const watchDebounce = 300 * time.Millisecond

// startReload reloads on SIGHUP, and with watch: true when the config file
// or a file: secret changes. The returned function stops it.
func (rt *runtime) startReload(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var w *watcher
		if rt.gen().cfg.Watch && rt.configPath != "" {
			var err error
			if w, err = newWatcher(rt); err != nil {
				rt.log.Error("watch: cannot watch the config; reload with SIGHUP", "error", err.Error())
			} else {
				defer w.close()
			}
		}
		var changed <-chan struct{}
		if w != nil {
			changed = w.changed
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				rt.reload("SIGHUP", true)
			case <-changed:
				if rt.reload("watch", false) == reloadOK && w != nil {
					w.update()
				}
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		cancel()
		<-done
	}
}

// reload reads the config again and, when it is valid and changes nothing
// that needs a restart, swaps it in for new requests. Requests in flight
// finish on the handler they started with; queued events stay queued. An
// invalid config is logged and counted, and the old one stays. force
// reloads even when no file changed (SIGHUP: certificates, secrets from
// the environment of a flags-only setup).
func (rt *runtime) reload(trigger string, force bool) string {
	rt.reloadMu.Lock()
	defer rt.reloadMu.Unlock()
	result, err := rt.reloadLocked(force)
	rt.metrics.ConfigReloaded(result)
	switch result {
	case reloadOK:
		rt.log.Info("config reloaded", "trigger", trigger, "routes", len(rt.gen().cfg.Routes))
	case reloadUnchanged:
		rt.log.Debug("config unchanged", "trigger", trigger)
	default:
		rt.log.Error("config reload refused; the running config stays", "trigger", trigger, "result", result, "error", err.Error())
	}
	if rt.certs != nil && trigger == "SIGHUP" {
		if err := rt.certs.Reload(); err != nil {
			rt.log.Error("reloading certificates", "error", err.Error())
		} else {
			rt.log.Info("certificates reloaded")
		}
	}
	return result
}

func (rt *runtime) reloadLocked(force bool) (string, error) {
	if rt.load == nil {
		return reloadInvalid, errors.New("nothing to reload")
	}
	cfg, err := rt.load()
	if err != nil {
		return reloadInvalid, err
	}
	fp := fingerprint(rt.configPath, cfg, rt.env)
	if !force && bytes.Equal(fp, rt.fingerprint) {
		return reloadUnchanged, nil
	}
	old := rt.gen()
	if err := restartOnly(old.cfg, cfg); err != nil {
		return reloadRestartRequired, err
	}
	g, err := rt.build(cfg)
	if err != nil {
		if errors.Is(err, errRestart) {
			return reloadRestartRequired, err
		}
		return reloadInvalid, err
	}
	if t := g.handler.MaxTimeout(); t > rt.maxTimeout {
		return reloadRestartRequired, fmt.Errorf("a route timeout of %v is longer than the %v the listener's write timeout was set for: %w", t, rt.maxTimeout, errRestart)
	}
	rt.cur.Store(g)
	old.handler.CloseIdleConnections() // its requests in flight finish first
	rt.fingerprint = fp
	if rt.disp != nil {
		if err := rt.disp.reconcile(dispatcherSpecs(cfg)); err != nil {
			return reloadInvalid, err
		}
	}
	return reloadOK, nil
}

// restartOnly compares what a reload cannot change: the listeners, the
// tls mode and its settings, the admin listener, the kinds and settings
// of the stores, the log level, watch itself.
func restartOnly(old, cfg *fileConfig) error {
	dedupe := func(c *fileConfig) dedupeConfig {
		if c.Dedupe == nil {
			return dedupeConfig{}
		}
		d := *c.Dedupe
		d.OnStoreError = "" // may change
		return d
	}
	for _, c := range []struct {
		key      string
		old, new any
	}{
		{"listen", listenAddr(old), listenAddr(cfg)},
		{"log_level", old.LogLevel, cfg.LogLevel},
		{"watch", old.Watch, cfg.Watch},
		{"tls", old.TLS, cfg.TLS},
		{"admin", old.Admin, cfg.Admin},
		{"dedupe", dedupe(old), dedupe(cfg)},
		{"queue", old.Queue, cfg.Queue},
	} {
		if !reflect.DeepEqual(c.old, c.new) {
			return fmt.Errorf("%s changed: %w", c.key, errRestart)
		}
	}
	return nil
}

// secretFiles lists the files the config's file: secrets are read from.
func secretFiles(cfg *fileConfig) []string {
	var files []string
	add := func(v string) {
		if p, ok := strings.CutPrefix(v, "file:"); ok {
			files = append(files, p)
		}
	}
	for _, rc := range cfg.Routes {
		for _, list := range rc.Secrets {
			for _, v := range list {
				add(v)
			}
		}
		if rc.Forward != nil {
			add(rc.Forward.SigningSecret)
		}
	}
	if cfg.Admin != nil {
		add(cfg.Admin.Token)
	}
	sort.Strings(files)
	return files
}

// fingerprint hashes the config file and every file: secret, so that a
// watch event that changed nothing reloads nothing.
func fingerprint(configPath string, cfg *fileConfig, e env) []byte {
	h := sha256.New()
	for _, p := range append([]string{configPath}, secretFiles(cfg)...) {
		if p == "" {
			continue
		}
		b, err := e.readFile(p)
		fmt.Fprintf(h, "%s\x00%d\x00%v\x00", p, len(b), err != nil)
		h.Write(b)
	}
	return h.Sum(nil)
}

// watcher watches the directories of the config file and of its file:
// secrets, not the files: editors and Kubernetes replace files by rename
// or by swapping a symlink, which a watch on the file itself misses.
type watcher struct {
	rt      *runtime
	fs      *fsnotify.Watcher
	dirs    map[string]bool
	changed chan struct{}
	done    chan struct{}
}

func newWatcher(rt *runtime) (*watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &watcher{rt: rt, fs: fw, dirs: map[string]bool{}, changed: make(chan struct{}, 1), done: make(chan struct{})}
	w.update()
	go w.loop()
	return w, nil
}

// update watches the directories the current config needs.
func (w *watcher) update() {
	want := map[string]bool{}
	for _, p := range append([]string{w.rt.configPath}, secretFiles(w.rt.gen().cfg)...) {
		want[filepath.Dir(p)] = true
	}
	for d := range want {
		if w.dirs[d] {
			continue
		}
		if err := w.fs.Add(d); err != nil {
			w.rt.log.Warn("watch: cannot watch a directory", "dir", d, "error", err.Error())
			continue
		}
		w.dirs[d] = true
	}
	for d := range w.dirs {
		if !want[d] {
			w.fs.Remove(d)
			delete(w.dirs, d)
		}
	}
}

// loop turns bursts of events into one signal after watchDebounce.
func (w *watcher) loop() {
	var timer *time.Timer
	var fire <-chan time.Time
	for {
		select {
		case <-w.done:
			return
		case _, ok := <-w.fs.Events:
			if !ok {
				return
			}
			if timer == nil {
				timer = time.NewTimer(watchDebounce)
			} else {
				timer.Reset(watchDebounce)
			}
			fire = timer.C
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			w.rt.log.Warn("watch: error", "error", err.Error())
		case <-fire:
			fire = nil
			select {
			case w.changed <- struct{}{}:
			default:
			}
		}
	}
}

func (w *watcher) close() {
	close(w.done)
	w.fs.Close()
}
