package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hookguard/hookguard/internal/freeport"
	"github.com/hookguard/hookguard/internal/procstat"
)

// proc is one started process (and, for nginx, its workers).
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // set when done is closed
}

func start(name string, cmd *exec.Cmd) (*proc, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// pids is the process and all its descendants (nginx's workers).
func (p *proc) pids() []int {
	out := []int{p.pid()}
	for i := 0; i < len(out); i++ {
		out = append(out, children(out[i])...)
	}
	return out
}

// stop sends SIGTERM and waits, then kills.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited: %v", p.name, p.err)
	default:
		return nil
	}
}

func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

func statusKB(pid int, name string) int64 { return procstat.StatusKB(pid, name) }

// sumKB adds statusKB over pids.
func sumKB(pids []int, name string) int64 {
	var t int64
	for _, p := range pids {
		t += statusKB(p, name)
	}
	return t
}

// clkTck is USER_HZ, 100 on every Linux this runs on.
const clkTck = 100

// cpuTime is user+system CPU time of pids, from /proc/PID/stat.
func cpuTime(pids []int) time.Duration {
	var ticks int64
	for _, p := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			f := strings.Fields(s[i+1:])
			// After the command: state(0) ... utime(11) stime(12).
			if len(f) > 12 {
				u, _ := strconv.ParseInt(f[11], 10, 64)
				st, _ := strconv.ParseInt(f[12], 10, 64)
				ticks += u + st
			}
		}
	}
	return time.Duration(ticks) * time.Second / clkTck
}

// waitHTTP polls url until it answers want, p exits, or timeout passes.
func waitHTTP(url string, want int, p *proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: time.Second}
	for {
		if err := p.exited(); err != nil {
			return err
		}
		resp, err := c.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == want {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %s not ready after %v: %v", p.name, url, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startApp runs this program as the test app and returns it with its address.
func startApp(dir string) (*proc, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(self, "app", "127.0.0.1:0")
	cmd.Stderr = logFile(dir, "app.log")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	p, err := start("app", cmd)
	if err != nil {
		return nil, "", err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		p.stop()
		return nil, "", fmt.Errorf("app: reading its address: %w", err)
	}
	addr := strings.TrimSpace(line)
	return p, addr, waitHTTP("http://"+addr+"/stats", 200, p, 10*time.Second)
}

func appPosts(appAddr string) (int64, error) {
	resp, err := http.Get("http://" + appAddr + "/stats")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// startNginx runs Debian's nginx as a plain reverse proxy to the app:
// 2 workers, keep-alive to the upstream, no access log.
func startNginx(dir, nginxBin, appAddr string) (*proc, string, error) {
	addr, err := freeport.Addr()
	if err != nil {
		return nil, "", err
	}
	pd := filepath.Join(dir, "nginx")
	for _, sub := range []string{"", "logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(pd, sub), 0o755); err != nil {
			return nil, "", err
		}
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;\n" // workers need the temp dirs of this prefix
	}
	conf := user + `worker_processes 2;
daemon off;
pid ` + pd + `/nginx.pid;
error_log ` + pd + `/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path ` + pd + `/tmp/body;
    proxy_temp_path ` + pd + `/tmp/proxy;
    fastcgi_temp_path ` + pd + `/tmp/fastcgi;
    uwsgi_temp_path ` + pd + `/tmp/uwsgi;
    scgi_temp_path ` + pd + `/tmp/scgi;
    keepalive_requests 1000000;
    upstream app {
        server ` + appAddr + `;
        keepalive 128;
    }
    server {
        listen ` + addr + `;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`
	cf := filepath.Join(pd, "nginx.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return nil, "", err
	}
	cmd := exec.Command(nginxBin, "-p", pd+"/", "-c", cf, "-e", pd+"/logs/error.log")
	cmd.Stderr = logFile(dir, "nginx.stderr")
	p, err := start("nginx", cmd)
	if err != nil {
		return nil, "", err
	}
	return p, addr, waitListening(addr, p)
}

// startCaddy runs Debian's caddy with reverse_proxy to the app: admin
// off, automatic HTTPS off, no access log.
func startCaddy(dir, caddyBin, appAddr string) (*proc, string, error) {
	addr, err := freeport.Addr()
	if err != nil {
		return nil, "", err
	}
	cd := filepath.Join(dir, "caddy")
	if err := os.MkdirAll(cd, 0o755); err != nil {
		return nil, "", err
	}
	conf := `{
  "admin": {"disabled": true},
  "apps": {"http": {"servers": {"bench": {
    "listen": ["` + addr + `"],
    "automatic_https": {"disable": true},
    "routes": [{"handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": "` + appAddr + `"}]}]}]
  }}}}
}
`
	cf := filepath.Join(cd, "caddy.json")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return nil, "", err
	}
	cmd := exec.Command(caddyBin, "run", "--config", cf)
	cmd.Env = append(os.Environ(), "HOME="+cd, "XDG_CONFIG_HOME="+cd, "XDG_DATA_HOME="+cd)
	cmd.Stdout = logFile(dir, "caddy.log")
	cmd.Stderr = cmd.Stdout
	p, err := start("caddy", cmd)
	if err != nil {
		return nil, "", err
	}
	return p, addr, waitListening(addr, p)
}

// startHookguard runs the built binary with one LiveKit route to the app
// and the memory dedupe store, logging (one JSON line per webhook, as in
// production) to a file.
func startHookguard(dir, bin, appAddr, logLevel string, dedupeSize int) (*proc, string, string, error) {
	addr, err := freeport.Addr()
	if err != nil {
		return nil, "", "", err
	}
	admin, err := freeport.Addr()
	if err != nil {
		return nil, "", "", err
	}
	args := []string{"serve", "--provider", "livekit", "--path", "/livekit",
		"--upstream", "http://" + appAddr + "/livekit", "--secret", apiKey + "=env:BENCH_LIVEKIT_SECRET",
		"--listen", addr, "--admin-listen", admin, "--dedupe-store", "memory",
		"--dedupe-size", strconv.Itoa(dedupeSize)}
	if logLevel != "" {
		args = append(args, "--log-level", logLevel)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "BENCH_LIVEKIT_SECRET="+apiSecret)
	cmd.Stderr = logFile(dir, "hookguard.log")
	p, err := start("hookguard", cmd)
	if err != nil {
		return nil, "", "", err
	}
	return p, addr, admin, waitHTTP("http://"+admin+"/readyz", 200, p, 10*time.Second)
}

// waitListening waits until addr accepts connections.
func waitListening(addr string, p *proc) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := p.exited(); err != nil {
			return err
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %s not listening after 10s: %w", p.name, addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func logFile(dir, name string) *os.File {
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return nil
	}
	return f
}

// buildHookguard builds ./cmd/hookguard of the module at root into dir.
func buildHookguard(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "hookguard")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/hookguard")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/hookguard: %v\n%s", err, out)
	}
	return bin, nil
}

// moduleRoot finds the directory of the hookguard go.mod from the working
// directory upwards.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/hookguard/hookguard\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the hookguard repository (no go.mod of github.com/hookguard/hookguard found)")
		}
		dir = parent
	}
}
