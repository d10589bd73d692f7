// Package harness starts simulated Docker hosts for xoverlay end-to-end
// tests. It wraps contrib/testenv/hosts.sh (hosts h1..hN, each with its own
// network, mount and UTS namespaces and its own dockerd, connected by the
// underlay bridge 198.18.0.0/15) and contrib/images/build.sh (the xo-demo:v1,
// xo-demo:v2 and xo-probe:latest images).
//
// Typical use, in a test file guarded by the e2e build tag:
//
//	c := harness.Start(t, 2, harness.Options{})
//	agent := c.StartProcess(t, 1, "agent", "/path/to/xo", "agent")
//	out := c.MustDocker(t, 1, "run", "-d", "xo-demo:v1")
//
// Clusters need root. When prerequisites are missing the test is skipped,
// or fails when the environment variable CI=true. Only one cluster can exist
// on a machine at a time: Start waits for a machine-wide lock, so test
// packages run by "go test ./..." in parallel are serialized. KEEP_HOSTS=1
// leaves the hosts (and processes started with StartProcess) running after
// the test for debugging; they are removed by the next Start or by
// "contrib/testenv/hosts.sh down".
package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// StateDir is the root of the per-host state directories (/run/xo-test/h<i>).
	StateDir = "/run/xo-test"
	// UnderlayGateway is the address of the underlay bridge in the root
	// network namespace (where the test binary runs).
	UnderlayGateway = "198.18.0.1"
	// UnderlayPrefixLen is the prefix length of the underlay network.
	UnderlayPrefixLen = 15

	clusterLock = "xo-test-cluster.lock"
)

// Options tunes Start. The zero value is fine for most tests.
type Options struct {
	// NoImages skips building the demo images into the hosts' engines.
	NoImages bool
	// ImageDir is where build.sh puts the static demoapp and probe binaries
	// (its OUT_DIR). Default: $TMPDIR/xo-test-images.
	ImageDir string
	// CommandTimeout bounds each Docker and Exec call. Default 2 minutes.
	CommandTimeout time.Duration
	// Keep leaves the hosts running after the test, like KEEP_HOSTS=1.
	Keep bool
	// DockerdArgs are extra dockerd flags for every host (XO_DOCKERD_ARGS).
	DockerdArgs string
}

// Cluster is a set of simulated hosts h1..hN. Hosts are numbered from 1.
type Cluster struct {
	// N is the number of hosts.
	N int
	// RepoRoot is the directory holding go.mod.
	RepoRoot string
	// Upstream is the fake upstream resolver the agents' DNS servers
	// forward to (pass --dns-upstream Upstream.Addr): nothing a test
	// resolves leaves the machine.
	Upstream *Upstream

	opts     Options
	hostsSh  string
	buildSh  string
	imageDir string
	keep     bool

	mu    sync.Mutex
	procs []*Proc
}

// skipOrFail skips the test, or fails it when running under CI.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("e2e prerequisites missing (CI=true): "+format, args...)
	}
	t.Skipf("skipping e2e test: "+format, args...)
}

// RepoRoot finds the repository root by walking up from the working
// directory to the first directory containing go.mod. XO_REPO_ROOT
// overrides it.
func RepoRoot() (string, error) {
	if r := os.Getenv("XO_REPO_ROOT"); r != "" {
		return r, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

var requiredCommands = []string{
	"dockerd", "containerd", "runc", "docker", "ip", "iptables", "nsenter",
	"unshare", "mount", "mountpoint", "findmnt", "flock", "sysctl",
}

func missingCommands(needGo bool) []string {
	var missing []string
	cmds := requiredCommands
	if needGo {
		cmds = append(cmds[:len(cmds):len(cmds)], "go")
	}
	for _, c := range cmds {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, c)
		}
	}
	return missing
}

// checkPrereqs skips (or fails under CI) when the cluster cannot be run.
func checkPrereqs(t testing.TB, root string, needGo bool) {
	t.Helper()
	if runtime.GOOS != "linux" {
		skipOrFail(t, "needs linux, have %s", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root (simulated hosts use namespaces and dockerd)")
	}
	for _, p := range []string{"/usr/local/sbin", "/usr/sbin", "/sbin"} {
		if !strings.Contains(":"+os.Getenv("PATH")+":", ":"+p+":") {
			os.Setenv("PATH", os.Getenv("PATH")+":"+p)
		}
	}
	missing := missingCommands(needGo)
	if len(missing) > 0 && os.Getenv("CI") == "true" {
		// CI machines may install what is missing.
		out, err := exec.Command("bash", filepath.Join(root, "contrib/testenv/deps.sh")).CombinedOutput()
		if err != nil {
			t.Fatalf("contrib/testenv/deps.sh: %v\n%s", err, out)
		}
		missing = missingCommands(needGo)
	}
	if len(missing) > 0 {
		skipOrFail(t, "missing commands %v (run contrib/testenv/deps.sh)", missing)
	}
}

// acquireLock takes the machine-wide cluster lock, waiting for other
// clusters (other test packages) to finish.
func acquireLock(t testing.TB) *os.File {
	t.Helper()
	dir := "/run/lock"
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, clusterLock)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("open cluster lock: %v", err)
	}
	start := time.Now()
	lastLog := start
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			t.Fatalf("lock %s: %v", path, err)
		}
		if time.Since(lastLog) > 30*time.Second {
			t.Logf("waiting for another xo-test cluster to finish (lock %s, %s so far)", path, time.Since(start).Round(time.Second))
			lastLog = time.Now()
		}
		if time.Since(start) > 30*time.Minute {
			f.Close()
			t.Fatalf("timeout waiting for cluster lock %s", path)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Start creates hosts h1..hn (after removing whatever a previous run left
// behind) and, unless opts.NoImages, builds the demo images into every
// host. Teardown is registered with t.Cleanup and runs even when the test
// failed, unless KEEP_HOSTS=1 or opts.Keep. On failure the tails of the
// dockerd logs and of the StartProcess logs are written to the test log.
func Start(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	if n < 1 || n > 200 {
		t.Fatalf("harness.Start: invalid host count %d", n)
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	checkPrereqs(t, root, !opts.NoImages)
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = 2 * time.Minute
	}
	c := &Cluster{
		N:        n,
		RepoRoot: root,
		opts:     opts,
		hostsSh:  filepath.Join(root, "contrib/testenv/hosts.sh"),
		buildSh:  filepath.Join(root, "contrib/images/build.sh"),
		imageDir: opts.ImageDir,
		keep:     opts.Keep || os.Getenv("KEEP_HOSTS") == "1",
	}
	if c.imageDir == "" {
		c.imageDir = filepath.Join(os.TempDir(), "xo-test-images")
	}
	for _, f := range []string{c.hostsSh, c.buildSh} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("harness: %v", err)
		}
	}

	lock := acquireLock(t)
	t.Cleanup(func() {
		defer lock.Close() // releases the flock
		if t.Failed() {
			c.dumpLogs(t)
		}
		if c.keep {
			t.Logf("KEEP_HOSTS: leaving %d host(s) running; use: eval \"$(%s env)\"; %s exec 1; %s down",
				c.N, c.hostsSh, c.hostsSh, c.hostsSh)
			return
		}
		start := time.Now()
		if out, err := c.script(10*time.Minute, c.hostsSh, "down"); err != nil {
			t.Errorf("hosts.sh down: %v\n%s", err, out)
		} else {
			t.Logf("hosts.sh down took %s", time.Since(start).Round(10*time.Millisecond))
		}
	})

	start := time.Now()
	if out, err := c.script(5*time.Minute, c.hostsSh, "down"); err != nil {
		t.Fatalf("hosts.sh down (removing leftovers): %v\n%s", err, out)
	}
	if out, err := c.script(5*time.Minute, c.hostsSh, "up", strconv.Itoa(n)); err != nil {
		t.Fatalf("hosts.sh up %d: %v\n%s", n, err, out)
	}
	upTime := time.Since(start)
	c.Upstream = startUpstream(t)
	if !opts.NoImages {
		if err := c.buildImages(); err != nil {
			t.Fatalf("building images: %v", err)
		}
	}
	t.Logf("started %d host(s): hosts.sh up %s, images %s", n,
		upTime.Round(10*time.Millisecond), (time.Since(start) - upTime).Round(10*time.Millisecond))
	return c
}

// script runs a contrib script with a timeout and returns its combined output.
func (c *Cluster) script(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{name}, args...)...)
	cmd.Dir = c.RepoRoot
	cmd.Env = os.Environ()
	if c.opts.DockerdArgs != "" {
		cmd.Env = append(cmd.Env, "XO_DOCKERD_ARGS="+c.opts.DockerdArgs)
	}
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (timeout %s)", err, timeout)
	}
	return string(out), err
}

func (c *Cluster) buildImages() error {
	// The first build compiles the binaries; the others only build images.
	if out, err := c.script(10*time.Minute, c.buildSh, c.socket(1), c.imageDir); err != nil {
		return fmt.Errorf("build.sh (h1): %v\n%s", err, out)
	}
	errs := make([]error, c.N+1)
	var wg sync.WaitGroup
	for i := 2; i <= c.N; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := c.script(10*time.Minute, c.buildSh, c.socket(i), c.imageDir); err != nil {
				errs[i] = fmt.Errorf("build.sh (h%d): %v\n%s", i, err, out)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *Cluster) checkIndex(i int) {
	if i < 1 || i > c.N {
		panic(fmt.Sprintf("harness: host index %d out of range 1..%d", i, c.N))
	}
}

// HostAddr is host i's underlay address, 198.18.0.(10+i).
func (c *Cluster) HostAddr(i int) string {
	c.checkIndex(i)
	return fmt.Sprintf("198.18.0.%d", 10+i)
}

// Hostname is host i's hostname, "h<i>".
func (c *Cluster) Hostname(i int) string {
	c.checkIndex(i)
	return fmt.Sprintf("h%d", i)
}

// StateDir is host i's state directory, /run/xo-test/h<i> (logs, sockets).
func (c *Cluster) StateDir(i int) string {
	c.checkIndex(i)
	return filepath.Join(StateDir, fmt.Sprintf("h%d", i))
}

// SocketDir is host i's Docker plugin socket directory as seen from the
// test process. Inside host i (StartProcess, Exec) the same directory is
// /run/docker/plugins, so an agent creating /run/docker/plugins/xoverlay.sock
// there makes it appear as SocketDir(i)+"/xoverlay.sock".
func (c *Cluster) SocketDir(i int) string {
	return filepath.Join(c.StateDir(i), "root/run/docker/plugins")
}

// DockerHost is the DOCKER_HOST value for host i's engine.
func (c *Cluster) DockerHost(i int) string { return "unix://" + c.socket(i) }

func (c *Cluster) socket(i int) string { return filepath.Join(c.StateDir(i), "docker.sock") }

// NetNS is the path of host i's network namespace (/var/run/netns/xo-h<i>).
func (c *Cluster) NetNS(i int) string {
	c.checkIndex(i)
	return fmt.Sprintf("/var/run/netns/xo-h%d", i)
}

// Bin returns the path of a static helper binary built by build.sh
// ("demoapp" or "probe"), runnable on the hosts via Exec or StartProcess.
// It is empty when the cluster was started with NoImages.
func (c *Cluster) Bin(name string) string {
	if c.opts.NoImages {
		return ""
	}
	return filepath.Join(c.imageDir, name)
}

// RestartDocker restarts host i's dockerd and waits until it answers. The
// stop is graceful, as on a real host: running containers without a restart
// policy stop with the engine. Processes started with StartProcess (the
// agent) keep running.
func (c *Cluster) RestartDocker(t testing.TB, i int) {
	t.Helper()
	c.dockerd(t, "restart", i)
}

// StopDocker stops host i's dockerd gracefully (see RestartDocker).
func (c *Cluster) StopDocker(t testing.TB, i int) {
	t.Helper()
	c.dockerd(t, "stop", i)
}

// StartDocker starts host i's dockerd (after StopDocker) and waits until it
// answers.
func (c *Cluster) StartDocker(t testing.TB, i int) {
	t.Helper()
	c.dockerd(t, "start", i)
}

func (c *Cluster) dockerd(t testing.TB, op string, i int) {
	t.Helper()
	c.checkIndex(i)
	start := time.Now()
	if out, err := c.script(3*time.Minute, c.hostsSh, op+"-docker", strconv.Itoa(i)); err != nil {
		t.Fatalf("hosts.sh %s-docker %d: %v\n%s", op, i, err, out)
	}
	t.Logf("h%d: %s dockerd took %s", i, op, time.Since(start).Round(10*time.Millisecond))
}

// HostsScript is the path of contrib/testenv/hosts.sh.
func (c *Cluster) HostsScript() string { return c.hostsSh }

func dockerEnv() []string {
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "DOCKER_HOST=") || strings.HasPrefix(kv, "DOCKER_CONTEXT=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// run runs a command, returning trimmed stdout and an error carrying stderr.
func run(ctx context.Context, desc string, cmd *exec.Cmd) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	out := strings.TrimSpace(stdout.String())
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", err, ctx.Err())
		}
		return out, fmt.Errorf("%s: %v: %s", desc, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// DockerContext runs the docker CLI against host i's engine. It returns
// stdout with surrounding white space trimmed; on failure the error
// includes stderr.
func (c *Cluster) DockerContext(ctx context.Context, i int, args ...string) (string, error) {
	c.checkIndex(i)
	cmd := exec.CommandContext(ctx, "docker", append([]string{"-H", c.DockerHost(i)}, args...)...)
	cmd.Env = dockerEnv()
	return run(ctx, fmt.Sprintf("h%d: docker %s", i, strings.Join(args, " ")), cmd)
}

// Docker is DockerContext with the cluster's CommandTimeout.
func (c *Cluster) Docker(i int, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.CommandTimeout)
	defer cancel()
	return c.DockerContext(ctx, i, args...)
}

// MustDocker is Docker, failing the test on error.
func (c *Cluster) MustDocker(t testing.TB, i int, args ...string) string {
	t.Helper()
	out, err := c.Docker(i, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ExecContext runs a command inside host i's network, mount and UTS
// namespaces (hosts.sh exec), with DOCKER_HOST pointing at host i's
// engine. Output and errors as for DockerContext.
func (c *Cluster) ExecContext(ctx context.Context, i int, args ...string) (string, error) {
	c.checkIndex(i)
	if len(args) == 0 {
		return "", errors.New("harness: Exec needs a command")
	}
	cmd := exec.CommandContext(ctx, "bash", append([]string{c.hostsSh, "exec", strconv.Itoa(i)}, args...)...)
	return run(ctx, fmt.Sprintf("h%d: %s", i, strings.Join(args, " ")), cmd)
}

// Exec is ExecContext with the cluster's CommandTimeout.
func (c *Cluster) Exec(i int, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.CommandTimeout)
	defer cancel()
	return c.ExecContext(ctx, i, args...)
}

// MustExec is Exec, failing the test on error.
func (c *Cluster) MustExec(t testing.TB, i int, args ...string) string {
	t.Helper()
	out, err := c.Exec(i, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Eventually calls f until it returns nil, failing the test with f's last
// error after timeout.
func Eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %s: %v", timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Proc is a background process running inside a host (see StartProcess).
type Proc struct {
	// Name is the name given to StartProcess.
	Name string
	// Host is the host index.
	Host int
	// LogPath is the file receiving the process's stdout and stderr.
	LogPath string

	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// StartProcess starts a long-running command inside host i's namespaces
// (like Exec), in the background, in its own process group. Its stdout and
// stderr go to /run/xo-test/h<i>/<name>.log (appended). At cleanup the
// process gets SIGTERM, then SIGKILL after 5 seconds (not with KEEP_HOSTS).
func (c *Cluster) StartProcess(t testing.TB, i int, name string, args ...string) *Proc {
	t.Helper()
	c.checkIndex(i)
	if len(args) == 0 {
		t.Fatalf("harness: StartProcess %s: no command", name)
	}
	logPath := filepath.Join(c.StateDir(i), name+".log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("harness: StartProcess %s: %v", name, err)
	}
	fmt.Fprintf(lf, "=== %s harness: starting %q on h%d\n", time.Now().Format(time.RFC3339Nano), args, i)
	cmd := exec.Command("bash", append([]string{c.hostsSh, "exec", strconv.Itoa(i)}, args...)...)
	cmd.Stdout = lf
	cmd.Stderr = lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		lf.Close()
		t.Fatalf("harness: StartProcess %s on h%d: %v", name, i, err)
	}
	lf.Close()
	p := &Proc{Name: name, Host: i, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	t.Cleanup(func() {
		if c.keep {
			if !p.Exited() {
				t.Logf("KEEP_HOSTS: leaving %s (pid %d) running on h%d, log %s", name, p.Pid(), i, logPath)
			}
			return
		}
		p.Stop(5 * time.Second)
	})
	return p
}

// Pid is the process id (hosts.sh exec replaces itself with the command, so
// this is the command's pid).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Kill sends sig to the process group of the process (the process and
// anything it started, unless those changed their process group).
func (p *Proc) Kill(sig os.Signal) error {
	if p.Exited() {
		return os.ErrProcessDone
	}
	s, ok := sig.(syscall.Signal)
	if !ok {
		return p.cmd.Process.Signal(sig)
	}
	return syscall.Kill(-p.cmd.Process.Pid, s)
}

// Wait waits for the process to exit and returns its exit error (nil for
// status 0).
func (p *Proc) Wait() error {
	<-p.done
	return p.err
}

// WaitTimeout is Wait with a timeout; it returns an error if the process
// is still running after d.
func (p *Proc) WaitTimeout(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		return fmt.Errorf("%s (pid %d) still running after %s", p.Name, p.Pid(), d)
	}
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM, waits up to grace, then SIGKILLs the process group.
// It returns the exit error.
func (p *Proc) Stop(grace time.Duration) error {
	if !p.Exited() {
		p.Kill(syscall.SIGTERM)
		if p.WaitTimeout(grace) != nil {
			p.Kill(syscall.SIGKILL)
		}
	}
	return p.Wait()
}

// Log returns the content of the process's log file.
func (p *Proc) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// tail returns the last lines of a file, leaving out lines containing skip
// (when not empty).
func tail(path string, lines int, skip string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	var s []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if skip == "" || !strings.Contains(l, skip) {
			s = append(s, l)
		}
	}
	if len(s) > lines {
		s = s[len(s)-lines:]
	}
	return strings.Join(s, "\n")
}

func (c *Cluster) dumpLogs(t testing.TB) {
	// Short tails without debug lines: CI shows a window of the output,
	// and the test's own failure lines come before these.
	for i := 1; i <= c.N; i++ {
		t.Logf("--- h%d dockerd.log (tail):\n%s", i, tail(filepath.Join(c.StateDir(i), "dockerd.log"), 20, "module=grpc"))
	}
	c.mu.Lock()
	procs := append([]*Proc(nil), c.procs...)
	c.mu.Unlock()
	seen := map[string]bool{}
	for i := len(procs) - 1; i >= 0; i-- { // the newest process of a log file shows its tail
		p := procs[i]
		if seen[p.LogPath] {
			continue
		}
		seen[p.LogPath] = true
		state := "running"
		if p.Exited() {
			state = fmt.Sprintf("exited: %v", p.err)
		}
		t.Logf("--- h%d %s (%s) %s (tail, no debug lines):\n%s", p.Host, p.Name, state, p.LogPath, tail(p.LogPath, 30, "level=DEBUG"))
	}
}
