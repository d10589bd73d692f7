//go:build bench

package bench

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

func init() { scenarioFuncs["control"] = benchControl }

// Raft snapshots (hashicorp/raft, orchestrator/cluster's configuration)
// once ctlSnapshotPad entries follow the last snapshot, checked every 2
// to 4 minutes: the wait for one is bounded by ctlSnapshotWait.
const (
	ctlSnapshotPad  = 4096
	ctlSnapshotWait = 4*time.Minute + 30*time.Second
)

// benchControl is issue 5's control plane at scale: three managers whose
// executors run tasks on the simulated engine (`xo agent
// --simulate-tasks`), 1,000 services of 10 replicas created through the
// API; then, per round, the leader's agent is killed with SIGKILL and the
// new leader's election and first full reconcile are timed; the killed
// agent is started again and catches up. Memory per agent, the raft
// snapshot and the raft log are read at the end.
func benchControl(t *testing.T) {
	nRounds := rounds(t, 3)
	c := harness.Start(t, 3, harness.Options{})
	began := time.Now() // after the wait for the machine's cluster lock
	a := &ctlAgents{c: c, procs: map[int]*harness.Proc{}}
	for i := 1; i <= c.N; i++ {
		a.start(t, i)
	}
	formCluster(t, c)
	t.Cleanup(func() { ctlDiagnose(t, c, a.leaderOr(1)) }) // before the hosts go

	created := time.Now()
	took := ctlCreate(t, c)
	t.Logf("created %d services of %d replicas in %s (%.0f services/s)", ctlServices, ctlReplicas,
		took.Round(time.Millisecond), ctlServices/took.Seconds())
	allRunning := ctlWaitRunning(t, c, a.leader(t), 5*time.Minute).Sub(created)
	t.Logf("all %d tasks running %s after the first create", ctlTasks, allRunning.Round(time.Millisecond))
	memLoaded := a.memory(t)

	var fs []ctlRound
	for r := range nRounds {
		f := a.killLeader(t)
		fs = append(fs, f)
		t.Logf("round %d/%d: killed h%d's agent (leader); h%d elected after %s, orchestrating after %s, converged after %s "+
			"(tasks created: %.0f); h%d back and caught up %s after its restart", r+1, nRounds, f.old, f.new,
			f.elected.Round(time.Millisecond), f.noticed.Round(time.Millisecond), f.converged.Round(time.Millisecond),
			f.created, f.old, f.restart.Round(time.Millisecond))
		if f.created != 0 {
			t.Fatalf("round %d: the new leader created %.0f tasks: a leader change must replace none", r+1, f.created)
		}
	}
	leader := a.leader(t)
	ctlWaitRunning(t, c, leader, time.Minute)
	memEnd := a.memory(t)
	logUsed, logAlloc := a.raftLog(t)

	// raft snapshots on its own once ctlSnapshotPad entries follow the last
	// snapshot; the load above may have written fewer.
	padded := time.Now()
	ctlPad(t, c, leader, ctlSnapshotPad)
	t.Logf("padded the raft log with %d label writes in %s", ctlSnapshotPad, time.Since(padded).Round(time.Millisecond))
	snap, waited := a.snapshot(t, padded)
	passes := a.passes(t, leader, ctlPasses)

	res := &Result{Scenario: "control", Rounds: nRounds,
		Title: "control plane at scale: 1,000 services × 10 tasks on 3 managers, leader changes"}
	pick := func(get func(ctlRound) time.Duration) []float64 {
		var out []float64
		for _, f := range fs {
			out = append(out, ms(get(f)))
		}
		return out
	}
	elected := pick(func(f ctlRound) time.Duration { return f.elected })
	noticed := pick(func(f ctlRound) time.Duration { return f.noticed })
	converged := pick(func(f ctlRound) time.Duration { return f.converged })
	reconciled := pick(func(f ctlRound) time.Duration { return f.converged - f.noticed })
	restart := pick(func(f ctlRound) time.Duration { return f.restart })
	row := func(metric, unit string, vs []float64, scale float64) Row {
		return Row{System: "xoverlay", Metric: metric, Unit: unit, Median: F(r2(Median(vs) / scale)),
			Rounds: roundTo(ctlScaled(vs, scale), 100), Samples: len(vs)}
	}
	one := func(metric, unit string, v float64, n int) Row {
		return Row{System: "xoverlay", Metric: metric, Unit: unit, Median: F(v), Samples: n}
	}
	res.Rows = append(res.Rows,
		one(fmt.Sprintf("services created through the API (%d clients over the 3 managers)", ctlWriters), "services/s",
			math.Round(ctlServices/took.Seconds()), ctlServices),
		one(fmt.Sprintf("all %d tasks running, from the first create", ctlTasks), "s", r2(allRunning.Seconds()), 1),
		one("tasks started per second over that time", "tasks/s", math.Round(ctlTasks/allRunning.Seconds()), ctlTasks),
		row("leader killed → a new leader elected (raft)", "ms", elected, 1),
		row("leader killed → its orchestrator leads (leadership polled every 250 ms)", "ms", noticed, 1),
		row("**leader killed → the new leader's first full reconcile done** (every service checked, nothing to create)", "ms", converged, 1),
		row("orchestrator leads → first full reconcile done (log applied, one pass over 10,000 tasks)", "ms", reconciled, 1),
		row("killed agent restarted → serving and its tasks running again", "s", restart, 1000),
		Row{System: "xoverlay", Metric: "orchestration passes of the last leader since it took over (reconcile, schedule, reap, external; most after the padding writes)", Unit: "ms",
			P50: F(r2(passes.Quantile(0.5) * 1000)), P99: F(r2(passes.Quantile(0.99) * 1000)),
			Mean: F(r2(passes.Mean() * 1000)), Samples: int(passes.Count)},
		ctlMemRow("agent RSS with the full state, max of 3", memLoaded.rss, slices.Max),
		ctlMemRow("agent RSS with the full state, median of 3", memLoaded.rss, Median),
		ctlMemRow("agent Go heap in use with the full state, max of 3", memLoaded.heap, slices.Max),
		ctlMemRow("agent RSS after the rounds (restarted agents included), max of 3", memEnd.rss, slices.Max),
		ctlMemRow("agent RSS after the rounds, median of 3", memEnd.rss, Median),
		one("raft log written (raft-wal), largest of 3", "MiB", r2(logUsed/(1<<20)), c.N),
		one("raft log files allocated (raft-wal preallocates 64 MiB segments), largest of 3", "MiB", r2(logAlloc/(1<<20)), c.N),
	)
	if snap.Size > 0 {
		res.Rows = append(res.Rows,
			one("**raft snapshot of the full state** (state.bin)", "MiB", r2(float64(snap.Size)/(1<<20)), 1),
			one("raft snapshot per task", "bytes", math.Round(float64(snap.Size)/ctlTasks), 1))
	}
	res.Ratios = append(res.Ratios,
		NewRatio("first full reconcile after a leader change / raft election (limit), medians", Median(converged), Median(elected), "", 0))

	res.Ran = fmt.Sprintf("Three simulated hosts formed into one cluster of three managers (as in scenario cluster), every "+
		"agent started with `--simulate-tasks`: its node executor runs tasks on a simulated engine "+
		"(`executor.SimEngine`: create, start, stop, remove, inspect, list and events; no processes; its containers "+
		"kept in a journal so that they outlive a killed agent, as a real engine's do); everything else "+
		"(raft, API, orchestrator, scheduler, executor) is the real agent. %d replicated services of %d tasks "+
		"(`%s`, no network) are created through the agents' API by %d concurrent clients spread over the three "+
		"managers (the followers forward to the leader), until the executors report all %d tasks running and every "+
		"service shows %d/%d. Then %d rounds: `kill -9` of the leader's agent; the survivors' metrics are polled every "+
		"10 ms until one's raft says it leads; the new leader's gauges "+
		"`xo_orchestrator_leader_since_timestamp_seconds` and `xo_orchestrator_converged_timestamp_seconds` (the end of "+
		"its first pass that found nothing to create, stop or place, every service checked) are read against the kill "+
		"time; the killed agent is started again and the round ends once all %d tasks run again. RSS is VmRSS of each "+
		"agent process (/proc), heap is `go_memstats_heap_inuse_bytes`. Then %d label writes push the raft log past "+
		"raft's snapshot threshold and the first snapshot any agent writes is read.",
		ctlServices, ctlReplicas, ctlImage, ctlWriters, ctlTasks, ctlReplicas, ctlReplicas, nRounds, ctlTasks, ctlSnapshotPad)
	res.Notes = append(res.Notes,
		"There is no peer in this scenario: Docker Swarm's control plane cannot be driven with simulated tasks here, "+
			"and the issue gives no target. The limit of the ratio is the raft election alone (a new leader cannot "+
			"reconcile before it is elected); between the election and the first full reconcile lie the "+
			"orchestrator's leadership poll (every 250 ms), the wait until the new leader has applied the whole log "+
			"(a raft barrier) and one pass over every service and task. The election itself follows from the raft "+
			"timeouts (heartbeat and election timeouts of 500 ms).",
		"No new leader created a task in any round: the killed node was back (its agent restarted, its simulated "+
			"containers still running) long before it would have been marked down. The agents run with "+
			"`--node-down-after 30s` instead of the default so that a restart on this shared 2-CPU machine never races the "+
			"node-down rescheduling, which scenario services measures.",
		"Memory includes the simulated engine's records of the node's task containers (a real engine holds those "+
			"in dockerd, not in the agent). The raft log and the snapshots live under /run (tmpfs).")
	if snap.Size > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("The snapshot is raft's own (threshold %d entries, checked every 2 to "+
			"4 minutes), written %s after the padding writes began, at raft index %d: the whole state as JSON (plus "+
			"the one padding label).", ctlSnapshotPad, waited.Round(time.Second), snap.Index))
	} else {
		res.Notes = append(res.Notes, fmt.Sprintf("No raft snapshot came within %s of the padding writes.", ctlSnapshotWait))
	}
	save(t, c, began, res)
}

func ctlScaled(vs []float64, f float64) []float64 {
	out := make([]float64, len(vs))
	for i, v := range vs {
		out[i] = v / f
	}
	return out
}

func ctlMemRow(metric string, vs []float64, agg func([]float64) float64) Row {
	return Row{System: "xoverlay", Metric: metric, Unit: "MiB", Median: F(r2(agg(vs) / (1 << 20))),
		Rounds: roundTo(ctlScaled(vs, 1<<20), 10), Samples: len(vs)}
}

// ctlMemory is each agent's resident set and Go heap in use, by host
// order.
type ctlMemory struct{ rss, heap []float64 }

func (a *ctlAgents) memory(t *testing.T) ctlMemory {
	t.Helper()
	var m ctlMemory
	for i := 1; i <= a.c.N; i++ {
		p := a.procs[i]
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.Pid()))
		if err != nil || strings.TrimSpace(string(comm)) != "xo" {
			t.Fatalf("h%d: pid %d is %q (%v), not the agent", i, p.Pid(), comm, err)
		}
		rss, err := ctlRSS(p.Pid())
		if err != nil {
			t.Fatal(err)
		}
		text, err := ctlScrape(a.c, i)
		if err != nil {
			t.Fatal(err)
		}
		heap, _ := ctlSample(text, "go_memstats_heap_inuse_bytes", nil)
		m.rss, m.heap = append(m.rss, rss), append(m.heap, heap)
		t.Logf("h%d agent: RSS %.1f MiB, heap in use %.1f MiB", i, rss/(1<<20), heap/(1<<20))
	}
	return m
}

// ctlPasses is the number of orchestration passes of the last leader the
// figure needs: it makes one every 10 s when nothing happens.
const ctlPasses = 6

// passes is the orchestration pass histogram of host i's agent, which
// leads, once it has at least n passes.
func (a *ctlAgents) passes(t *testing.T, i, n int) Histogram {
	t.Helper()
	var h Histogram
	harness.Eventually(t, time.Duration(n+3)*10*time.Second, func() error {
		if l := a.leader(t); l != i {
			t.Fatalf("the leader moved from h%d to h%d", i, l)
		}
		text, err := ctlScrape(a.c, i)
		if err != nil {
			return err
		}
		hs, err := ParseHistograms(text, "xo_orchestrator_reconcile_seconds", "")
		if err != nil {
			return err
		}
		if h = hs[""]; h.Count < float64(n) {
			return fmt.Errorf("h%d made %.0f orchestration passes, want %d", i, h.Count, n)
		}
		return nil
	})
	t.Logf("h%d orchestration passes: %.0f, %.1f ms in all; buckets %v", i, h.Count, h.Sum*1000, h.Buckets)
	return h
}

// snapshot waits (up to ctlSnapshotWait after since) for a raft snapshot
// any agent took after since, and returns the largest such snapshot and
// how long after since it was written; a zero snapshot when none came.
func (a *ctlAgents) snapshot(t *testing.T, since time.Time) (ctlSnapshot, time.Duration) {
	t.Helper()
	for {
		var best ctlSnapshot
		for i := 1; i <= a.c.N; i++ {
			s, ok, err := ctlLatestSnapshot(a.c, i)
			if err != nil {
				t.Fatal(err)
			}
			if ok && s.at.After(since) && s.Size > best.Size {
				best = s
			}
		}
		if best.Size > 0 {
			t.Logf("raft snapshot at index %d: %d bytes", best.Index, best.Size)
			return best, best.at.Sub(since)
		}
		if time.Since(since) > ctlSnapshotWait {
			t.Logf("no raft snapshot within %s", ctlSnapshotWait)
			return ctlSnapshot{}, 0
		}
		time.Sleep(2 * time.Second)
	}
}

// raftLog is the largest raft log of the agents: bytes written and bytes
// allocated (see ctlWALBytes).
func (a *ctlAgents) raftLog(t *testing.T) (used, allocated float64) {
	t.Helper()
	for i := 1; i <= a.c.N; i++ {
		u, alloc, err := ctlWALBytes(filepath.Join(ctlRaftDir(a.c, i), "wal"))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("h%d raft log: %d bytes written, %d allocated", i, u, alloc)
		used, allocated = max(used, float64(u)), max(allocated, float64(alloc))
	}
	return used, allocated
}
