//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

// demoAnswer is the part of the demo app's / answer the tests read.
type demoAnswer struct {
	Hostname string `json:"hostname"`
	Remote   string `json:"remote"`
}

// vipOf returns a service's one virtual IP, waiting until it has one.
func vipOf(t *testing.T, n *node, service string) string {
	t.Helper()
	var vip string
	harness.Eventually(t, 10*time.Second, func() error {
		out, err := n.xo("service", "inspect", service)
		if err != nil {
			return err
		}
		var svcs []struct {
			VirtualIPs []struct {
				Addr string `json:"addr"`
			} `json:"virtual_ips"`
		}
		if err := json.Unmarshal([]byte(out), &svcs); err != nil {
			return fmt.Errorf("xo service inspect %s: %v\n%s", service, err, out)
		}
		if len(svcs) != 1 || len(svcs[0].VirtualIPs) != 1 {
			return fmt.Errorf("%s has no single virtual IP yet: %s", service, out)
		}
		vip = svcs[0].VirtualIPs[0].Addr
		return nil
	})
	return vip
}

// askMany makes count HTTP requests, one connection each, from a client
// container to url, and counts the answers per backend hostname. Every
// answer must come from a backend that saw the client's own address.
func askMany(t *testing.T, n *node, client, clientIP, url string, count int) map[string]int {
	t.Helper()
	out, err := n.probe(client, "http", "-n", fmt.Sprint(count), "-timeout", "3s", url)
	if err != nil {
		t.Fatalf("h%d %s -> %s: %v\n%s", n.i, client, url, err, out)
	}
	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var a demoAnswer
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("answer %q: %v", line, err)
		}
		host, _, err := net.SplitHostPort(a.Remote)
		if err != nil || host != clientIP {
			t.Fatalf("backend %s saw the client as %q, want %s (the client's own address)", a.Hostname, a.Remote, clientIP)
		}
		seen[a.Hostname]++
	}
	if total := sum(seen); total != count {
		t.Fatalf("%d answers of %d requests", total, count)
	}
	return seen
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func keys(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// taskHosts returns the hostnames (short container IDs) of a service's
// running tasks.
func taskHosts(t *testing.T, n *node, service string) []string {
	t.Helper()
	var out []string
	for _, tk := range n.tasks(t, service) {
		if tk.DesiredState == "running" && tk.State == "running" {
			out = append(out, tk.ContainerID[:min(12, len(tk.ContainerID))])
		}
	}
	sort.Strings(out)
	return out
}

// TestLoadBalancing is issue 6's service VIPs on 3 simulated hosts.
func TestLoadBalancing(t *testing.T) {
	_, hs := startCluster3(t)
	h1 := hs[0]
	joinAll(t, h1, hs[1], hs[2])
	h1.mustDocker(t, "network", "create", "-d", "xoverlay", "--ipam-driver", "xoverlay", "--subnet", "10.150.0.0/24", "appnet")
	for _, n := range hs {
		hasNetwork(t, n, "appnet", "10.150.0.0/24")
	}

	t.Run("each node reports its data plane", func(t *testing.T) {
		for _, n := range hs {
			out := n.mustXO(t, "node", "inspect", n.nodeHostname())
			var nodes []struct {
				Capabilities struct {
					DataPlane string `json:"data_plane"`
				} `json:"capabilities"`
			}
			if err := json.Unmarshal([]byte(out), &nodes); err != nil || len(nodes) != 1 || nodes[0].Capabilities.DataPlane != "nftables" {
				t.Fatalf("h%d: xo node inspect: %v\n%s\nwant capabilities.data_plane nftables (this kernel has no ip_vs)", n.i, err, out)
			}
			metrics := n.c.MustExec(t, n.i, n.c.Bin("probe"), "http", "-n", "1", "http://127.0.0.1:9180/metrics")
			if !strings.Contains(metrics, `xo_lb_dataplane_info{plane="nftables"} 1`) {
				t.Fatalf("h%d: metrics lack xo_lb_dataplane_info{plane=\"nftables\"} 1", n.i)
			}
		}
	})

	clients := map[*node]string{} // client container IP per host
	for _, n := range hs {
		name := fmt.Sprintf("client%d", n.i)
		n.mustDocker(t, "run", "-d", "--net", "appnet", "--name", name, "xo-probe", "sleep")
		clients[n] = n.containerIP(t, name, "appnet")
	}
	client := func(n *node) string { return fmt.Sprintf("client%d", n.i) }

	h1.mustXO(t, "service", "create", "--name", "web", "--replicas", "3", "--network", "appnet", "xo-demo:v1")
	running(t, h1, "web", 3)
	vip := vipOf(t, h1, "web")
	webHosts := taskHosts(t, h1, "web")

	t.Run("a VIP from every host reaches all 3 replicas, keeping the client's address", func(t *testing.T) {
		for _, n := range hs {
			harness.Eventually(t, 5*time.Second, func() error {
				if got, err := resolve(n, client(n), "web"); err != nil || got != vip {
					return fmt.Errorf("h%d: web resolves to %q (%v), want the VIP %s", n.i, got, err, vip)
				}
				if out, err := resolve(n, client(n), "tasks.web"); err != nil || len(strings.Fields(out)) != 3 {
					return fmt.Errorf("h%d: tasks.web resolves to %q (%v), want the 3 tasks", n.i, out, err)
				}
				return nil
			})
			seen := askMany(t, n, client(n), clients[n], "http://web:8080/", 60)
			if got := keys(seen); strings.Join(got, " ") != strings.Join(webHosts, " ") {
				t.Fatalf("h%d: 60 requests to http://web:8080/ reached %v, want every task %v", n.i, seen, webHosts)
			}
			t.Logf("h%d: %v", n.i, seen)
		}
		// Every port of the VIP: UDP too (the demo app echoes on 8080/udp).
		if out, err := h1.probe(client(h1), "udp", "web:8080"); err != nil {
			t.Fatalf("udp to web:8080: %v %s", err, out)
		}
	})

	t.Run("scale to 1: no new connection reaches a removed task", func(t *testing.T) {
		h1.mustXO(t, "service", "scale", "web=1")
		left := taskHosts(t, h1, "web")
		if len(left) != 1 {
			t.Fatalf("after the scale returned, running tasks %v", left)
		}
		for _, n := range hs {
			seen := askMany(t, n, client(n), clients[n], "http://web:8080/", 30)
			if got := keys(seen); len(got) != 1 || got[0] != left[0] {
				t.Fatalf("h%d: after the scale, requests reached %v, want only %s", n.i, seen, left[0])
			}
		}
	})

	t.Run("a hand-run container is reachable through its service's VIP", func(t *testing.T) {
		h3 := hs[2]
		h3.mustDocker(t, "run", "-d", "--net", "appnet", "--name", "ext1", "--label", "xo.service=ext", "xo-demo:v1")
		extVIP := vipOf(t, h1, "ext")
		extHost := h3.mustDocker(t, "inspect", "-f", "{{.Config.Hostname}}", "ext1")
		harness.Eventually(t, 10*time.Second, func() error {
			got, err := resolve(h1, client(h1), "ext")
			if err != nil || got != extVIP {
				return fmt.Errorf("ext resolves to %q (%v), want its VIP %s", got, err, extVIP)
			}
			return nil
		})
		seen := askMany(t, h1, client(h1), clients[h1], "http://ext:8080/", 10)
		if got := keys(seen); len(got) != 1 || got[0] != extHost {
			t.Fatalf("http://ext:8080/ reached %v, want ext1 (%s)", seen, extHost)
		}
		if vip == extVIP {
			t.Fatalf("web and ext share the VIP %s", vip)
		}
	})
}
