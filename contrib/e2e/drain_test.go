//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

// loadReport is the part of `probe load`'s report the drain test reads.
type loadReport struct {
	Sent     int64            `json:"sent"`
	OK       int64            `json:"ok"`
	Failed   int64            `json:"failed"`
	Errors   map[string]int64 `json:"errors"`
	Versions map[string]int64 `json:"versions"`
}

// backendsOf asks url count times from a client container, one
// connection each, and returns the hostnames that answered.
func backendsOf(n *node, client, url string, count int) ([]string, error) {
	out, err := n.probe(client, "http", "-n", fmt.Sprint(count), "-timeout", "3s", url)
	if err != nil {
		return nil, fmt.Errorf("h%d %s -> %s: %w\n%s", n.i, client, url, err, out)
	}
	var hosts []string
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		var a demoAnswer
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			return nil, fmt.Errorf("answer %q: %w", line, err)
		}
		if !slices.Contains(hosts, a.Hostname) {
			hosts = append(hosts, a.Hostname)
		}
	}
	slices.Sort(hosts)
	return hosts, nil
}

// servesOnly checks that tasks.web is exactly ips and that web's VIP
// sends only to hosts, from a client on each host.
func servesOnly(clients map[*node]string, vip string, ips, hosts []string) error {
	for n, client := range clients {
		got, err := resolve(n, client, "tasks.web")
		if err != nil {
			return err
		}
		addrs := strings.Fields(got)
		slices.Sort(addrs)
		if !slices.Equal(addrs, ips) {
			return fmt.Errorf("tasks.web from h%d: %v, want %v", n.i, addrs, ips)
		}
		b, err := backendsOf(n, client, "http://"+vip+":8080/", 12)
		if err != nil {
			return err
		}
		if !slices.Equal(b, hosts) {
			return fmt.Errorf("VIP %s from h%d answered by %v, want %v", vip, n.i, b, hosts)
		}
	}
	return nil
}

// drainLog is the agent's log line of its last container drain (it
// says how long the acknowledgements took).
func drainLog(n *node) string {
	lines := strings.Split(n.agent.Log(), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], `msg="container drain"`) {
			return lines[i]
		}
	}
	return "(no container drain in the agent's log)"
}

// TestDrain is issue 7 part 4 on two simulated hosts: a service web of
// hand-run containers, old (h1) and other (h2). `xo drain old` takes old
// out of DNS and of every node's VIP while it runs, acknowledged by both
// nodes, and it stays out across an agent restart; then, under load,
// `xo drain old; docker stop old; docker run new` loses no request.
func TestDrain(t *testing.T) {
	c := harness.Start(t, 2, harness.Options{})
	h1 := &node{owner: t, c: c, i: 1, extra: fastHeartbeats}
	h2 := &node{owner: t, c: c, i: 2, extra: fastHeartbeats}
	h1.start(t)
	h2.start(t)
	joinAll(t, h1, h2)
	h1.mustDocker(t, "network", "create", "-d", "xoverlay", "--ipam-driver", "xoverlay", "--subnet", "10.158.0.0/24", "appnet")
	hasNetwork(t, h2, "appnet", "10.158.0.0/24")
	backend := func(n *node, name, version string) string {
		n.mustDocker(t, "run", "-d", "--net", "appnet", "--name", name, "--hostname", name,
			"--label", "xo.service=web", "-e", "VERSION="+version, "xo-demo:v1")
		return n.containerIP(t, name, "appnet")
	}
	oldIP, otherIP := backend(h1, "old", "v1"), backend(h2, "other", "v1")
	h1.mustDocker(t, "run", "-d", "--net", "appnet", "--name", "client", "xo-probe")
	h2.mustDocker(t, "run", "-d", "--net", "appnet", "--name", "client2", "xo-probe")
	clients := map[*node]string{h1: "client", h2: "client2"}
	vip := vipOf(t, h1, "web")
	both, bothHosts := []string{oldIP, otherIP}, []string{"old", "other"}
	slices.Sort(both)
	harness.Eventually(t, 20*time.Second, func() error { return servesOnly(clients, vip, both, bothHosts) })

	t.Run("refusals name the fix", func(t *testing.T) {
		for _, tc := range []struct{ ref, want string }{
			{"nope", `no container "nope" on an xoverlay network`},
			{"client", "is no backend of any service: it was run without --label xo.service=NAME"},
		} {
			out, err := h1.xo("drain", tc.ref)
			if err == nil || !strings.Contains(out, tc.want) {
				t.Errorf("xo drain %s: %v\n%s\nwant an error containing %q", tc.ref, err, out, tc.want)
			}
		}
	})

	t.Run("drained from another host, out while it runs, also after an agent restart", func(t *testing.T) {
		start := time.Now()
		out := strings.TrimSpace(h2.mustXO(t, "drain", "old")) // old runs on h1
		t.Logf("xo drain old (from h2, %s): %s\n%s", time.Since(start).Round(time.Millisecond), out, drainLog(h2))
		if want := fmt.Sprintf("drained old (%s) from service web: 2 of 2 nodes acknowledged", oldIP); out != want {
			t.Fatalf("xo drain: %q, want %q", out, want)
		}
		// Acknowledged: every node applied it already, no waiting.
		if err := servesOnly(clients, vip, []string{otherIP}, []string{"other"}); err != nil {
			t.Fatal(err)
		}
		if st := h1.mustDocker(t, "inspect", "-f", "{{.State.Running}}", "old"); st != "true" {
			t.Fatalf("old running: %s", st)
		}
		h1.kill9(t)
		h1.start(t)
		// The restarted agent re-reads its engine (old runs): old stays out.
		for range 3 {
			harness.Eventually(t, 20*time.Second, func() error {
				return servesOnly(clients, vip, []string{otherIP}, []string{"other"})
			})
			time.Sleep(time.Second)
		}
		out = strings.TrimSpace(h1.mustXO(t, "drain", "--undo", "old"))
		if !strings.HasPrefix(out, "put back old") {
			t.Fatalf("xo drain --undo: %s", out)
		}
		if err := servesOnly(clients, vip, both, bothHosts); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("docker stop and run under load: no failed request", func(t *testing.T) {
		type result struct {
			out string
			err error
		}
		done := make(chan result, 1)
		go func() {
			out, err := h1.probe("client", "load", "-url", "http://web:8080/", "-rate", "200", "-duration", "20s")
			done <- result{out, err}
		}()
		time.Sleep(2 * time.Second)
		start := time.Now()
		out := strings.TrimSpace(h1.mustXO(t, "drain", "old"))
		t.Logf("xo drain old under load (%s): %s\n%s", time.Since(start).Round(time.Millisecond), out, drainLog(h1))
		if err := servesOnly(clients, vip, []string{otherIP}, []string{"other"}); err != nil {
			t.Fatal(err)
		}
		h1.mustDocker(t, "stop", "old")
		newIP := backend(h1, "new", "v2")
		now := []string{newIP, otherIP}
		slices.Sort(now)
		harness.Eventually(t, 20*time.Second, func() error {
			return servesOnly(clients, vip, now, []string{"new", "other"})
		})
		var r result
		select {
		case r = <-done:
			t.Fatalf("the load ended before the redeploy was over; raise its -duration:\n%s", r.out)
		default:
		}
		r = <-done
		if r.err != nil {
			t.Fatalf("probe load: %v\n%s", r.err, r.out)
		}
		var rep loadReport
		lines := strings.Split(strings.TrimSpace(r.out), "\n")
		i := len(lines) - 1
		for i > 0 && !strings.HasPrefix(lines[i], "{") { // progress lines on stderr may come last
			i--
		}
		if err := json.Unmarshal([]byte(lines[i]), &rep); err != nil {
			t.Fatalf("load report: %v\n%s", err, r.out)
		}
		t.Logf("load through web's VIP: %d sent, %d ok, %d failed %v, versions %v", rep.Sent, rep.OK, rep.Failed, rep.Errors, rep.Versions)
		// Kept-alive connections stay on the backend they opened to (an L4
		// VIP moves new connections only): new's answers need not show.
		if rep.Failed != 0 || rep.Sent == 0 || rep.OK != rep.Sent {
			t.Fatalf("load: %+v: want every request answered", rep)
		}
	})
}
