package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/hookguard/hookguard/proxy"
	"github.com/hookguard/hookguard/verify"
	"github.com/spf13/pflag"
)

// check validates a config the way serve would (secrets are read, never
// printed) and prints the effective routes.
func check(args []string, e env, stdout, stderr io.Writer) error {
	fs, f := newServeFlagSet("hookguard check", stderr)
	fs.BoolP("dry-run", "n", true, "accepted for symmetry; check never listens")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return errHelp
		}
		return err
	}
	if err := applyEnv(fs, e.getenv); err != nil {
		return err
	}
	cfg, err := loadConfig(fs, f, e)
	if err != nil {
		return err
	}
	if _, err := parseLevel(cfg.LogLevel); err != nil {
		return err
	}
	rt, err := newRuntime(cfg, e, discardLogger(), true)
	if err != nil {
		return err
	}
	rt.close()
	fmt.Fprintf(stdout, "listen: %s\n", rt.listenAddr())
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tPROVIDER\tUPSTREAM\tKEY IDS\tTIMEOUT\tMAX BODY\tFORWARD")
	keyIDs := map[string][]string{}
	for _, rc := range cfg.Routes {
		for id, l := range rc.Secrets {
			keyIDs[rc.Path] = append(keyIDs[rc.Path], fmt.Sprintf("%s(%d)", id, len(l)))
		}
		sort.Strings(keyIDs[rc.Path])
	}
	for _, r := range rt.gen().handler.Routes() {
		ids := keyIDs[r.Path]
		fwd := r.Forward.Format
		if r.Forward.SigningKey != nil {
			fwd += "+signed"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Path, r.Provider, r.Upstream.Redacted(), strings.Join(ids, ","), r.Timeout, r.MaxBody, fwd)
	}
	tw.Flush()
	for _, w := range queueWarnings(cfg) {
		fmt.Fprintln(stdout, "warning:", w)
	}
	fmt.Fprintln(stdout, "config ok")
	return nil
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// queueWarnings are the provider caveats of the queue routes of cfg.
func queueWarnings(cfg *fileConfig) []string {
	var out []string
	for i, rc := range cfg.Routes {
		if rc.Delivery != proxy.DeliveryQueue {
			continue
		}
		if p, err := verify.Lookup(rc.Provider); err == nil && p.QueueCaveat != "" {
			out = append(out, fmt.Sprintf("routes[%d] (%s): delivery: queue: %s", i, rc.Path, p.QueueCaveat))
		}
	}
	return out
}
