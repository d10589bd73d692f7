//go:build bench

package bench

// Scenario update's load: `probe load` (contrib/probe) run with `docker
// exec` in a client container on the system's network, one per way in
// (the VIP, nginx), stopped by a file the scenario creates in a directory
// bind-mounted into the client; and the nginx containers.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

// updPath is one way the load reaches the replicas.
type updPath struct {
	name string // "VIP", "nginx"
	url  string
}

// updClient is the container, on a system's network, the loads run in.
type updClient struct {
	host int
	name string
}

// updLoad is one running `probe load`. wait reaps it (once); it is also
// registered at cleanup, so a load outlives no failed round.
type updLoad struct {
	path           updPath
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	cancel         context.CancelFunc
	once           sync.Once
	err            error
}

func (l *updLoad) wait() error {
	l.once.Do(func() {
		l.err = l.cmd.Wait()
		l.cancel()
	})
	return l.err
}

// startClient runs the loads' client container on host h, network net,
// with the scenario's control directory at /ctl.
func startClient(t *testing.T, c *harness.Cluster, h int, name, net, ctlDir string) updClient {
	t.Helper()
	c.MustDocker(t, h, "run", "-d", "--name", name, "--net", net, "-v", ctlDir+":/ctl", "xo-probe")
	return updClient{host: h, name: name}
}

// startNginx runs xo-nginx on host h, network net, with conf, and returns
// its address once the client gets a demo-app answer through it.
func startNginx(t *testing.T, c *harness.Cluster, h int, name, net, dir, conf string, cl updClient) string {
	t.Helper()
	path := filepath.Join(dir, name+".conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	c.MustDocker(t, h, "run", "-d", "--name", name, "--net", net, "-v", path+":/etc/nginx/nginx.conf:ro", "xo-nginx")
	ip := c.MustDocker(t, h, "inspect", "-f", `{{(index .NetworkSettings.Networks "`+net+`").IPAddress}}`, name)
	harness.Eventually(t, 30*time.Second, func() error {
		out, err := c.Docker(cl.host, "exec", cl.name, "/probe", "http", "-timeout", "3s", "http://"+ip+":80/")
		if err != nil || !strings.Contains(out, `"version"`) {
			logs, _ := c.Docker(h, "logs", "--tail", "20", name)
			return fmt.Errorf("%s (%s) answers %q, %v; its log: %s", name, ip, out, err, logs)
		}
		return nil
	})
	return ip
}

// startLoads starts one `probe load` per path in the client; each stops
// when ctlDir/stop exists (/ctl/stop in the client).
func startLoads(t *testing.T, c *harness.Cluster, cl updClient, paths []updPath, stop string) []*updLoad {
	t.Helper()
	var loads []*updLoad
	for _, p := range paths {
		ctx, cancel := context.WithTimeout(context.Background(), updLoadMax+30*time.Second)
		l := &updLoad{path: p, cancel: cancel}
		l.cmd = exec.CommandContext(ctx, "docker", "-H", c.DockerHost(cl.host), "exec", cl.name, "/probe", "load",
			"-url", p.url, "-rate", strconv.Itoa(updRate), "-conns", strconv.Itoa(updConns), "-duration", updLoadMax.String(),
			"-stop-file", "/ctl/"+stop, "-timeout", "2s")
		l.cmd.Env = dockerlessEnv()
		l.cmd.Stdout, l.cmd.Stderr = &l.stdout, &l.stderr
		l.cmd.WaitDelay = 5 * time.Second
		if err := l.cmd.Start(); err != nil {
			cancel()
			t.Fatalf("probe load in %s on h%d: %v", cl.name, cl.host, err)
		}
		t.Cleanup(func() { _ = l.wait() })
		loads = append(loads, l)
	}
	return loads
}

// stopLoads creates the stop file, waits for the loads and returns their
// reports by path name.
func stopLoads(t *testing.T, ctlDir, stop string, loads []*updLoad) map[string]updReport {
	t.Helper()
	if err := os.WriteFile(filepath.Join(ctlDir, stop), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	reps := map[string]updReport{}
	for _, l := range loads {
		if err := l.wait(); err != nil {
			t.Fatalf("probe load (%s): %v\nstderr:\n%s", l.path.name, err, l.stderr.String())
		}
		r, err := parseUpdReport(l.stdout.String())
		if err != nil {
			t.Fatalf("probe load (%s): %v\nstderr:\n%s", l.path.name, err, l.stderr.String())
		}
		reps[l.path.name] = r
	}
	return reps
}

// progress is the tail of a load's per-second progress lines.
func (l *updLoad) progress() string { return lastLinesOf(l.stderr.String(), 30) }

func lastLinesOf(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
