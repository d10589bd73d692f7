//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

// chainAnswer is demoapp's /call answer: the caller, with its upstream's
// answer nested inside.
type chainAnswer struct {
	Hostname string       `json:"hostname"`
	IP       []string     `json:"ip"`
	Upstream *chainAnswer `json:"upstream"`
}

// last is the end of the chain.
func (a *chainAnswer) last() *chainAnswer {
	for a.Upstream != nil {
		a = a.Upstream
	}
	return a
}

// callChain asks proxy (on host n) for /call: proxy -> timetrack -> mongo.
func callChain(n *node) (*chainAnswer, error) {
	out, err := n.probe("proxy", "http", "-timeout", "3s", "http://127.0.0.1:8080/call")
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, out)
	}
	var a chainAnswer
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		return nil, fmt.Errorf("chain answer %q: %v", out, err)
	}
	if a.Upstream == nil || a.Upstream.Upstream == nil {
		return nil, fmt.Errorf("chain answer without three hops: %s", out)
	}
	return &a, nil
}

// chainReaches waits, at most within, until the chain ends at ip.
func chainReaches(t *testing.T, n *node, ip string, within time.Duration) {
	t.Helper()
	start := time.Now()
	var last error
	for time.Since(start) < within {
		a, err := callChain(n)
		if err == nil && len(a.last().IP) > 0 && a.last().IP[0] == ip {
			t.Logf("proxy -> timetrack -> mongo (%s) answered %s after mongo was up", ip, time.Since(start).Round(time.Millisecond))
			return
		}
		if err == nil {
			err = fmt.Errorf("chain ends at %v, want %s", a.last().IP, ip)
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the chain did not reach mongo at %s within %s of it being up: %v", ip, within, last)
}

// started is a container's start time and restart count: proof it was not restarted.
func started(t *testing.T, n *node, name string) string {
	t.Helper()
	return n.mustDocker(t, "inspect", "-f", "{{.State.StartedAt}} {{.RestartCount}}", name)
}

// resolve runs the pure Go resolver inside a container (through Docker's
// embedded DNS, 127.0.0.11).
func resolve(n *node, container, name string) (string, error) {
	out, err := n.probe(container, "resolve", "-timeout", "3s", name)
	return strings.TrimSpace(out), err
}

// TestDiscovery is issue 4: names across hosts, so a restart never cascades.
func TestDiscovery(t *testing.T) {
	c, hs := startCluster3(t)
	h1, h2, h3 := hs[0], hs[1], hs[2]
	joinAll(t, h1, h2, h3)
	h1.mustDocker(t, "network", "create", "-d", "xoverlay", "--ipam-driver", "xoverlay", "--subnet", "10.130.0.0/24", "appnet")
	for _, n := range hs {
		hasNetwork(t, n, "appnet", "10.130.0.0/24")
	}

	t.Run("xo info reports the DNS address", func(t *testing.T) {
		for _, n := range hs {
			var info map[string]any
			if err := json.Unmarshal([]byte(n.mustXO(t, "info", "--format", "json")), &info); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"dns_address": "169.254.53.53", "hostname": fmt.Sprintf("h%d", n.i), "role": "manager", "data_plane": "nftables"}
			for k, v := range want {
				if info[k] != v {
					t.Errorf("h%d: xo info %s = %v, want %v", n.i, k, info[k], v)
				}
			}
			if info["node_id"] == "" || info["version"] == "" {
				t.Errorf("h%d: xo info without node_id or version: %v", n.i, info)
			}
		}
	})

	// The seeds' scenario: mongo on h1, timetrack on h2 calling it by
	// name, proxy on h3 calling timetrack, all plain docker run.
	h1.mustDocker(t, "run", "-d", "--net", "appnet", "--name", "mongo", "xo-demo:v1")
	h2.mustDocker(t, "run", "-d", "--net", "appnet", "--name", "timetrack", "-e", "CALL=http://mongo:8080/", "xo-demo:v1")
	h3.mustDocker(t, "run", "-d", "--net", "appnet", "--name", "proxy", "-e", "CALL=http://timetrack:8080/call", "xo-demo:v1")
	chainReaches(t, h3, h1.containerIP(t, "mongo", "appnet"), 10*time.Second)
	before := []string{started(t, h2, "timetrack"), started(t, h3, "proxy")}

	t.Run("mongo restarts with a new address", func(t *testing.T) {
		old := h1.containerIP(t, "mongo", "appnet")
		h1.mustDocker(t, "restart", "-t", "1", "mongo")
		ip := h1.containerIP(t, "mongo", "appnet")
		if ip == old {
			t.Fatalf("restarted mongo kept %s; the allocator should hand out a new address", ip)
		}
		chainReaches(t, h3, ip, time.Second)
	})

	t.Run("mongo moves to h3", func(t *testing.T) {
		h1.mustDocker(t, "rm", "-f", "mongo")
		h3.mustDocker(t, "run", "-d", "--net", "appnet", "--name", "mongo", "xo-demo:v1")
		chainReaches(t, h3, h3.containerIP(t, "mongo", "appnet"), time.Second)
	})

	if after := []string{started(t, h2, "timetrack"), started(t, h3, "proxy")}; strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("timetrack or proxy restarted: %v -> %v", before, after)
	}

	t.Run("aliases, health and forwarding", func(t *testing.T) {
		h1.mustDocker(t, "run", "-d", "--net", "appnet", "--name", "db1", "--network-alias", "database", "xo-demo:v1")
		ip := h1.containerIP(t, "db1", "appnet")
		harness.Eventually(t, 5*time.Second, func() error {
			got, err := resolve(h2, "timetrack", "database")
			if err != nil || got != ip {
				return fmt.Errorf("database from h2: %q %v, want %s", got, err, ip)
			}
			return nil
		})
		// A healthcheck: out of DNS until healthy, and again when unhealthy.
		h1.mustDocker(t, "run", "-d", "--net", "appnet", "--name", "checked", "-e", "FAIL_HEALTH=1", "xo-demo:hc")
		hcIP := h1.containerIP(t, "checked", "appnet")
		waitHealth(t, h1, "checked", "unhealthy")
		if got, err := resolve(h2, "timetrack", "checked"); err == nil {
			t.Fatalf("unhealthy container resolved to %s", got)
		}
		h1.mustDocker(t, "exec", "checked", "/probe", "http", "http://127.0.0.1:8080/health/ok")
		harness.Eventually(t, 5*time.Second, func() error {
			got, err := resolve(h2, "timetrack", "checked")
			if err != nil || got != hcIP {
				return fmt.Errorf("healthy container from h2: %q %v", got, err)
			}
			return nil
		})
		h1.mustDocker(t, "exec", "checked", "/probe", "http", "http://127.0.0.1:8080/health/fail")
		harness.Eventually(t, 5*time.Second, func() error {
			if got, err := resolve(h2, "timetrack", "checked"); err == nil {
				return fmt.Errorf("unhealthy container still resolves to %s", got)
			}
			return nil
		})
		// Names outside the cluster go to the upstream resolver.
		if got, err := resolve(h2, "timetrack", "www."+strings.TrimSuffix(harness.UpstreamZone, ".")); err != nil || got != harness.UpstreamAnswer {
			t.Fatalf("forwarded name: %q %v", got, err)
		}
	})

	t.Run("a container not on the network cannot resolve its names", func(t *testing.T) {
		h1.mustDocker(t, "network", "create", "-d", "xoverlay", "--ipam-driver", "xoverlay", "--subnet", "10.131.0.0/24", "othernet")
		hasNetwork(t, h2, "othernet", "10.131.0.0/24")
		h1.mustDocker(t, "run", "-d", "--net", "othernet", "--name", "neighbour", "xo-probe")
		h2.mustDocker(t, "run", "-d", "--net", "othernet", "--name", "outsider", "xo-probe")
		harness.Eventually(t, 5*time.Second, func() error {
			_, err := resolve(h2, "outsider", "neighbour")
			return err
		})
		for _, name := range []string{"mongo", "timetrack", "database", "mongo.appnet"} {
			if got, err := resolve(h2, "outsider", name); err == nil {
				t.Errorf("outsider on othernet resolved %s to %s", name, got)
			}
		}
	})

	t.Run("the DNS fast path", func(t *testing.T) { testFastPath(t, h2, h3) })

	t.Run("dnsd answers from the host with the right rcodes", func(t *testing.T) {
		out := c.MustExec(t, 2, c.Bin("probe"), "resolve", "-server", "169.254.53.53:53", "-timeout", "2s", "proxy")
		if strings.TrimSpace(out) != h3.containerIP(t, "proxy", "appnet") {
			t.Fatalf("proxy from h2's host view: %q", out)
		}
		start := time.Now()
		if out, err := c.Exec(2, c.Bin("probe"), "resolve", "-server", "169.254.53.53:53", "-timeout", "2s", "no-such-container"); err == nil || !strings.Contains(err.Error()+out, "no such host") {
			t.Fatalf("unknown single-label name: want NXDOMAIN, got %v %q", err, out)
		}
		t.Logf("NXDOMAIN for an unknown cluster name in %s", time.Since(start).Round(time.Millisecond))
	})
}

// waitHealth waits until a container's health status is want.
func waitHealth(t *testing.T, n *node, name, want string) {
	t.Helper()
	harness.Eventually(t, 10*time.Second, func() error {
		got, err := n.docker("inspect", "-f", "{{.State.Health.Status}}", name)
		if err != nil || strings.TrimSpace(got) != want {
			return fmt.Errorf("%s health %q %v, want %s", name, strings.TrimSpace(got), err, want)
		}
		return nil
	})
}
