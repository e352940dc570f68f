package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/hookguard/hookguard/dedupe"
	"github.com/hookguard/hookguard/proxy"
)

// readiness holds what /readyz reports beyond the checks of components.
type readiness struct {
	listening atomic.Bool
}

func (rt *runtime) adminHandler() http.Handler {
	checks := []proxy.ReadyCheck{{Name: "listeners", Check: func(context.Context) error {
		if !rt.ready.listening.Load() {
			return errors.New("not listening")
		}
		return nil
	}}}
	if p, ok := rt.store.(dedupe.Pinger); ok {
		checks = append(checks, proxy.ReadyCheck{Name: "dedupe_store", Check: p.Ping})
	}
	if rt.certs != nil {
		checks = append(checks, proxy.ReadyCheck{Name: "certificates", Check: func(context.Context) error { return rt.certs.Ready() }})
	}
	return proxy.AdminHandler(rt.metrics, checks)
}

// healthcheck asks the admin listener's /readyz and fails unless it
// answers 200. It needs no shell, so a container image can use it.
func healthcheck(ctx context.Context, args []string, stdout io.Writer) error {
	url := "http://" + defaultAdminListen + "/readyz"
	if len(args) > 0 {
		url = args[0]
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Fprint(stdout, string(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d", url, resp.StatusCode)
	}
	return nil
}
