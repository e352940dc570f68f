// Command load compares hookguard with plain reverse proxies on loopback.
//
// In one run it starts a Go test app, Debian's nginx and caddy as plain
// reverse proxies in front of it, and hookguard (the binary built from this
// repository: LiveKit route, memory dedupe) in front of the same app. A load
// generator in this process sends pre-signed LiveKit events, every one with
// a new id, at fixed concurrency for a bounded time to each target in turn
// (the app directly, nginx, caddy, hookguard), then at a fixed rate
// (open loop). It prints requests per second, latency quantiles, peak RSS
// and CPU per request of each, and the ratios of hookguard to the others.
//
//	go run ./bench/cmd/load                 # defaults: 10 s per target, 32 connections
//	go run ./bench/cmd/load -rss-keys 1000000
//
// Everything runs on this machine, on 127.0.0.1; every loop is bounded in
// time and in requests.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"
)

type options struct {
	duration, warmup    time.Duration
	concurrency         int
	rate                float64
	openDuration        time.Duration
	openConns           int
	openSideBySide      bool
	openRounds          int
	targets             []string
	maxRequests         int
	rounds              int
	logLevel            string
	rssKeys             int
	nginx, caddy, hgBin string
	bBin, bLogLevel     string
	keep                bool
	out                 string
	// queue targets and the drain run
	queueConcurrency int
	drainEvents      int
	drainConc        []int
	drainTimeout     time.Duration
}

func main() {
	if len(os.Args) > 2 && os.Args[1] == "app" {
		if err := runApp(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "app:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	var targets, drainConc string
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "closed-loop run per target (0: no closed-loop runs)")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "closed-loop warm-up per target, not counted")
	flag.IntVar(&o.concurrency, "concurrency", 32, "closed-loop connections, each with one request outstanding")
	flag.Float64Var(&o.rate, "rate", 500, "open-loop requests per second (0: skip the open-loop runs)")
	flag.DurationVar(&o.openDuration, "open-duration", 10*time.Second, "open-loop run per target")
	flag.IntVar(&o.openConns, "open-conns", 64, "open-loop connections per target")
	flag.IntVar(&o.openRounds, "open-rounds", 4, "open-loop rounds: each target runs open-duration/open-rounds per round, in rotating order, and the rounds are pooled")
	flag.BoolVar(&o.openSideBySide, "open-side-by-side", false, "run the open-loop targets at the same time (the machine then carries rate × targets)")
	flag.StringVar(&targets, "targets", "direct,nginx,caddy,hookguard,hookguard-queue", "targets, in order (hookguard-queue: the same route with delivery: queue on the disk store)")
	flag.IntVar(&o.queueConcurrency, "queue-concurrency", 8, "hookguard-queue: the route's concurrency (deliveries to the app at once)")
	flag.IntVar(&o.drainEvents, "drain-events", 50000, "drain run: events queued while the app is down, then timed until delivered (0 skips)")
	flag.StringVar(&drainConc, "drain-concurrency", "1,8", "drain run: the route concurrencies to time, one run each")
	flag.DurationVar(&o.drainTimeout, "drain-timeout", 5*time.Minute, "drain run: bound on the wait for an empty queue")
	flag.IntVar(&o.maxRequests, "max-requests", 400000, "bound on the requests of one closed-loop run (events pre-signed)")
	flag.IntVar(&o.rounds, "rounds", 1, "closed-loop rounds over all targets (the order rotates; medians are reported)")
	flag.StringVar(&o.logLevel, "log-level", "", "hookguard's --log-level (default: its own, info: one line per webhook)")
	flag.IntVar(&o.rssKeys, "rss-keys", 0, "also measure hookguard's RSS holding this many dedupe keys (e.g. 1000000); 0 skips")
	flag.StringVar(&o.nginx, "nginx", "/usr/sbin/nginx", "nginx binary")
	flag.StringVar(&o.caddy, "caddy", "/usr/bin/caddy", "caddy binary")
	flag.StringVar(&o.hgBin, "hookguard", "", "hookguard binary (default: go build ./cmd/hookguard)")
	flag.StringVar(&o.bBin, "b", "", "also load a second hookguard binary, target \"hookguard-b\" (before/after comparisons; target hookguard-b-queue runs it with delivery: queue); \"same\" reuses the first")
	flag.StringVar(&o.bLogLevel, "b-log-level", "", "--log-level of hookguard-b")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (configs and logs)")
	flag.StringVar(&o.out, "out", "bench/out/latest.txt", "also write the report here (relative to the repository root; empty: no file)")
	flag.Parse()
	o.targets = strings.Split(targets, ",")
	for _, c := range strings.Split(drainConc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "load: -drain-concurrency: %q is not a positive number\n", c)
			os.Exit(2)
		}
		o.drainConc = append(o.drainConc, n)
	}
	if o.bBin != "" && !slices.Contains(o.targets, "hookguard-b") {
		o.targets = append(o.targets, "hookguard-b")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// target is one endpoint under load and the processes it costs.
type target struct {
	name  string
	addr  string
	path  string
	p     *proc  // nil for direct: the app itself is the target
	admin string // hookguard-queue: its admin listener, to read the queue's figures
}

// settle waits, for a queue target, until its queue is empty (every event
// acknowledged has reached the app), so that deliveries do not run into the
// next measurement; it returns how long that took.
func (t *target) settle(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	if t.admin == "" {
		return 0, nil
	}
	return waitQueueEmpty(ctx, t.admin, t.p, timeout)
}

type closedResult struct {
	st                       *runStats
	cpuProxy, cpuApp, cpuGen time.Duration
	appPosts                 int64
	// queue targets: time from the end of the run until the queue was
	// empty, and the enqueue p99 (histogram bucket bound) over the run.
	drain      time.Duration
	enqueueP99 time.Duration
}

func run(ctx context.Context, o options) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "hookguard-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	var report strings.Builder
	w := io.MultiWriter(os.Stdout, &report)
	machine(w, root)

	bin := o.hgBin
	if bin == "" {
		if bin, err = buildHookguard(ctx, root, dir); err != nil {
			return err
		}
	}

	app, appAddr, err := startApp(dir)
	if err != nil {
		return err
	}
	defer app.stop()

	var procs []*proc
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	var tgs []*target
	for _, name := range o.targets {
		t := &target{name: name, path: "/livekit"}
		switch name {
		case "direct":
			t.addr = appAddr
		case "nginx":
			t.p, t.addr, err = startNginx(dir, o.nginx, appAddr)
		case "caddy":
			t.p, t.addr, err = startCaddy(dir, o.caddy, appAddr)
		case "hookguard":
			t.p, t.addr, _, err = startHookguard(dir, bin, appAddr, o.logLevel, 4*o.maxRequests*o.rounds+100000)
		case "hookguard-queue":
			t.p, t.addr, t.admin, err = startHookguardQueue(dir, bin, "hookguard-queue", appAddr, o.logLevel, o.queueConcurrency,
				"{initial_backoff: 100ms, max_backoff: 2s}")
		case "hookguard-b-queue":
			b := o.bBin
			if b == "same" || b == "" {
				b = bin
			}
			t.p, t.addr, t.admin, err = startHookguardQueue(dir, b, "hookguard-b-queue", appAddr, o.bLogLevel, o.queueConcurrency,
				"{initial_backoff: 100ms, max_backoff: 2s}")
		case "hookguard-b":
			b := o.bBin
			if b == "same" || b == "" {
				b = bin
			}
			t.p, t.addr, _, err = startHookguard(dir, b, appAddr, o.bLogLevel, 4*o.maxRequests*o.rounds+100000)
		default:
			return fmt.Errorf("unknown target %q (want direct, nginx, caddy, hookguard, hookguard-queue, hookguard-b, hookguard-b-queue)", name)
		}
		if t.p != nil {
			procs = append(procs, t.p)
		}
		if err != nil {
			return err
		}
		tgs = append(tgs, t)
	}

	if o.duration > 0 {
		if err := closedRuns(ctx, w, o, tgs, app, appAddr); err != nil {
			return err
		}
	}

	if o.rate > 0 {
		if err := openRuns(ctx, w, o, tgs, app); err != nil {
			return err
		}
	}

	fmt.Fprintf(w, "\npeak RSS (VmHWM, all processes of the target, over the whole run):\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "target\tpeak RSS\t\n")
	fmt.Fprintf(tw, "app (behind all)\t%s\t\n", mib(statusKB(app.pid(), "VmHWM")))
	for _, t := range tgs {
		if t.p != nil {
			fmt.Fprintf(tw, "%s\t%s\t\n", t.name, mib(sumKB(t.p.pids(), "VmHWM")))
		}
	}
	tw.Flush()

	if o.drainEvents > 0 {
		fmt.Fprintf(w, "\ndrain: %d events sent (%d connections) to a fresh hookguard-queue whose app is down (retry: initial_backoff 1s, max_backoff 5s),\n"+
			"  then the app starts; time from its start until the queue is empty (hookguard_queue_waiting + retrying = 0):\n", o.drainEvents, o.concurrency)
		for _, c := range o.drainConc {
			if err := drainRun(ctx, w, dir, bin, o, c); err != nil {
				return err
			}
		}
	}

	if o.rssKeys > 0 {
		for _, p := range procs {
			p.stop()
		}
		procs = nil
		if err := rssPerKey(ctx, w, dir, bin, appAddr, o); err != nil {
			return err
		}
	}

	if o.out != "" {
		path := o.out
		if !filepath.IsAbs(path) {
			path = filepath.Join(root, path)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
			os.WriteFile(path, []byte(report.String()), 0o644)
			fmt.Fprintln(os.Stderr, "report written to", path)
		}
	}
	return nil
}

func closedRuns(ctx context.Context, w io.Writer, o options, tgs []*target, app *proc, appAddr string) error {
	fmt.Fprintf(w, "\nclosed loop: %d connections, %v per target after %v of warm-up, %d round(s), ≤ %d requests per run,\n"+
		"  1 KiB LiveKit participant_joined events pre-signed before each run, every request a new event id\n",
		o.concurrency, o.duration, o.warmup, o.rounds, o.maxRequests)
	results := map[string][]closedResult{}
	for round := range o.rounds {
		for k := range tgs {
			t := tgs[(k+round)%len(tgs)]
			if err := ctx.Err(); err != nil {
				return err
			}
			p, err := newPool(o.maxRequests, fmt.Sprintf("EV_%s_r%d_", t.name, round), t.path, time.Now())
			if err != nil {
				return err
			}
			res := closedResult{}
			var posts0 int64
			var cpuP0, cpuA0, cpuG0 time.Duration
			var settleErr error
			res.st = closedLoop(t.addr, p, o.concurrency, o.warmup, o.duration, func() {
				_, settleErr = t.settle(ctx, o.drainTimeout) // the warm-up's events delivered first
				posts0, _ = appPosts(appAddr)
				cpuP0, cpuA0, cpuG0 = targetCPU(t), cpuTime([]int{app.pid()}), selfCPU()
			})
			if settleErr != nil {
				return settleErr
			}
			if t.admin != "" {
				q, err := readQueue(t.admin)
				if err != nil {
					return err
				}
				res.enqueueP99 = q.enqueueP99
				if res.drain, err = t.settle(ctx, o.drainTimeout); err != nil {
					return err
				}
			}
			// CPU includes, for a queue target, delivering what the run queued.
			res.cpuProxy, res.cpuApp, res.cpuGen = targetCPU(t)-cpuP0, cpuTime([]int{app.pid()})-cpuA0, selfCPU()-cpuG0
			posts1, _ := appPosts(appAddr)
			res.appPosts = posts1 - posts0
			if err := checkAlive(tgs, app); err != nil {
				return err
			}
			results[t.name] = append(results[t.name], res)
			fmt.Fprintf(os.Stderr, "  round %d %-9s %8.0f req/s  p99 %v  errors %d\n", round+1, t.name, res.st.rps(), res.st.quantile(0.99).Round(time.Microsecond), res.st.errors)
			p = nil
			runtime.GC()
		}
	}
	printClosed(w, o, tgs, results)
	return nil
}

// openRuns sends to every target at o.rate for o.openDuration. By default
// the targets take turns in o.openRounds rounds (rotating the order), and
// each target's rounds are pooled, so that slow drifts in what else the
// machine does weigh on all of them alike while the machine carries only
// o.rate at a time.
func openRuns(ctx context.Context, w io.Writer, o options, tgs []*target, app *proc) error {
	n := int(o.rate * o.openDuration.Seconds())
	rounds := max(1, o.openRounds)
	how := fmt.Sprintf("targets taking turns in %d rounds of %v", rounds, o.openDuration/time.Duration(rounds))
	if o.openSideBySide {
		how, rounds = "all targets at the same time", 1
	}
	fmt.Fprintf(w, "\nopen loop: %.0f req/s per target, %v per target (%d requests each), %s, up to %d connections;\n"+
		"  latency from when each request was due\n", o.rate, o.openDuration, n, how, o.openConns)
	pools := map[string]*pool{}
	for _, t := range tgs {
		p, err := newPool(n, "EV_open_"+t.name+"_", t.path, time.Now())
		if err != nil {
			return err
		}
		pools[t.name] = p
	}
	open := map[string]*runStats{}
	if o.openSideBySide {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for k, t := range tgs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Stagger the schedules so that requests to different
				// targets are not due at the same instant.
				time.Sleep(time.Duration(float64(time.Second) / o.rate * float64(k) / float64(len(tgs))))
				st := openLoop(t.addr, pools[t.name], o.rate, o.openConns)
				mu.Lock()
				open[t.name] = st
				mu.Unlock()
			}()
		}
		wg.Wait()
	} else {
		per := n / rounds
		for r := range rounds {
			for k := range tgs {
				if err := ctx.Err(); err != nil {
					return err
				}
				t := tgs[(k+r)%len(tgs)]
				st := openLoop(t.addr, pools[t.name].slice(r*per, (r+1)*per), o.rate, o.openConns)
				if _, err := t.settle(ctx, o.drainTimeout); err != nil {
					return err
				}
				if open[t.name] == nil {
					open[t.name] = &runStats{}
				}
				open[t.name].merge(st)
			}
		}
	}
	if err := checkAlive(tgs, app); err != nil {
		return err
	}
	printOpen(w, tgs, open)
	return nil
}

func targetCPU(t *target) time.Duration {
	if t.p == nil {
		return 0
	}
	return cpuTime(t.p.pids())
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func checkAlive(tgs []*target, app *proc) error {
	if err := app.exited(); err != nil {
		return err
	}
	for _, t := range tgs {
		if t.p != nil {
			if err := t.p.exited(); err != nil {
				return err
			}
		}
	}
	return nil
}
