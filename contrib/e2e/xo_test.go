//go:build e2e

// Package e2e holds the end-to-end tests: real dockerd engines in
// simulated hosts (contrib/testenv/hosts.sh) with real xo agents.
package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

// node is one simulated host with its agent.
type node struct {
	owner *testing.T // the top-level test: the agent lives as long as it does
	c     *harness.Cluster
	i     int
	agent *harness.Proc
	extra []string // extra agent flags
}

func (n *node) apiSocket() string { return filepath.Join(n.c.StateDir(n.i), "xo.sock") }

// startAgent starts `xo agent` inside the host's namespaces and waits for
// its API and plugin socket.
func startAgent(t *testing.T, c *harness.Cluster, i int) *node {
	t.Helper()
	n := &node{owner: t, c: c, i: i}
	n.start(t)
	return n
}

func (n *node) start(t *testing.T) {
	t.Helper()
	xo := filepath.Join(n.c.RepoRoot, "bin", "xo")
	args := []string{xo, "agent",
		"--state-dir", filepath.Join(n.c.StateDir(n.i), "xo"),
		"--api-socket", n.apiSocket(),
		"--docker-host", n.c.DockerHost(n.i),
		"--hostname", fmt.Sprintf("h%d", n.i),
		"--advertise-addr", n.c.HostAddr(n.i),
		"--reconcile-interval", "2s",
		"--dns-upstream", n.c.Upstream.Addr,
		"--log-level", "debug"}
	n.agent = n.c.StartProcess(n.owner, n.i, "xo-agent", append(args, n.extra...)...)
	harness.Eventually(t, 30*time.Second, func() error {
		if n.agent.Exited() {
			t.Fatalf("agent on h%d exited:\n%s", n.i, n.agent.Log())
		}
		if _, err := n.xo("info"); err != nil {
			return err
		}
		_, err := n.c.Exec(n.i, "test", "-S", "/run/docker/plugins/xoverlay.sock")
		return err
	})
}

// kill9 kills the agent without any chance to clean up.
func (n *node) kill9(t *testing.T) {
	t.Helper()
	if err := n.agent.Kill(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := n.agent.WaitTimeout(10 * time.Second); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Logf("agent wait after SIGKILL: %v", err)
	}
}

// xo runs the CLI against this host's agent.
func (n *node) xo(args ...string) (string, error) {
	xo := filepath.Join(n.c.RepoRoot, "bin", "xo")
	cmd := exec.Command(xo, append([]string{"--api-socket", n.apiSocket()}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("xo %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (n *node) mustXO(t *testing.T, args ...string) string {
	t.Helper()
	out, err := n.xo(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (n *node) docker(args ...string) (string, error) { return n.c.Docker(n.i, args...) }

func (n *node) mustDocker(t *testing.T, args ...string) string {
	t.Helper()
	return strings.TrimSpace(n.c.MustDocker(t, n.i, args...))
}

// apiNetwork is the part of `xo network inspect` the tests read.
type apiNetwork struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	VNI     uint32 `json:"vni"`
	Subnet  string `json:"subnet"`
	Gateway string `json:"gateway"`
	Hosts   []struct {
		Hostname  string `json:"hostname"`
		Endpoints []struct {
			Container string `json:"container"`
			IP        string `json:"ip"`
		} `json:"endpoints"`
	} `json:"hosts"`
}

func (n *node) inspect(t *testing.T, name string) apiNetwork {
	t.Helper()
	var nets []apiNetwork
	if err := json.Unmarshal([]byte(n.mustXO(t, "network", "inspect", name)), &nets); err != nil || len(nets) != 1 {
		t.Fatalf("xo network inspect %s: %v %v", name, nets, err)
	}
	return nets[0]
}

// devices lists the xoverlay kernel devices in the host's namespace.
func (n *node) devices(t *testing.T) []string {
	t.Helper()
	out := n.c.MustExec(t, n.i, "ip", "-o", "link", "show")
	var devs []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name := strings.SplitN(strings.TrimSuffix(f[1], ":"), "@", 2)[0]
		for _, p := range []string{"xob-", "xov-", "xoh", "xoc"} {
			if strings.HasPrefix(name, p) {
				devs = append(devs, name)
			}
		}
	}
	sort.Strings(devs)
	return devs
}

// snapshot is what "nothing left behind" compares.
type snapshot struct{ devices, xoNetworks, dockerNetworks, containers string }

func (n *node) snapshot(t *testing.T) snapshot {
	t.Helper()
	return snapshot{
		devices:        strings.Join(n.devices(t), " "),
		xoNetworks:     n.mustXO(t, "network", "ls", "--format", "{{.Name}} {{.Subnet}} {{.Gateway}}"),
		dockerNetworks: n.mustDocker(t, "network", "ls", "--format", "{{.Name}}"),
		containers:     n.mustDocker(t, "ps", "-a", "--format", "{{.Names}}"),
	}
}

// probe runs the probe binary inside a container.
func (n *node) probe(container string, args ...string) (string, error) {
	return n.docker(append([]string{"exec", container, "/probe"}, args...)...)
}

func (n *node) containerIP(t *testing.T, container, network string) string {
	t.Helper()
	return n.mustDocker(t, "inspect", "-f", "{{(index .NetworkSettings.Networks \""+network+"\").IPAddress}}", container)
}
