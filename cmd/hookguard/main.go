// Command hookguard verifies webhooks (LiveKit, Tencent, LiveSwitch,
// Standard Webhooks) in front of an app and forwards only verified,
// deduplicated events.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	if err != nil && !errors.Is(err, errHelp) {
		fmt.Fprintln(os.Stderr, "hookguard:", err)
		os.Exit(1)
	}
}

var errHelp = errors.New("help requested")

const usage = `hookguard verifies webhooks and forwards only verified, deduplicated events.

Usage:
  hookguard [serve] [flags]     run the proxy (--config FILE, or single-route flags)
  hookguard demo [--once]       run hookguard, a demo app and a demo sender on loopback
  hookguard send [flags]        sign and post a test webhook to a URL
  hookguard check --config FILE validate a config and print its routes (no secrets)
  hookguard queue status|dead|replay|drop   the durable queue and its dead letters
  hookguard healthcheck [URL]   exit 0 when the admin /readyz answers 200
  hookguard version

Run "hookguard COMMAND --help" for the flags of a command.
`

// run is main without the process: arguments, environment and output are
// passed in, and it returns instead of exiting.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	e := env{getenv: getenv, readFile: os.ReadFile, now: time.Now}
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, e, stderr)
	case "demo":
		return demo(ctx, args, e, stdout, stderr)
	case "send":
		return send(ctx, args, e, stdout, stderr)
	case "check":
		return check(args, e, stdout, stderr)
	case "queue":
		return queueCmd(ctx, args, e, stdout, stderr)
	case "healthcheck":
		return healthcheck(ctx, args, stdout)
	case "version":
		fmt.Fprintln(stdout, "hookguard", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}
