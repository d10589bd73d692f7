//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

// fast heartbeats so node status changes within a test's patience.
var fastHeartbeats = []string{"--heartbeat-interval", "200ms", "--node-suspect-after", "1s", "--node-down-after", "3s"}

func startCluster3(t *testing.T) (*harness.Cluster, []*node) {
	t.Helper()
	c := harness.Start(t, 3, harness.Options{})
	var nodes []*node
	for i := 1; i <= 3; i++ {
		n := &node{owner: t, c: c, i: i, extra: fastHeartbeats}
		n.start(t)
		nodes = append(nodes, n)
	}
	return c, nodes
}

type apiNode struct {
	ID            string `json:"id"`
	Hostname      string `json:"hostname"`
	Role          string `json:"role"`
	Status        string `json:"status"`
	ManagerStatus string `json:"manager_status"`
	Labels        map[string]string
}

func (n *node) nodes(t *testing.T) []apiNode {
	t.Helper()
	var out []apiNode
	if err := json.Unmarshal([]byte(n.mustXO(t, "node", "ls", "--format", "json")), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// wantNodes waits until host n sees exactly these hostnames with statuses.
func wantNodes(t *testing.T, n *node, want map[string]string) {
	t.Helper()
	harness.Eventually(t, 20*time.Second, func() error {
		got := map[string]string{}
		for _, nd := range n.nodes(t) {
			got[nd.Hostname] = nd.Role + "/" + nd.Status
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("h%d sees %v, want %v", n.i, got, want)
		}
		return nil
	})
}

// TestClusterMembership is issue 3's membership: init, joins with good and
// bad tokens, promotion, every host seeing every node, a leader killed
// under a stream of writes, quorum protection, and a rejoin.
func TestClusterMembership(t *testing.T) {
	_, hs := startCluster3(t)
	h1, h2, h3 := hs[0], hs[1], hs[2]

	// State made by the embedded single-node cluster survives init.
	h1.mustDocker(t, "network", "create", "-d", "xoverlay", "--ipam-driver", "xoverlay", "--subnet", "10.130.0.0/24", "keepnet")
	h1.mustDocker(t, "run", "-d", "--net", "keepnet", "--name", "early", "xo-demo:v1")
	out := h1.mustXO(t, "cluster", "init")
	if !strings.Contains(out, "Cluster initialized") || !strings.Contains(out, "198.18.0.11:2378") {
		t.Fatalf("cluster init:\n%s", out)
	}
	if got := h1.inspect(t, "keepnet"); got.Subnet != "10.130.0.0/24" || len(got.Hosts) != 1 || len(got.Hosts[0].Endpoints) != 1 {
		t.Fatalf("keepnet after init: %+v", got)
	}
	h1.mustDocker(t, "run", "-d", "--net", "keepnet", "--name", "late", "xo-demo:v1")
	if a, b := h1.containerIP(t, "early", "keepnet"), h1.containerIP(t, "late", "keepnet"); a == b {
		t.Fatalf("address %s handed out twice across init", a)
	}
	worker := strings.TrimSpace(h1.mustXO(t, "cluster", "token", "worker", "-q"))
	manager := strings.TrimSpace(h1.mustXO(t, "cluster", "token", "manager", "-q"))

	t.Run("bad tokens are refused and join nothing", func(t *testing.T) {
		digest := strings.Split(worker, "-")[2]
		otherCA := strings.Replace(worker, digest, strings.Repeat("ab", 32), 1)
		wrongSecret := worker[:len(worker)-6] + "aaaaaa"
		for _, tc := range []struct{ token, want string }{
			{"SWMTKN-1-nope", "malformed join token"},
			{otherCA, "does not match the token"},
			{wrongSecret, "invalid join token"},
		} {
			out, err := h3.xo("cluster", "join", "--token", tc.token, h1.c.HostAddr(1))
			if err == nil || !strings.Contains(out, tc.want) {
				t.Errorf("token %q: %v\n%s", tc.token, err, out)
			}
		}
		wantNodes(t, h1, map[string]string{"h1": "manager/ready"})
	})

	t.Run("join as worker, refused through a worker, promote", func(t *testing.T) {
		h2.mustXO(t, "cluster", "join", "--token", worker, h1.c.HostAddr(1))
		out, err := h3.xo("cluster", "join", "--token", manager, h2.c.HostAddr(2))
		if err == nil || !strings.Contains(out, "not a manager") {
			t.Fatalf("join through a worker: %v\n%s", err, out)
		}
		h1.mustXO(t, "node", "promote", "h2")
		// h2 receives the CA key, then can admit h3 itself.
		harness.Eventually(t, 20*time.Second, func() error {
			_, err := h3.xo("cluster", "join", "--token", manager, h2.c.HostAddr(2))
			return err
		})
		want := map[string]string{"h1": "manager/ready", "h2": "manager/ready", "h3": "manager/ready"}
		for _, n := range hs {
			wantNodes(t, n, want)
		}
		for _, n := range hs[1:] { // the pre-init network reached the joiners
			hasNetwork(t, n, "keepnet", "10.130.0.0/24")
		}
	})

	t.Run("token rotation reaches every manager", func(t *testing.T) {
		out := h1.mustXO(t, "cluster", "token", "worker", "--rotate")
		if !strings.Contains(out, "Successfully rotated worker join token") || strings.Contains(out, worker) {
			t.Fatalf("rotate:\n%s", out)
		}
		harness.Eventually(t, 5*time.Second, func() error { // a follower applies the rotation a moment later
			if fresh := strings.TrimSpace(h2.mustXO(t, "cluster", "token", "worker", "-q")); fresh == worker {
				return fmt.Errorf("h2 still shows the old token")
			}
			return nil
		})
	})

	t.Run("leader killed under writes", func(t *testing.T) {
		leader := leaderOf(t, h1)
		var writer *node
		var others []*node
		for _, n := range hs {
			if n.nodeHostname() != leader {
				others = append(others, n)
				writer = n
			}
		}
		var mu sync.Mutex
		var acked []string
		done := make(chan error, 1)
		go func() {
			for i := range 40 {
				key := fmt.Sprintf("w%02d", i)
				if _, err := writer.xo("node", "update", "--label-add", key+"=1", writer.nodeHostname()); err != nil {
					done <- err
					return
				}
				mu.Lock()
				acked = append(acked, key)
				mu.Unlock()
			}
			done <- nil
		}()
		harness.Eventually(t, 20*time.Second, func() error {
			mu.Lock()
			defer mu.Unlock()
			if len(acked) < 10 {
				return fmt.Errorf("%d writes", len(acked))
			}
			return nil
		})
		var dead *node
		for _, n := range hs {
			if n.nodeHostname() == leader {
				dead = n
			}
		}
		dead.kill9(t)
		if err := <-done; err != nil {
			t.Fatalf("a write failed across the leader change: %v", err)
		}
		if l := leaderOf(t, others[0]); l == leader {
			t.Fatalf("leader still %s", l)
		}
		for _, n := range others {
			harness.Eventually(t, 10*time.Second, func() error {
				for _, nd := range n.nodes(t) {
					if nd.Hostname != writer.nodeHostname() {
						continue
					}
					for _, k := range acked {
						if nd.Labels[k] != "1" {
							return fmt.Errorf("h%d lacks acknowledged label %s", n.i, k)
						}
					}
				}
				return nil
			})
		}
		// The killed node goes down; demoting another manager now would
		// leave 1 reachable of 2: refused.
		harness.Eventually(t, 15*time.Second, func() error {
			for _, nd := range others[0].nodes(t) {
				if nd.Hostname == leader && nd.Status != "down" {
					return fmt.Errorf("%s is %s", leader, nd.Status)
				}
			}
			return nil
		})
		out, err := others[0].xo("node", "demote", others[1].nodeHostname())
		if err == nil || !strings.Contains(out, "quorum") {
			t.Fatalf("demote below quorum: %v\n%s", err, out)
		}
		// It comes back with the same identity.
		dead.start(t)
		want := map[string]string{"h1": "manager/ready", "h2": "manager/ready", "h3": "manager/ready"}
		for _, n := range hs {
			wantNodes(t, n, want)
		}
	})
}

func (n *node) nodeHostname() string { return fmt.Sprintf("h%d", n.i) }

// leaderOf waits for a leader as seen from n and returns its hostname.
func leaderOf(t *testing.T, n *node) string {
	t.Helper()
	var leader string
	harness.Eventually(t, 15*time.Second, func() error {
		out, err := n.xo("node", "ls", "--format", "json")
		if err != nil {
			return err
		}
		var ns []apiNode
		if err := json.Unmarshal([]byte(out), &ns); err != nil {
			return err
		}
		for _, nd := range ns {
			if nd.ManagerStatus == "Leader" {
				leader = nd.Hostname
				return nil
			}
		}
		return fmt.Errorf("no leader in %+v", ns)
	})
	return leader
}
