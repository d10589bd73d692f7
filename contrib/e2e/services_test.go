//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

// apiTask is the part of `xo service ps --format json` the tests read.
type apiTask struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Slot         uint64 `json:"slot"`
	Node         string `json:"node"`
	DesiredState string `json:"desired_state"`
	State        string `json:"state"`
	Err          string `json:"err"`
	Message      string `json:"message"`
	ContainerID  string `json:"container_id"`
}

func (n *node) tasks(t *testing.T, service string) []apiTask {
	t.Helper()
	ts, err := n.tryTasks(service)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// tryTasks lists a service's tasks; a replica that has not applied the
// service's creation yet answers "no such service".
func (n *node) tryTasks(service string) ([]apiTask, error) {
	var ts []apiTask
	out, err := n.xo("service", "ps", service, "--format", "json")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(out), &ts); err != nil {
		return nil, fmt.Errorf("xo service ps %s: %v\n%s", service, err, out)
	}
	return ts, nil
}

// running waits until service has exactly want running tasks (and no
// other task meant to run), and returns the hosts they run on, sorted.
func running(t *testing.T, n *node, service string, want int) []string {
	t.Helper()
	var hosts []string
	harness.Eventually(t, 30*time.Second, func() error {
		hosts = nil
		var other []string
		ts, err := n.tryTasks(service)
		if err != nil {
			return err
		}
		for _, tk := range ts {
			switch {
			case tk.DesiredState == "running" && tk.State == "running":
				hosts = append(hosts, tk.Node)
			case tk.DesiredState == "running":
				other = append(other, fmt.Sprintf("%s %s %s %s", tk.Name, tk.State, tk.Message, tk.Err))
			}
		}
		if len(hosts) != want || len(other) > 0 {
			return fmt.Errorf("%s: %d running (%v), want %d; not running yet: %v", service, len(hosts), hosts, want, other)
		}
		return nil
	})
	sort.Strings(hosts)
	return hosts
}

// TestServices is issue 5 on 3 simulated hosts.
func TestServices(t *testing.T) {
	_, hs := startCluster3(t)
	h1, h2, h3 := hs[0], hs[1], hs[2]
	joinAll(t, h1, h2) // h3 joins later
	h1.mustDocker(t, "network", "create", "-d", "xoverlay", "--ipam-driver", "xoverlay", "--subnet", "10.140.0.0/24", "appnet")

	t.Run("global service on every host, and on a host that joins later", func(t *testing.T) {
		out := h1.mustXO(t, "service", "create", "--name", "mon", "--mode", "global", "xo-probe")
		if !strings.Contains(out, "overall progress: 2 out of 2 tasks") || !strings.Contains(out, "verify: Service converged") {
			t.Fatalf("create did not follow the service to convergence:\n%s", out)
		}
		if got := running(t, h2, "mon", 2); strings.Join(got, " ") != "h1 h2" {
			t.Fatalf("mon runs on %v", got)
		}
		token := strings.TrimSpace(h1.mustXO(t, "cluster", "token", "manager", "-q"))
		h3.mustXO(t, "cluster", "join", "--token", token, h1.c.HostAddr(1))
		if got := running(t, h2, "mon", 3); strings.Join(got, " ") != "h1 h2 h3" {
			t.Fatalf("mon runs on %v after h3 joined", got)
		}
	})
	for _, n := range hs {
		hasNetwork(t, n, "appnet", "10.140.0.0/24")
	}
	h1.mustDocker(t, "run", "-d", "--net", "appnet", "--name", "client", "xo-probe")

	t.Run("three replicas spread one per host, found by name", func(t *testing.T) {
		h2.mustXO(t, "service", "create", "--name", "web", "--replicas", "3", "--network", "appnet", "xo-demo:v1")
		if got := running(t, h1, "web", 3); strings.Join(got, " ") != "h1 h2 h3" {
			t.Fatalf("web runs on %v, want one per host", got)
		}
		harness.Eventually(t, 5*time.Second, func() error {
			out, err := resolve(h1, "client", "tasks.web")
			if n := len(strings.Fields(out)); err != nil || n != 3 {
				return fmt.Errorf("tasks.web: %v %q", err, out)
			}
			return nil
		})
		if out, err := h1.probe("client", "http", "-timeout", "3s", "http://web:8080/"); err != nil {
			t.Fatalf("http://web:8080/: %v %s", err, out)
		}
		// Logs come from the engine of each task's node.
		harness.Eventually(t, 10*time.Second, func() error {
			out, err := h1.xo("service", "logs", "web")
			if err != nil {
				return err
			}
			for _, h := range []string{"@h1", "@h2", "@h3"} {
				if !strings.Contains(out, h) || !strings.Contains(out, "listening on") {
					return fmt.Errorf("no log line from %s in:\n%s", h, out)
				}
			}
			return nil
		})
	})

	t.Run("scale 3 -> 6 -> 2", func(t *testing.T) {
		h3.mustXO(t, "service", "scale", "web=6")
		if got := running(t, h1, "web", 6); strings.Join(got, " ") != "h1 h1 h2 h2 h3 h3" {
			t.Fatalf("6 replicas on %v", got)
		}
		h1.mustXO(t, "service", "scale", "web=2")
		running(t, h1, "web", 2)
		harness.Eventually(t, 10*time.Second, func() error {
			n := 0
			for _, h := range hs {
				out := h.mustDocker(t, "ps", "-q", "--filter", "label=xo.service=web")
				n += len(strings.Fields(out))
			}
			if n != 2 {
				return fmt.Errorf("%d web containers running on the engines, want 2", n)
			}
			return nil
		})
	})

	t.Run("a removed task container is replaced", func(t *testing.T) {
		ts := h1.tasks(t, "web")
		var victim apiTask
		for _, tk := range ts {
			if tk.State == "running" {
				victim = tk
				break
			}
		}
		host := hs[victim.Node[1]-'1']
		host.mustDocker(t, "rm", "-f", victim.ContainerID)
		harness.Eventually(t, 15*time.Second, func() error {
			for _, tk := range h1.tasks(t, "web") {
				if tk.ID == victim.ID && tk.State == "failed" && strings.Contains(tk.Err, "removed") {
					return nil
				}
			}
			return fmt.Errorf("task %s not shown failed", victim.ID)
		})
		running(t, h1, "web", 2)
	})

	t.Run("constraints: impossible stays pending with the reason, then placed", func(t *testing.T) {
		h1.mustXO(t, "service", "create", "-d", "--name", "fast", "--constraint", "node.labels.ssd==true", "xo-probe")
		harness.Eventually(t, 10*time.Second, func() error {
			ts := h1.tasks(t, "fast")
			if len(ts) == 1 && ts[0].State == "pending" && strings.Contains(ts[0].Err+ts[0].Message, "constraint node.labels.ssd==true matched 0 of 3 nodes") {
				return nil
			}
			return fmt.Errorf("fast tasks: %+v", ts)
		})
		h1.mustXO(t, "node", "update", "--label-add", "ssd=true", "h2")
		if got := running(t, h1, "fast", 1); got[0] != "h2" {
			t.Fatalf("fast runs on %v, want h2", got)
		}
	})

	t.Run("bad input is refused and nothing is stored", func(t *testing.T) {
		before := h1.mustXO(t, "service", "ls", "-q")
		for _, args := range [][]string{
			{"--name", "web", "xo-probe"},
			{"--name", "bad1", "--network", "nosuchnet", "xo-probe"},
			{"--name", "bad2", "--constraint", "node.labels.ssd=true", "xo-probe"},
			{"--name", "bad3", "--reserve-memory", "1t", "xo-probe"},
		} {
			if out, err := h1.xo(append([]string{"service", "create"}, args...)...); err == nil {
				t.Errorf("xo service create %v succeeded: %s", args, out)
			}
		}
		if after := h1.mustXO(t, "service", "ls", "-q"); after != before {
			t.Fatalf("services changed by refused creates:\n%s\n->\n%s", before, after)
		}
	})

	t.Run("an unhealthy task is replaced", func(t *testing.T) {
		h1.mustXO(t, "service", "create", "--name", "checked", "--network", "appnet",
			"--health-cmd", `["CMD","/demoapp","-check"]`, "--health-interval", "500ms", "--health-retries", "1", "xo-demo:v1")
		running(t, h1, "checked", 1)
		tk := h1.tasks(t, "checked")[0]
		host := hs[tk.Node[1]-'1']
		host.mustDocker(t, "exec", tk.ContainerID, "/probe", "http", "http://127.0.0.1:8080/health/fail")
		harness.Eventually(t, 20*time.Second, func() error {
			for _, x := range h1.tasks(t, "checked") {
				if x.ID == tk.ID && x.State == "failed" && strings.Contains(x.Err, "unhealthy") {
					return nil
				}
			}
			return fmt.Errorf("task %s not failed as unhealthy: %+v", tk.ID, h1.tasks(t, "checked"))
		})
		running(t, h1, "checked", 1)
	})

	t.Run("a hand-run container joins a service", func(t *testing.T) {
		h3.mustDocker(t, "run", "-d", "--net", "appnet", "--name", "ext1", "--label", "xo.service=ext", "xo-demo:v1")
		ip := h3.containerIP(t, "ext1", "appnet")
		harness.Eventually(t, 10*time.Second, func() error {
			out, err := resolve(h1, "client", "tasks.ext")
			if err != nil || strings.TrimSpace(out) != ip {
				return fmt.Errorf("tasks.ext: %v %q, want %s", err, out, ip)
			}
			if ls := h1.mustXO(t, "service", "ls", "--format", "{{.Name}}"); !strings.Contains(ls, "ext") {
				return fmt.Errorf("no external service ext in:\n%s", ls)
			}
			return nil
		})
	})

	t.Run("a container the engine refuses: rejected with the error, retried with back-off", func(t *testing.T) {
		cases := []struct{ name, why string }{
			{"noimg", "image xo-nosuch:v9 is not on this engine"},
			{"badmount", "bind source path does not exist"},
		}
		h1.mustXO(t, "service", "create", "-d", "--name", "noimg", "xo-nosuch:v9")
		h1.mustXO(t, "service", "create", "-d", "--name", "badmount", "--mount", "type=bind,source=/nonexistent/xo,target=/data", "xo-probe")
		rejected := func(name, why string) (n, total int, last string) {
			ts := h1.tasks(t, name)
			for _, tk := range ts {
				if tk.State == "rejected" && strings.Contains(tk.Err, why) {
					n++
				}
				last = tk.State + ": " + tk.Err
			}
			return n, len(ts), last
		}
		before := map[string]int{}
		for _, tc := range cases {
			harness.Eventually(t, 20*time.Second, func() error {
				n, total, last := rejected(tc.name, tc.why)
				if n < 2 {
					return fmt.Errorf("%s: %d of %d tasks rejected with %q (last: %q)", tc.name, n, total, tc.why, last)
				}
				before[tc.name] = total
				return nil
			})
		}
		// Back-off, not a hot loop: the replacements come ever slower
		// (1s, 2s, 4s, ...), so a few seconds add only a few tasks.
		time.Sleep(6 * time.Second)
		for _, tc := range cases {
			if _, after, _ := rejected(tc.name, tc.why); after-before[tc.name] > 5 {
				t.Errorf("%s: %d new tasks in 6s: retried in a hot loop", tc.name, after-before[tc.name])
			}
			h1.mustXO(t, "service", "rm", tc.name)
		}
	})

	t.Run("the leader dies mid-reconcile: the new leader finishes it, no duplicates", func(t *testing.T) {
		leader, other := leaderAndOther(t, hs)
		leader.mustXO(t, "service", "create", "-d", "--name", "burst", "--replicas", "9", "xo-probe")
		leader.kill9(t)
		running(t, other, "burst", 9)
		leader.start(t)
		running(t, other, "burst", 9)
		harness.Eventually(t, 30*time.Second, func() error {
			slots := map[uint64]bool{}
			for _, tk := range other.tasks(t, "burst") {
				if tk.DesiredState == "running" {
					if slots[tk.Slot] {
						return fmt.Errorf("slot %d is meant to run twice (%s)", tk.Slot, tk.Name)
					}
					slots[tk.Slot] = true
				}
			}
			n := 0
			for _, h := range hs {
				n += len(strings.Fields(h.mustDocker(t, "ps", "-q", "--filter", "label=xo.service=burst")))
			}
			if n != 9 || len(slots) != 9 {
				return fmt.Errorf("%d burst containers on the engines and %d tasks meant to run, want 9", n, len(slots))
			}
			return nil
		})
		other.mustXO(t, "service", "rm", "burst")
	})

	t.Run("a host dies: its tasks run elsewhere, and after it returns there are exactly N", func(t *testing.T) {
		h1.mustXO(t, "service", "scale", "web=3")
		running(t, h1, "web", 3)
		h3.kill9(t)
		h3.c.StopDocker(t, 3)
		if got := running(t, h1, "web", 3); strings.Contains(strings.Join(got, " "), "h3") {
			t.Fatalf("web still counted on the dead host: %v", got)
		}
		// The agent first: dockerd, restoring its containers' networks,
		// waits for the plugin.
		h3.start(t)
		h3.c.StartDocker(t, 3)
		running(t, h1, "web", 3)
		harness.Eventually(t, 30*time.Second, func() error {
			n := 0
			for _, h := range hs {
				n += len(strings.Fields(h.mustDocker(t, "ps", "-q", "--filter", "label=xo.service=web")))
			}
			if n != 3 {
				return fmt.Errorf("%d web containers on the engines, want 3", n)
			}
			return nil
		})
	})
}

// leaderAndOther returns the node that leads the cluster and another one.
func leaderAndOther(t *testing.T, hs []*node) (leader, other *node) {
	t.Helper()
	harness.Eventually(t, 10*time.Second, func() error {
		leader, other = nil, nil
		for _, n := range hs {
			out, err := n.xo("info", "--format", "{{.Leader}}")
			switch {
			case err != nil:
				return err
			case strings.TrimSpace(out) == "true":
				leader = n
			case other == nil:
				other = n
			}
		}
		if leader == nil {
			return fmt.Errorf("no leader")
		}
		return nil
	})
	return leader, other
}
