//go:build e2e

package e2e

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

// TestFoundation is issue 2 end to end on one host: a network, two
// containers talking by IP and name, bad input leaving nothing behind,
// agent kill -9 and restart, a dockerd restart, and clean removal.
func TestFoundation(t *testing.T) {
	c := harness.Start(t, 1, harness.Options{})
	h := startAgent(t, c, 1)

	h.mustDocker(t, "network", "create", "-d", "xoverlay", "--ipam-driver", "xoverlay", "--subnet", "10.100.0.0/24", "appnet")
	if got := h.mustDocker(t, "network", "inspect", "-f", "{{.Driver}} {{.IPAM.Driver}}", "appnet"); got != "xoverlay xoverlay" {
		t.Fatalf("docker network inspect: %q", got)
	}
	for _, name := range []string{"alpha", "bravo"} {
		h.mustDocker(t, "run", "-d", "--net", "appnet", "--name", name, "xo-demo:v1")
	}
	ipA, ipB := h.containerIP(t, "alpha", "appnet"), h.containerIP(t, "bravo", "appnet")
	if ipA == ipB || !strings.HasPrefix(ipA, "10.100.0.") || !strings.HasPrefix(ipB, "10.100.0.") {
		t.Fatalf("addresses a=%s b=%s", ipA, ipB)
	}
	reach := func(t *testing.T, from, to string) {
		t.Helper()
		harness.Eventually(t, 10*time.Second, func() error {
			out, err := h.probe(from, "http", "-n", "1", "-timeout", "2s", "http://"+to+":8080/")
			if err == nil && !strings.Contains(out, `"hostname"`) {
				err = fmt.Errorf("unexpected answer %q", out)
			}
			return err
		})
	}
	t.Run("reach by IP and name", func(t *testing.T) {
		reach(t, "alpha", ipB)
		reach(t, "bravo", ipA)
		reach(t, "alpha", "bravo")
		reach(t, "bravo", "alpha")
	})
	t.Run("large payload crosses", func(t *testing.T) {
		if out, err := h.probe("alpha", "tcp", "-size", "1400", ipB+":7"); err != nil {
			t.Fatalf("1400-byte TCP echo: %v %s", err, out)
		}
	})

	net := h.inspect(t, "appnet")
	t.Run("cluster state", func(t *testing.T) {
		if net.VNI < 4096 || net.Subnet != "10.100.0.0/24" || net.Gateway != "10.100.0.1" {
			t.Fatalf("network state %+v", net)
		}
		harness.Eventually(t, 10*time.Second, func() error {
			n := h.inspect(t, "appnet")
			if len(n.Hosts) != 1 || n.Hosts[0].Hostname != "h1" || len(n.Hosts[0].Endpoints) != 2 {
				return fmt.Errorf("hosts %+v", n.Hosts)
			}
			var names []string
			for _, ep := range n.Hosts[0].Endpoints {
				names = append(names, ep.Container)
			}
			if slices.Sort(names); !slices.Equal(names, []string{"alpha", "bravo"}) {
				return fmt.Errorf("endpoint containers %v", names)
			}
			return nil
		})
		devs := h.devices(t)
		for _, want := range []string{fmt.Sprintf("xob-%d", net.VNI), fmt.Sprintf("xov-%d", net.VNI)} {
			if !slices.Contains(devs, want) {
				t.Fatalf("devices %v lack %s", devs, want)
			}
		}
		vx := c.MustExec(t, 1, "ip", "-d", "link", "show", fmt.Sprintf("xov-%d", net.VNI))
		for _, want := range []string{"mtu 1450", fmt.Sprintf("vxlan id %d", net.VNI), "dstport 4789", "nolearning"} {
			if !strings.Contains(vx, want) {
				t.Errorf("vxlan device lacks %q:\n%s", want, vx)
			}
		}
		if out := h.mustXO(t, "network", "ls"); !strings.Contains(out, "appnet") || !strings.Contains(out, "10.100.0.0/24") {
			t.Errorf("xo network ls:\n%s", out)
		}
	})

	t.Run("bad input leaves nothing", func(t *testing.T) { badInput(t, h, ipA) })

	t.Run("metrics", func(t *testing.T) {
		out := c.MustExec(t, 1, c.Bin("probe"), "http", "-n", "1", "http://127.0.0.1:9180/metrics")
		for _, m := range []string{"xo_plugin_call_duration_seconds_bucket", "xo_raft_apply_duration_seconds", "xo_state_endpoints 2"} {
			if !strings.Contains(out, m) {
				t.Errorf("metrics lack %s", m)
			}
		}
	})

	t.Run("agent killed and restarted", func(t *testing.T) {
		before := h.devices(t)
		h.kill9(t)
		reach(t, "alpha", ipB) // the kernel objects stay
		reach(t, "bravo", ipA)
		// Names wait for the agent: on the DNS fast path every query of a
		// container goes to the agent's dnsd.
		h.start(t)
		reach(t, "bravo", "alpha")
		if after := h.devices(t); !slices.Equal(before, after) {
			t.Fatalf("restart changed devices: %v -> %v", before, after)
		}
		h.mustDocker(t, "run", "-d", "--net", "appnet", "--name", "charlie", "xo-demo:v1")
		ipC := h.containerIP(t, "charlie", "appnet")
		if ipC == ipA || ipC == ipB {
			t.Fatalf("address %s handed out twice (a=%s b=%s)", ipC, ipA, ipB)
		}
		reach(t, "charlie", "alpha")
		reach(t, "alpha", ipC)
	})

	t.Run("dockerd restarted under the agent", func(t *testing.T) {
		c.RestartDocker(t, 1)
		// Containers without a restart policy stop with the engine.
		for _, name := range []string{"alpha", "bravo", "charlie"} {
			h.mustDocker(t, "start", name)
		}
		ipA, ipB = h.containerIP(t, "alpha", "appnet"), h.containerIP(t, "bravo", "appnet")
		reach(t, "alpha", ipB)
		reach(t, "bravo", "charlie")
		h.mustDocker(t, "run", "-d", "--net", "appnet", "--name", "delta", "xo-demo:v1")
		reach(t, "delta", "alpha")
	})

	t.Run("remove everything", func(t *testing.T) {
		h.mustDocker(t, "rm", "-f", "alpha", "bravo", "charlie", "delta")
		h.mustDocker(t, "network", "rm", "appnet")
		harness.Eventually(t, 10*time.Second, func() error {
			if devs := h.devices(t); len(devs) != 0 {
				return fmt.Errorf("devices left: %v", devs)
			}
			if out := strings.TrimSpace(h.mustXO(t, "network", "ls", "-q")); out != "" {
				return fmt.Errorf("networks left in state: %s", out)
			}
			return nil
		})
	})

	t.Run("SIGTERM stops the agent cleanly", func(t *testing.T) {
		if err := h.agent.Kill(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := h.agent.WaitTimeout(10 * time.Second); err != nil {
			t.Fatalf("agent exit after SIGTERM: %v\n%s", err, h.agent.Log())
		}
		if _, err := c.Exec(1, "test", "-e", "/run/docker/plugins/xoverlay.sock"); err == nil {
			t.Fatal("plugin socket left behind after a clean stop")
		}
	})
}

// badInput checks every bad request's error text and that the host's
// devices, cluster state and engine are unchanged afterwards.
func badInput(t *testing.T, h *node, usedIP string) {
	create := func(args ...string) []string {
		return append([]string{"network", "create", "-d", "xoverlay"}, args...)
	}
	ipam := []string{"--ipam-driver", "xoverlay"}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"overlapping subnet", create(append(ipam, "--subnet", "10.100.0.0/16", "bad1")...), "overlaps subnet 10.100.0.0/24 of network appnet"},
		{"subnet with host bits", create(append(ipam, "--subnet", "10.101.0.5/24", "bad2")...), "10.101.0."},
		{"gateway outside subnet", create(append(ipam, "--subnet", "10.102.0.0/24", "--gateway", "10.103.0.1", "bad3")...), "10.103.0.1"},
		{"unknown driver option", create(append(ipam, "--subnet", "10.104.0.0/24", "-o", "foo=bar", "bad4")...), `unknown option "foo" for the xoverlay driver`},
		{"default IPAM", create("--subnet", "10.105.0.0/24", "bad5"), "--ipam-driver xoverlay"},
		{"address in use", []string{"run", "-d", "--rm", "--net", "appnet", "--ip", usedIP, "--name", "bad6", "xo-demo:v1"}, "already in use"},
		{"network with endpoints", []string{"network", "rm", "appnet"}, "active endpoints"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := h.snapshot(t)
			out, err := h.docker(tc.args...)
			if err == nil {
				t.Fatalf("docker %v succeeded:\n%s", tc.args, out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error lacks %q:\n%v", tc.want, err)
			}
			h.mustDocker(t, "container", "prune", "-f") // a failed `docker run` leaves a created container
			if after := h.snapshot(t); after != before {
				t.Fatalf("state changed:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
	t.Run("exhausted pool", func(t *testing.T) {
		base := h.snapshot(t)
		h.mustDocker(t, "network", "create", "-d", "xoverlay", "--ipam-driver", "xoverlay", "--subnet", "10.106.0.0/29", "tiny")
		before := h.snapshot(t)
		var names []string
		for i := range 5 { // a /29 has 6 usable addresses, one is the gateway
			name := fmt.Sprintf("tiny%d", i)
			h.mustDocker(t, "run", "-d", "--net", "tiny", "--name", name, "xo-demo:v1")
			names = append(names, name)
		}
		out, err := h.docker("run", "-d", "--net", "tiny", "--name", "tiny-full", "xo-demo:v1")
		if err == nil || !strings.Contains(err.Error(), "no free address left in 10.106.0.0/29") {
			t.Fatalf("6th container: %v %s", err, out)
		}
		h.mustDocker(t, "rm", "-f", "tiny-full")
		h.mustDocker(t, append([]string{"rm", "-f"}, names...)...)
		if after := h.snapshot(t); after != before {
			t.Fatalf("state changed:\nbefore %+v\nafter  %+v", before, after)
		}
		// The engine finishes an endpoint's teardown just after `rm -f` returns.
		harness.Eventually(t, 10*time.Second, func() error {
			_, err := h.docker("network", "rm", "tiny")
			return err
		})
		// Gone for good: not created again by the agent, nothing left.
		harness.Eventually(t, 10*time.Second, func() error {
			if out := strings.TrimSpace(h.mustXO(t, "network", "ls", "--format", "{{.Name}}")); out != "appnet" {
				return fmt.Errorf("networks in state after removing tiny: %q", out)
			}
			if after := h.snapshot(t); after != base {
				return fmt.Errorf("after removing tiny:\n%+v\nbefore creating it:\n%+v", after, base)
			}
			return nil
		})
	})
}
