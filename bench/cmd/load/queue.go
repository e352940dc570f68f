package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hookguard/hookguard/internal/freeport"
)

// The queue targets: hookguard with the LiveKit route in delivery: queue on
// the disk store (a bbolt file in the run's temporary directory, fsync'd
// per group commit). Its 200 means "stored"; a dispatcher delivers to the
// app behind it.

// queueRoute is the label of the route in hookguard's queue metrics.
const queueRoute = `route="/livekit"`

// startHookguardQueue runs the built binary with one LiveKit route in
// delivery: queue to upstream, its queue in dir/<name>.db, and returns it
// with its listen and admin addresses.
func startHookguardQueue(dir, bin, name, upstream, logLevel string, concurrency int, retry string) (*proc, string, string, error) {
	addr, err := freeport.Addr()
	if err != nil {
		return nil, "", "", err
	}
	admin, err := freeport.Addr()
	if err != nil {
		return nil, "", "", err
	}
	if logLevel == "" {
		logLevel = "info" // serve's default: one line per webhook, one per delivery attempt
	}
	cfg := `listen: ` + addr + `
log_level: ` + logLevel + `
admin: {listen: ` + admin + `}
dedupe: {store: memory}
queue: {store: disk, path: ` + filepath.Join(dir, name+".db") + `, max_events: 10000000}
routes:
  - path: /livekit
    provider: livekit
    upstream: http://` + upstream + `/livekit
    secrets: {` + apiKey + `: "${BENCH_LIVEKIT_SECRET}"}
    delivery: queue
    concurrency: ` + strconv.Itoa(concurrency) + `
    retry: ` + retry + `
`
	cf := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(cf, []byte(cfg), 0o600); err != nil {
		return nil, "", "", err
	}
	cmd := exec.Command(bin, "serve", "--config", cf)
	cmd.Env = append(os.Environ(), "BENCH_LIVEKIT_SECRET="+apiSecret)
	cmd.Stderr = logFile(dir, name+".log")
	cmd.Stdout = cmd.Stderr
	p, err := start(name, cmd)
	if err != nil {
		return nil, "", "", err
	}
	return p, addr, admin, waitHTTP("http://"+admin+"/readyz", 200, p, 10*time.Second)
}

// queueFigures reads the queue's gauges and counters from /metrics.
type queueFigures struct {
	waiting, retrying, dead float64
	delivered, retries      float64
	enqueueP99              time.Duration // from the histogram's buckets: the upper bound of the bucket holding the 99th percentile
}

func (q queueFigures) left() float64 { return q.waiting + q.retrying }

func readQueue(admin string) (queueFigures, error) {
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		return queueFigures{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return queueFigures{}, err
	}
	var q queueFigures
	type bucket struct {
		le    float64
		count float64
	}
	var buckets []bucket
	var total float64
	for _, line := range strings.Split(string(b), "\n") {
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		key, v := line[:i], line[i+1:]
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			continue
		}
		switch key {
		case "hookguard_queue_waiting{" + queueRoute + "}":
			q.waiting = f
		case "hookguard_queue_retrying{" + queueRoute + "}":
			q.retrying = f
		case "hookguard_queue_dead{" + queueRoute + "}":
			q.dead = f
		case `hookguard_queue_delivery_attempts_total{result="delivered",` + queueRoute + `}`:
			q.delivered = f
		case `hookguard_queue_delivery_attempts_total{result="retry",` + queueRoute + `}`:
			q.retries = f
		case "hookguard_queue_enqueue_duration_seconds_count{" + queueRoute + "}":
			total = f
		}
		if strings.HasPrefix(key, "hookguard_queue_enqueue_duration_seconds_bucket{") && strings.Contains(key, queueRoute) {
			if _, rest, ok := strings.Cut(key, `le="`); ok {
				le, _, _ := strings.Cut(rest, `"`)
				if x, err := strconv.ParseFloat(le, 64); err == nil {
					buckets = append(buckets, bucket{x, f})
				}
			}
		}
	}
	for _, bk := range buckets { // in increasing le, as exposed
		if total > 0 && bk.count >= 0.99*total {
			q.enqueueP99 = time.Duration(bk.le * float64(time.Second))
			break
		}
	}
	return q, nil
}

// waitQueueEmpty polls admin until the queue holds nothing (waiting and
// retrying both 0) or timeout passes, and returns how long it took.
func waitQueueEmpty(ctx context.Context, admin string, p *proc, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		if err := p.exited(); err != nil {
			return 0, err
		}
		q, err := readQueue(admin)
		if err == nil && q.left() == 0 {
			return time.Since(start), nil
		}
		if time.Since(start) > timeout {
			return 0, fmt.Errorf("queue not empty after %v: %+v (%v)", timeout, q, err)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// drainRun measures how fast a backlog drains: a fresh queue hookguard
// whose app is down (nothing listens on its upstream) is sent o.drainEvents
// events with o.concurrency connections, all acknowledged as stored; then
// the app starts on the upstream's address, and the run times how long
// until every event has reached it and the queue is empty.
func drainRun(ctx context.Context, w io.Writer, dir, bin string, o options, concurrency int) error {
	upstream, err := freeport.Addr()
	if err != nil {
		return err
	}
	name := fmt.Sprintf("hookguard-drain-c%d", concurrency)
	retry := "{initial_backoff: 1s, max_backoff: 5s}"
	p, addr, admin, err := startHookguardQueue(dir, bin, name, upstream, o.logLevel, concurrency, retry)
	if err != nil {
		return err
	}
	defer p.stop()
	pl, err := newPool(o.drainEvents, fmt.Sprintf("EV_drain_c%d_", concurrency), "/livekit", time.Now())
	if err != nil {
		return err
	}
	fill := closedLoop(addr, pl, o.concurrency, 0, 5*time.Minute, nil)
	if fill.ok != o.drainEvents {
		return fmt.Errorf("drain run: %d of %d events stored with the app down (first error: %v)", fill.ok, o.drainEvents, fill.firstErr)
	}
	before, err := readQueue(admin)
	if err != nil {
		return err
	}
	app, err := startAppAt(dir, upstream, name+"-app.log")
	if err != nil {
		return err
	}
	defer app.stop()
	took, err := waitQueueEmpty(ctx, admin, p, o.drainTimeout)
	if err != nil {
		return err
	}
	posts, err := appPosts(upstream)
	if err != nil {
		return err
	}
	after, _ := readQueue(admin)
	fmt.Fprintf(w, "  concurrency %d: %d events stored with the app down at %.0f/s (ack p50 %s, p99 %s; %v failed attempts meanwhile); "+
		"%v waiting + %v retrying when the app started; drained in %v: %.0f events/s; the app received %d (%d more than sent: duplicates), %v dead\n",
		concurrency, fill.ok, fill.rps(), ms(fill.quantile(0.50)), ms(fill.quantile(0.99)), before.retries,
		before.waiting, before.retrying, took.Round(10*time.Millisecond), float64(fill.ok)/took.Seconds(), posts, posts-int64(fill.ok), after.dead)
	return nil
}

// startAppAt runs the test app on addr.
func startAppAt(dir, addr, logName string) (*proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "app", addr)
	cmd.Stderr = logFile(dir, logName)
	p, err := start("app "+addr, cmd)
	if err != nil {
		return nil, err
	}
	return p, waitHTTP("http://"+addr+"/stats", 200, p, 10*time.Second)
}
