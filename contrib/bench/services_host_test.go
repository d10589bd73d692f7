//go:build bench

package bench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

// detector is one setting of the agents' node failure detector.
type detector struct {
	name  string
	flags []string // agent flags; none: the defaults
}

// hostKill is one host death, in ms after its agent's SIGKILL.
type hostKill struct {
	host     int
	tasks    int     // the tasks it ran
	total    float64 // the last of them started on another host
	down     float64 // the leader marked the node down; NaN when unknown
	created  float64 // the last replacement task created; NaN when unknown
	stopping float64 // the graceful dockerd stop took this long (not part of the figures)
}

// hostDeaths kills whole simulated hosts, one per round, and times until
// every task the host ran has a running replacement on the others; first
// with the agents' default failure detector, then with a fast one.
func (b *svcBench) hostDeaths(t *testing.T, res *Result) string {
	const targetS = 5.0
	c := b.c
	fast := []string{"--heartbeat-interval", "250ms", "--node-suspect-after", "1s", "--node-down-after", "2s"}
	detectors := []detector{
		{name: "default detector"},
		{name: "fast detector", flags: fast},
	}
	mustXO(t, c, 1, "service", "rm", svcWebHC)
	harness.Eventually(t, 30*time.Second, func() error {
		for i := 1; i <= c.N; i++ {
			out, err := c.Docker(i, "ps", "-q", "--filter", "label=xo.service="+svcWebHC)
			if err != nil {
				return err
			}
			if out != "" {
				return fmt.Errorf("h%d still runs %s containers: %s", i, svcWebHC, strings.Fields(out))
			}
		}
		return nil
	})
	mustXO(t, c, 1, "service", "scale", fmt.Sprintf("%s=%d", svcWeb, hostReplicas))
	b.settled(t, 1, svcWeb, hostReplicas, b.hostsUp())

	var notes []string
	for di, d := range detectors {
		if di > 0 {
			b.restartAgents(t, d.flags)
		}
		var kills []hostKill
		for r := range b.nRounds {
			k := b.killHost(t, r)
			kills = append(kills, k)
			t.Logf("host death %d/%d, %s: h%d (%d tasks) killed; its tasks ran elsewhere %.2f s later (node down at "+
				"%.2f s, last replacement created at %.2f s); the graceful dockerd stop took %.1f s",
				r+1, b.nRounds, d.name, k.host, k.tasks, k.total/1000, k.down/1000, k.created/1000, k.stopping/1000)
		}
		col := func(f func(hostKill) float64) []float64 {
			var vs []float64
			for _, k := range kills {
				if v := f(k); !math.IsNaN(v) {
					vs = append(vs, v/1000)
				}
			}
			return vs
		}
		row := func(metric string, vs []float64) Row {
			return Row{System: "xoverlay, " + d.name, Metric: metric, Unit: "s", Median: F(r2(Median(vs))),
				Rounds: roundTo(vs, 100), P50: F(r2(Percentile(vs, 0.5))), P99: F(r2(Percentile(vs, 0.99))),
				Mean: F(r2(mean(vs))), Samples: len(vs)}
		}
		totals := col(func(k hostKill) float64 { return k.total })
		downs := col(func(k hostKill) float64 { return k.down })
		rest := col(func(k hostKill) float64 { return k.total - k.down })
		res.Rows = append(res.Rows,
			row("host death → all its tasks running elsewhere (agent SIGKILL → the last replacement's start event)", totals),
			row("of which: SIGKILL → node marked down (the leader's time)", downs),
			row("of which: node marked down → the last replacement's start event", rest))
		res.Ratios = append(res.Ratios,
			NewRatio(fmt.Sprintf("host death → tasks running elsewhere, %s: p99 / 5 s (issue's target)", d.name),
				Percentile(totals, 0.99), targetS, "<=", 1),
			NewRatio(fmt.Sprintf("host death, %s: failure detection (SIGKILL → node down) / the whole, median", d.name),
				Median(downs), Median(totals), "", 0))
		var per []string
		for _, k := range kills {
			per = append(per, fmt.Sprintf("h%d %d tasks (dockerd stop %.1f s)", k.host, k.tasks, k.stopping/1000))
		}
		notes = append(notes, fmt.Sprintf("%s: %s", d.name, strings.Join(per, ", ")))
	}
	res.Notes = append(res.Notes, "Host deaths: the clock starts when the benchmark sends SIGKILL to the host's "+
		"agent; its dockerd is stopped right after, gracefully, which stops its containers, as the e2e test's "+
		"\"host dies\" does (nothing on the dead host reports anything, so the length of that stop, listed below, "+
		"is not part of the figure). The clock stops at the start event, on another host's engine, of the replacement of the last of the "+
		"host's tasks. \"Node marked down\" is the time stamp the leader put on the node's status change. "+
		"The default detector marks a node down after 3 s without a heartbeat (`--node-down-after 3s`, "+
		"heartbeats every 500 ms); the "+
		"fast detector row (`"+strings.Join(fast, " ")+"` on all three agents; `--heartbeat-interval` must stay below "+
		"`--node-suspect-after`) shows what the rest of the path costs. The peer, Docker Swarm mode, is not run "+
		"here: its managers mark a node down after 3 missed heartbeats of 5 s by default (swarmkit's dispatcher: "+
		"about 15 s), then reschedule its tasks. Tasks per host death and the graceful dockerd stop times: "+
		strings.Join(notes, "; ")+fmt.Sprintf(". With %d host deaths per detector, the p99 is the slowest one.", b.nRounds))
	return fmt.Sprintf("**Host deaths**: service %s scaled to %d replicas (spread over the three hosts); per round "+
		"one host that does not lead raft (alternating between the two others) dies: its agent gets SIGKILL, then its "+
		"dockerd is stopped; timed until every task it ran has a running replacement on the two others. Then the host "+
		"comes back (its agent first, then its dockerd, which otherwise waits for the plugin) and the round ends "+
		"once the state shows exactly %d tasks running and the three engines run exactly their containers. %d rounds "+
		"with every agent's default detector (`--heartbeat-interval 500ms --node-suspect-after 1.5s --node-down-after "+
		"3s`), then the three agents restarted one at a time with `%s` and %d rounds more.",
		svcWeb, hostReplicas, hostReplicas, b.nRounds, strings.Join(fast, " "), b.nRounds)
}

// killHost kills a host that does not lead (the round picks which),
// times its tasks' replacements, and brings it back.
func (b *svcBench) killHost(t *testing.T, round int) hostKill {
	t.Helper()
	c := b.c
	leader := b.waitReady(t)
	running := b.settled(t, leader, svcWeb, hostReplicas, b.hostsUp())
	cands := b.hostsUp(leader)
	v := cands[round%len(cands)]
	if runningOn(running, c.Hostname(v)) == 0 {
		v = cands[(round+1)%len(cands)]
	}
	k := hostKill{host: v, tasks: runningOn(running, c.Hostname(v)), down: math.NaN(), created: math.NaN()}
	if k.tasks == 0 {
		t.Fatalf("no task of %s runs on h%d or h%d: %+v", svcWeb, cands[0], cands[len(cands)-1], running)
	}

	killAt := time.Now()
	if err := b.agents[v].Kill(syscall.SIGKILL); err != nil {
		t.Fatalf("h%d: killing the agent: %v", v, err)
	}
	if err := b.agents[v].WaitTimeout(10 * time.Second); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Logf("h%d: agent wait after SIGKILL: %v", v, err)
	}
	t0 := time.Now()
	c.StopDocker(t, v)
	k.stopping = ms(time.Since(t0))

	var starts []ctrEvent
	if err := b.ev.await(2*time.Minute, fmt.Sprintf("replacements of h%d's %d tasks", v, k.tasks), func(evs []ctrEvent) (ok bool) {
		starts, ok = replacedAll(evs, svcWeb, v, killAt, k.tasks)
		return ok
	}); err != nil {
		t.Fatal(err)
	}
	k.total = msSince(killAt, starts[len(starts)-1].At)
	b.settled(t, leader, svcWeb, hostReplicas, b.hostsUp(v))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	nodes, err := b.client(leader).Nodes(ctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.Hostname == c.Hostname(v) && n.Status == "down" && !n.StatusAt.IsZero() {
			k.down = msSince(killAt, n.StatusAt)
		}
	}
	ts, err := b.tasks(leader, svcWeb)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range ts {
		if slices.ContainsFunc(starts, func(e ctrEvent) bool { return e.Task == tk.ID }) {
			k.created = math.Max(nanZero(k.created), msSince(killAt, tk.CreatedAt))
		}
	}

	// The host returns: its agent first (dockerd, restoring its
	// containers' networks, waits for the plugin), then its dockerd.
	b.agents[v] = startAgent(t, c, v, b.flags...)
	c.StartDocker(t, v)
	b.ev.follow(t, v)
	b.settled(t, leader, svcWeb, hostReplicas, b.hostsUp())
	return k
}

// restartAgents restarts the agents one at a time (SIGTERM, then start
// with flags), each once the cluster is whole again: an agent's API
// waits for its replica, which needs a raft quorum.
func (b *svcBench) restartAgents(t *testing.T, flags []string) {
	t.Helper()
	b.flags = flags
	for i := 1; i <= b.c.N; i++ {
		if err := b.agents[i].Stop(10 * time.Second); err != nil {
			t.Logf("h%d: agent stopped: %v", i, err)
		}
		b.agents[i] = startAgent(t, b.c, i, flags...)
		b.waitReady(t)
	}
	leader := b.waitReady(t)
	b.settled(t, leader, svcWeb, hostReplicas, b.hostsUp())
	t.Logf("agents restarted with %s; h%d leads", strings.Join(flags, " "), leader)
}

// nanZero is v, or 0 for NaN.
func nanZero(v float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return v
}
