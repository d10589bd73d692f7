//go:build bench

package bench

// Scenario l7's processes: the backends, the proxies and their PIDs, all
// on loopback in the root namespace, each started and stopped by PID.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

// l7Proc is one process the scenario started; its Wait runs in a
// goroutine that ends when the process does, and stop (registered with
// t.Cleanup) ends the process and waits for that goroutine.
type l7Proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startL7Proc(t *testing.T, dir, name string, argv ...string) *l7Proc {
	t.Helper()
	p := &l7Proc{name: name, log: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("starting %s (%s): %v", name, argv[0], err)
	}
	go func() {
		_ = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(p.stop)
	return p
}

func (p *l7Proc) pid() int { return p.cmd.Process.Pid }

func (p *l7Proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, then SIGKILL after 5 s, and waits for the exit.
func (p *l7Proc) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *l7Proc) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// waitHTTP waits until GET http://addr/path answers 200.
func waitHTTP(t *testing.T, p *l7Proc, addr, path string) {
	t.Helper()
	cl := &http.Client{Timeout: 2 * time.Second}
	harness.Eventually(t, 15*time.Second, func() error {
		if p.exited() {
			t.Fatalf("%s exited before answering on %s:\n%s", p.name, addr, p.output())
		}
		resp, err := cl.Get("http://" + addr + path)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s on %s: GET %s: %s", p.name, addr, path, resp.Status)
		}
		return nil
	})
}

// freePorts returns n loopback addresses with ports the kernel picked
// free (released just before use).
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var ls []net.Listener
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("finding a free loopback port: %v", err)
		}
		ls = append(ls, l)
		addrs = append(addrs, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}
	return addrs
}

// goBuild builds the main package pkg (relative to the repository root)
// into dir and returns the binary's path.
func goBuild(t *testing.T, root, dir, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, "./"+pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./%s: %v\n%s", pkg, err, b)
	}
	return out
}

// children lists the PIDs of pid's child processes (nginx's workers).
func children(t *testing.T, pid int) []int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		t.Fatalf("children of %d: %v", pid, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("children of %d: %q: %v", pid, f, err)
		}
		pids = append(pids, n)
	}
	return pids
}

// busyTicks reads the machine's busy and total CPU ticks (/proc/stat).
func busyTicks(t *testing.T) (busy, total float64) {
	t.Helper()
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatalf("/proc/stat: %v", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		t.Fatalf("/proc/stat: first line %q", line)
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("/proc/stat: %q: %v", line, err)
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}

// pkgVersion is the installed version of a Debian package.
func pkgVersion(name string) string {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", name).Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// saveLocal is save for a scenario without simulated hosts: the machine
// without a Docker engine.
func saveLocal(t *testing.T, root string, began time.Time, r *Result) {
	t.Helper()
	r.Date = time.Now().UTC().Format(time.RFC3339)
	r.DurationSeconds = time.Since(began).Round(100 * time.Millisecond).Seconds()
	r.Machine = Machine{NProc: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		r.Machine.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				r.Machine.CPU = strings.Join(strings.Fields(v), " ")
				break
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "git", "-C", root, "describe", "--always", "--dirty").Output(); err == nil {
		r.Revision = strings.TrimSpace(string(out))
	}
	dir := resultsDir(t)
	if err := Write(dir, r); err != nil {
		t.Fatalf("writing results: %v", err)
	}
	t.Logf("wrote %s", filepath.Join(dir, r.Scenario+".json"))
}
