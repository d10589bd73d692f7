//go:build bench

package bench

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

func init() { scenarioFuncs["update"] = benchUpdate }

// updSystem is one way of running web's replicas and updating them.
type updSystem interface {
	// reset brings web back to 3 replicas of v1 (untimed).
	reset(t *testing.T)
	// update runs the update to v2 in order (start-first or stop-first;
	// ignored where the system has no such choice) and returns when its
	// command or commands did, with their output.
	update(t *testing.T, order string) string
}

// updPlace is where a system's replicas run and how the load reaches
// them.
type updPlace struct {
	sel    updSel
	client updClient
	nginx  updClient // the nginx container (its log tells why it answered 502)
	paths  []updPath
}

// updVariant is one measured update.
type updVariant struct {
	name  string // in the report
	order string
	sys   updSystem
	place updPlace
}

// updBench is what the rounds share.
type updBench struct {
	c      *harness.Cluster
	ev     *updEvents
	ctlDir string
	trials int
}

// benchUpdate is issue 7's benchmark: a rolling update of 3 replicas of
// the demo app from v1 to v2 under a steady load, by xoverlay (start-first
// and stop-first; the load through the service VIP and through nginx),
// by hand (docker stop + docker run of each container behind nginx on a
// bridge network) and by Docker Swarm on the same engine (a dnsrr service
// behind nginx; stop-first and start-first); failed requests and the
// update's duration, rounds interleaved.
func benchUpdate(t *testing.T) {
	nRounds := rounds(t, 3)
	began, loadStart := time.Now(), loadAvg()
	dir := t.TempDir() // the control directory and nginx configurations; removed after the hosts
	c := harness.Start(t, 3, harness.Options{})
	for i := 1; i <= c.N; i++ {
		startAgent(t, c, i)
	}
	formCluster(t, c)
	b := &updBench{c: c, ev: watchUpdEvents(t, c), ctlDir: dir}

	xo, xoPlace := setupXo(t, c, dir)
	naive, naivePlace := setupNaive(t, c, dir)
	swarm, swarmPlace := setupSwarm(t, c, dir)
	variants := []updVariant{
		{name: updXoStart, order: "start-first", sys: xo, place: xoPlace},
		{name: updXoStop, order: "stop-first", sys: xo, place: xoPlace},
		{name: updNaiveName, sys: naive, place: naivePlace},
		{name: updSwarmStop, order: "stop-first", sys: swarm, place: swarmPlace},
		{name: updSwarmStart, order: "start-first", sys: swarm, place: swarmPlace},
	}
	trials := map[string][]updTrial{}
	for r := range nRounds {
		var line []string
		for k := range variants {
			v := variants[(r+k)%len(variants)] // the order rotates from round to round
			tr := b.trial(t, v)
			trials[v.name] = append(trials[v.name], tr)
			line = append(line, fmt.Sprintf("%s %.0f ms, failed %s", v.name, tr.duration, failedText(tr)))
		}
		t.Logf("round %d/%d: %s", r+1, nRounds, strings.Join(line, "; "))
	}
	swarm.leave(t)

	res := &Result{
		Scenario: "update",
		Title:    "rolling update of 3 replicas under load: xoverlay vs docker stop + run vs Swarm",
		Rounds:   nRounds,
	}
	var names []string
	for _, v := range variants {
		names = append(names, v.name)
	}
	updResults(res, names, trials)
	res.Ran = updRan(nRounds)
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

// trial resets the variant's system to v1, starts the load, runs the
// update, waits until the engines' events show it done, lets the load run
// a little longer and stops it.
func (b *updBench) trial(t *testing.T, v updVariant) updTrial {
	t.Helper()
	v.sys.reset(t)
	old := b.replicas(t, v.place.sel, "v1")
	time.Sleep(updSettle)
	b.trials++
	stop := fmt.Sprintf("stop-%d", b.trials)
	logs := b.agentLogSizes()
	began := time.Now()
	loads := startLoads(t, b.c, v.place.client, v.place.paths, stop)
	time.Sleep(updWarmup)

	t0 := time.Now()
	out := v.sys.update(t, v.order)
	command := time.Since(t0)
	done, err := b.ev.await(v.place.sel, old, t0, updReplicas, updImageV2, updTimeout)
	if err != nil {
		t.Fatalf("%s: %v", v.name, err)
	}
	time.Sleep(time.Until(done.At.Add(updTail)))
	reps := stopLoads(t, b.ctlDir, stop, loads)
	b.replicas(t, v.place.sel, "v2")

	tr := updTrial{duration: ms(done.At.Sub(t0)), command: ms(command), started: done.Started, reports: reps,
		shutdown: b.slowestStop(t, old)}
	b.logTrial(t, v, tr, t0, out, logs)
	for _, l := range loads {
		if r := reps[l.path.name]; r.Failed > 0 {
			b.diagnose(t, v, l, r, began, t0, out, logs)
		}
	}
	return tr
}

// replicas waits until exactly 3 replica containers of the selection run,
// every one with VERSION=version, and returns their IDs.
func (b *updBench) replicas(t *testing.T, sel updSel, version string) []string {
	t.Helper()
	var ids []string
	harness.Eventually(t, 30*time.Second, func() error {
		ids = ids[:0]
		for _, h := range sel.hosts {
			out, err := b.c.Docker(h, "ps", "-q", "--no-trunc", "--filter", sel.filter())
			if err != nil {
				return err
			}
			hostIDs := strings.Fields(out)
			if len(hostIDs) == 0 {
				continue
			}
			out, err = b.c.Docker(h, append([]string{"inspect", "-f", "{{.Id}} {{json .Config.Env}}"}, hostIDs...)...)
			if err != nil {
				return err
			}
			for _, line := range strings.Split(out, "\n") {
				id, env, _ := strings.Cut(line, " ")
				var vars []string
				if err := json.Unmarshal([]byte(env), &vars); err != nil {
					return fmt.Errorf("h%d: environment of %.12s: %w", h, id, err)
				}
				if !slices.Contains(vars, "VERSION="+version) {
					return fmt.Errorf("h%d: container %.12s runs with %v, want VERSION=%s", h, id, vars, version)
				}
				ids = append(ids, id)
			}
		}
		if len(ids) != updReplicas {
			return fmt.Errorf("%d containers with %s run, want %d", len(ids), sel.filter(), updReplicas)
		}
		return nil
	})
	return ids
}

func failedText(tr updTrial) string {
	var parts []string
	for _, name := range sortedKeys(tr.reports) {
		r := tr.reports[name]
		parts = append(parts, fmt.Sprintf("%s %d/%d", name, r.Failed, r.Sent))
	}
	return strings.Join(parts, " ")
}
