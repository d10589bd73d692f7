//go:build bench

package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
	"github.com/xoverlay/xoverlay/orchestrator/api"
)

func init() { scenarioFuncs["services"] = benchServices }

const (
	svcNet       = "xosvc"
	svcSubnet    = "10.190.0.0/24"
	svcWeb       = "web"   // xo-demo:v1, 3 replicas, then 6 for the host deaths
	svcWebHC     = "webhc" // xo-demo:hc (a HEALTHCHECK every 500 ms), 3 replicas
	svcReplicas  = 3
	hostReplicas = 6
)

// svcBench is what the parts of the scenario share.
type svcBench struct {
	c       *harness.Cluster
	agents  []*harness.Proc // by host (index 0 unused)
	flags   []string        // the extra agent flags in use (besides startAgent's)
	ev      *engineEvents
	nRounds int
}

// benchServices is issue 5's first benchmark pair on three simulated hosts
// forming one cluster of three managers: the time from a task container's
// death to its replacement running, and from a whole host's death to its
// tasks running on the other hosts (with the default failure detector and
// with a fast one).
func benchServices(t *testing.T) {
	nRounds := rounds(t, 3)
	began, loadStart := time.Now(), loadAvg()
	c := harness.Start(t, 3, harness.Options{})
	b := &svcBench{c: c, agents: make([]*harness.Proc, c.N+1), nRounds: nRounds}
	for i := 1; i <= c.N; i++ {
		b.agents[i] = startAgent(t, c, i)
	}
	formCluster(t, c)
	c.MustDocker(t, 1, "network", "create", "-d", "xoverlay", "--ipam-driver", "xoverlay", "--subnet", svcSubnet, svcNet)
	for i := 2; i <= c.N; i++ {
		harness.Eventually(t, 20*time.Second, func() error {
			_, err := c.Docker(i, "network", "inspect", svcNet)
			return err
		})
	}
	b.ev = watchEngines(t, c)

	res := &Result{
		Scenario: "services",
		Title:    "a dead task's replacement, a dead host's tasks elsewhere",
		Rounds:   nRounds,
	}
	var ran []string
	ran = append(ran, b.taskDeaths(t, res))
	ran = append(ran, b.hostDeaths(t, res))
	res.Ran = fmt.Sprintf("Three simulated hosts (each its own network namespace and dockerd 20.10, on one underlay "+
		"bridge, 198.18.0.11-13), each running `xo agent` with its default settings (`--dns-upstream` aside: the "+
		"harness's fake resolver), formed into one cluster of three managers (`xo cluster init` on h1, `xo cluster "+
		"join --token` on h2 and h3); one xoverlay network %s (%s). Every service is made with `xo service create "+
		"--name NAME --replicas N --network %s IMAGE` and its defaults (restart condition any, restart delay 0 s). "+
		"All times are the engines' own event times (`docker events --format '{{json .}}'` on each of the three "+
		"engines, filtered on the label xo.service, followed from before the first measured death; all engines "+
		"share this machine's clock). ", svcNet, svcSubnet, svcNet) + strings.Join(ran, " ")
	res.Notes = append(res.Notes, fmt.Sprintf("Load average of the machine (1, 5, 15 min) at the start: %s; at the "+
		"end: %s (other work on this shared machine shows there).", loadStart, loadAvg()))
	for _, q := range res.Ratios {
		if q.Op == "" {
			t.Logf("%s: %.3f", q.Name, q.Value)
		} else {
			t.Logf("%s: %.3f (target %s %g, met: %v)", q.Name, q.Value, q.Op, q.Target, q.Met)
		}
	}
	save(t, c, began, res)
}

// client is an API client of host i's agent.
func (b *svcBench) client(i int) *api.Client { return api.NewClient(apiSocket(b.c, i)) }

// tasks lists service svc's tasks as host i's agent sees them.
func (b *svcBench) tasks(i int, svc string) ([]api.Task, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ts, err := b.client(i).ServiceTasks(ctx, svc)
	if err != nil {
		return nil, fmt.Errorf("h%d: tasks of %s: %w", i, svc, err)
	}
	return ts, nil
}

// settled waits until, as host q's agent sees it, service svc has exactly
// n tasks running and no other task meant to run, and the engines of the
// hosts up run exactly those tasks' containers (no more, no fewer).
func (b *svcBench) settled(t *testing.T, q int, svc string, n int, up []int) []api.Task {
	t.Helper()
	var running []api.Task
	harness.Eventually(t, 60*time.Second, func() error {
		ts, err := b.tasks(q, svc)
		if err != nil {
			return err
		}
		running = running[:0]
		var want, other []string
		for _, tk := range ts {
			switch {
			case tk.DesiredState == "running" && tk.State == "running":
				running = append(running, tk)
				want = append(want, tk.ContainerID)
			case tk.DesiredState == "running":
				other = append(other, fmt.Sprintf("%s %s %s %s", tk.Name, tk.State, tk.Message, tk.Err))
			}
		}
		if len(running) != n || len(other) > 0 {
			return fmt.Errorf("%s: %d tasks running, want %d; meant to run but not running: %v", svc, len(running), n, other)
		}
		var got []string
		for _, h := range up {
			out, err := b.c.Docker(h, "ps", "-q", "--no-trunc", "--filter", "label=xo.service="+svc)
			if err != nil {
				return err
			}
			got = append(got, strings.Fields(out)...)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			return fmt.Errorf("%s: the engines of %v run containers %v, the state's running tasks have %v", svc, up, got, want)
		}
		return nil
	})
	return running
}

// hostsUp lists the hosts 1..N except those in down.
func (b *svcBench) hostsUp(down ...int) []int {
	var up []int
	for i := 1; i <= b.c.N; i++ {
		if !slices.Contains(down, i) {
			up = append(up, i)
		}
	}
	return up
}

// waitReady waits until every host's agent sees all the nodes ready, as
// managers, and returns the leader's host.
func (b *svcBench) waitReady(t *testing.T) int {
	t.Helper()
	for i := 1; i <= b.c.N; i++ {
		harness.Eventually(t, 60*time.Second, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ns, err := b.client(i).Nodes(ctx)
			if err != nil {
				return err
			}
			var bad []string
			for _, n := range ns {
				if n.Role != api.RoleManager || n.Status != "ready" {
					bad = append(bad, fmt.Sprintf("%s %s/%s", n.Hostname, n.Role, n.Status))
				}
			}
			if len(ns) != b.c.N || len(bad) > 0 {
				return fmt.Errorf("h%d sees %d nodes; not ready managers: %v", i, len(ns), bad)
			}
			return nil
		})
	}
	return leaderHost(t, b.c)
}

// msSince is b - a in milliseconds.
func msSince(a, b time.Time) float64 { return ms(b.Sub(a)) }
