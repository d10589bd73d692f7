//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

// joinAll makes h1 the first manager and joins the given hosts as managers.
func joinAll(t *testing.T, h1 *node, others ...*node) {
	t.Helper()
	h1.mustXO(t, "cluster", "init")
	token := strings.TrimSpace(h1.mustXO(t, "cluster", "token", "manager", "-q"))
	for _, n := range others {
		n.mustXO(t, "cluster", "join", "--token", token, h1.c.HostAddr(1))
	}
}

// hasNetwork waits until host n's engine has an xoverlay network.
func hasNetwork(t *testing.T, n *node, name, subnet string) {
	t.Helper()
	harness.Eventually(t, 10*time.Second, func() error {
		out, err := n.docker("network", "inspect", "-f", "{{.Driver}} {{(index .IPAM.Config 0).Subnet}}", name)
		if err != nil {
			return err
		}
		if got := strings.TrimSpace(out); got != "xoverlay "+subnet {
			return fmt.Errorf("h%d: %s", n.i, got)
		}
		return nil
	})
}

// TestMultiHostNetworks is issue 3's data side on 3 simulated hosts.
func TestMultiHostNetworks(t *testing.T) {
	_, hs := startCluster3(t)
	h1, h2, h3 := hs[0], hs[1], hs[2]
	joinAll(t, h1, h2)

	h2.mustDocker(t, "network", "create", "-d", "xoverlay", "--ipam-driver", "xoverlay", "--subnet", "10.120.0.0/24", "appnet")
	hasNetwork(t, h1, "appnet", "10.120.0.0/24")

	t.Run("a rotated token is refused; a node that joins later gets every network", func(t *testing.T) {
		old := strings.TrimSpace(h1.mustXO(t, "cluster", "token", "worker", "-q"))
		h1.mustXO(t, "cluster", "token", "worker", "--rotate")
		if out, err := h3.xo("cluster", "join", "--token", old, h1.c.HostAddr(1)); err == nil || !strings.Contains(out, "invalid join token") {
			t.Fatalf("join with a rotated token: %v\n%s", err, out)
		}
		token := strings.TrimSpace(h1.mustXO(t, "cluster", "token", "worker", "-q"))
		h3.mustXO(t, "cluster", "join", "--token", token, h1.c.HostAddr(1))
		hasNetwork(t, h3, "appnet", "10.120.0.0/24")
	})

	h1.mustDocker(t, "run", "-d", "--net", "appnet", "--name", "alpha", "xo-demo:v1")
	h3.mustDocker(t, "run", "-d", "--net", "appnet", "--name", "charlie", "xo-demo:v1")
	ipA, ipC := h1.containerIP(t, "alpha", "appnet"), h3.containerIP(t, "charlie", "appnet")
	if ipA == ipC {
		t.Fatalf("both containers got %s", ipA)
	}

	t.Run("TCP, UDP, ICMP and a 1400-byte payload cross hosts", func(t *testing.T) {
		harness.Eventually(t, 10*time.Second, func() error {
			_, err := h1.probe("alpha", "http", "-n", "1", "-timeout", "2s", "http://"+ipC+":8080/")
			return err
		})
		for _, args := range [][]string{
			{"http", "-n", "3", "http://" + ipA + ":8080/"},
			{"tcp", "-size", "1400", ipA + ":7"},
			{"udp", "-size", "1400", ipA + ":8080"},
		} {
			if out, err := h3.probe("charlie", args...); err != nil {
				t.Errorf("charlie -> alpha %v: %v\n%s", args, err, out)
			}
		}
		if out, err := h1.probe("alpha", "tcp", "-size", "1400", ipC+":7"); err != nil {
			t.Errorf("alpha -> charlie tcp 1400: %v\n%s", err, out)
		}
		pid := h1.mustDocker(t, "inspect", "-f", "{{.State.Pid}}", "alpha")
		if out, err := h1.c.Exec(1, "nsenter", "-t", pid, "-n", "busybox", "ping", "-c", "2", "-W", "2", ipC); err != nil {
			t.Errorf("ICMP alpha -> charlie: %v\n%s", err, out)
		}
	})

	t.Run("same name on two hosts is reported", func(t *testing.T) {
		h3.mustDocker(t, "network", "create", "-d", "bridge", "--subnet", "10.230.0.0/24", "dup")
		h1.mustDocker(t, "network", "create", "-d", "xoverlay", "--ipam-driver", "xoverlay", "--subnet", "10.121.0.0/24", "dup")
		hasNetwork(t, h2, "dup", "10.121.0.0/24")
		harness.Eventually(t, 10*time.Second, func() error {
			out := h1.mustXO(t, "network", "inspect", "--format", "{{json .Errors}}", "dup")
			if !strings.Contains(out, "h3") || !strings.Contains(out, "already has a network named dup") {
				return fmt.Errorf("errors: %s", out)
			}
			return nil
		})
		if out, _ := h3.docker("network", "inspect", "-f", "{{.Driver}}", "dup"); strings.TrimSpace(out) != "bridge" {
			t.Fatalf("h3's own network was touched: %s", out)
		}
		h1.mustXO(t, "network", "rm", "dup")
		h3.mustDocker(t, "network", "rm", "dup")
	})

	t.Run("removal refused while hosts have endpoints, then everywhere", func(t *testing.T) {
		out, err := h2.xo("network", "rm", "appnet")
		if err == nil || !strings.Contains(out, "h1 (alpha)") || !strings.Contains(out, "h3 (charlie)") {
			t.Fatalf("xo network rm with endpoints: %v\n%s", err, out)
		}
		h1.mustDocker(t, "rm", "-f", "alpha")
		h3.mustDocker(t, "rm", "-f", "charlie")
		harness.Eventually(t, 10*time.Second, func() error {
			_, err := h2.xo("network", "rm", "appnet")
			return err
		})
		for _, n := range hs {
			harness.Eventually(t, 10*time.Second, func() error {
				if out, err := n.docker("network", "ls", "-q", "--filter", "driver=xoverlay"); err != nil || strings.TrimSpace(out) != "" {
					return fmt.Errorf("h%d still has xoverlay networks: %q %v", n.i, out, err)
				}
				if devs := n.devices(t); len(devs) != 0 {
					return fmt.Errorf("h%d devices left: %v", n.i, devs)
				}
				return nil
			})
		}
		if out := strings.TrimSpace(h1.mustXO(t, "network", "ls", "-q")); out != "" {
			t.Fatalf("networks left in state: %s", out)
		}
	})
}
