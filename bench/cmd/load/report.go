package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// median returns the result of median throughput among rs.
func median(rs []closedResult) closedResult {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b closedResult) int {
		switch {
		case a.st.rps() < b.st.rps():
			return -1
		case a.st.rps() > b.st.rps():
			return 1
		}
		return 0
	})
	return s[len(s)/2]
}

func printClosed(w io.Writer, o options, tgs []*target, results map[string][]closedResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "target\treq/s\tp50\tp99\tp99.9\tnon-200\tapp got\tCPU/req target\tCPU/req app\tCPU/req generator\t\n")
	med := map[string]closedResult{}
	for _, t := range tgs {
		r := median(results[t.name])
		med[t.name] = r
		n := float64(max(r.st.sent, 1))
		proxyCPU := "-"
		if t.p != nil {
			proxyCPU = us(r.cpuProxy, n)
		}
		flag := ""
		if r.st.exhausted {
			flag = " (all pre-signed requests sent)"
		}
		fmt.Fprintf(tw, "%s\t%.0f%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t\n", t.name, r.st.rps(), flag,
			ms(r.st.quantile(0.50)), ms(r.st.quantile(0.99)), ms(r.st.quantile(0.999)), r.st.sent-r.st.ok, r.appPosts,
			proxyCPU, us(r.cpuApp, n), us(r.cpuGen, n))
	}
	tw.Flush()
	if o.rounds > 1 {
		fmt.Fprintf(w, "(median of %d rounds by req/s; every round:", o.rounds)
		for _, t := range tgs {
			fmt.Fprintf(w, " %s", t.name)
			for _, r := range results[t.name] {
				fmt.Fprintf(w, " %.0f", r.st.rps())
			}
			fmt.Fprint(w, ";")
		}
		fmt.Fprintln(w, ")")
	}
	for _, name := range []string{"hookguard", "hookguard-b", "hookguard-queue", "hookguard-b-queue"} {
		if hg, ok := med[name]; ok {
			printRatios(w, name, hg, med)
		}
	}
	if q, ok := med["hookguard-queue"]; ok {
		if s, ok := med["hookguard"]; ok {
			fmt.Fprintf(w, "delivery: queue / delivery: sync: throughput %.2f× (target ≥ 0.7×), sender's ack p99 %s vs %s\n",
				q.st.rps()/s.st.rps(), ms(q.st.quantile(0.99)), ms(s.st.quantile(0.99)))
		}
		fmt.Fprintf(w, "hookguard-queue: enqueue p99 ≤ %s (histogram bucket); queue empty %s after each run ended (every round:",
			ms(q.enqueueP99), ms(q.drain))
		for _, r := range results["hookguard-queue"] {
			fmt.Fprintf(w, " %s", ms(r.drain))
		}
		fmt.Fprintln(w, ")")
	}
}

func printRatios(w io.Writer, hgName string, hg closedResult, med map[string]closedResult) {
	fmt.Fprintf(w, "ratios (%s / other): ", hgName)
	var parts []string
	for _, name := range []string{"caddy", "nginx", "direct", "hookguard", "hookguard-queue"} {
		if r, ok := med[name]; ok && name != hgName {
			parts = append(parts, fmt.Sprintf("throughput %.2f× %s (p99 %.2f×)", hg.st.rps()/r.st.rps(), name,
				float64(hg.st.quantile(0.99))/float64(max(r.st.quantile(0.99), 1))))
		}
	}
	fmt.Fprintln(w, strings.Join(parts, "; "))
	if hg.appPosts != int64(hg.st.ok) { // a queue target's count is read once its queue is empty
		fmt.Fprintf(w, "WARNING: %s answered 200 to %d events but the app received %d\n", hgName, hg.st.ok, hg.appPosts)
	}
}

func printOpen(w io.Writer, tgs []*target, open map[string]*runStats) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "target\tsent\tnon-200\tachieved req/s\tp50\tp99\tp99.9\tmax\t\n")
	for _, t := range tgs {
		s := open[t.name]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t\n", t.name, s.sent, s.errors, float64(s.ok)/s.elapsed.Seconds(),
			ms(s.quantile(0.50)), ms(s.quantile(0.99)), ms(s.quantile(0.999)), ms(s.quantile(1)))
	}
	tw.Flush()
	d := open["direct"]
	if d == nil {
		return
	}
	for _, t := range tgs {
		if o := open[t.name]; t.name != "direct" && o != nil {
			fmt.Fprintf(w, "added by %s (its quantile − direct's): p50 %+.3f ms, p99 %+.3f ms\n", t.name,
				float64(o.quantile(0.50)-d.quantile(0.50))/1e6, float64(o.quantile(0.99)-d.quantile(0.99))/1e6)
		}
	}
}

func machine(w io.Writer, root string) {
	model := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	load, _ := os.ReadFile("/proc/loadavg")
	goVer, _ := exec.Command("go", "version").Output()
	nginxVer, _ := exec.Command("nginx", "-v").CombinedOutput()
	caddyVer, _ := exec.Command("caddy", "version").Output()
	rev, _ := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	fmt.Fprintf(w, "hookguard load benchmark, %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "machine: %d CPUs (%s), Linux %s, %s", runtime.NumCPU(), model, strings.TrimSpace(string(kernel)), strings.TrimSpace(string(goVer)))
	fmt.Fprintf(w, ", %s, caddy %s, hookguard at %s (plus uncommitted changes, if any)\n",
		strings.TrimSpace(string(nginxVer)), strings.TrimSpace(string(caddyVer)), strings.TrimSpace(string(rev)))
	fmt.Fprintf(w, "load average at start: %s", load)
	fmt.Fprintf(w, "note: the load generator, the app and the proxy share these %d CPUs; every target is measured by the same\n"+
		"generator with the same connections in this one invocation, and CPU per request is reported for each process.\n", runtime.NumCPU())
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/1e6) }

func us(d time.Duration, n float64) string {
	return fmt.Sprintf("%.0f µs", float64(d.Microseconds())/n)
}

func mib(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }
