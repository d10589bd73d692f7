//go:build bench

package bench

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/reconcile"
)

// taskVariant is one way a task dies.
type taskVariant struct {
	name    string   // in the report's rows
	short   string   // in its notes and logs
	svc     string   // the service whose task dies
	cmd     []string // the docker command, before the container ID
	healthy bool     // the replacement counts once its healthcheck passes
	limit   bool     // not a task: a container the engine restarts itself (the limit)
}

// taskTrial is one task death, in ms after the dead container's die event.
type taskTrial struct {
	total    float64 // the replacement running (and healthy, with healthy)
	made     float64 // the replacement container's create event; NaN when not seen
	started  float64 // the replacement's start event
	recorded float64 // the dead task's failure in the state (its executor's time); NaN when unknown
	created  float64 // the replacement task created (the orchestrator's time); NaN when unknown
	moved    bool    // the replacement runs on another host than the dead task
	age      float64 // how long the dead task had run
	spread   bool    // afterwards, the service's tasks run one per host
}

// minAge is how long a task has run before the benchmark kills it: a
// task that fails within reconcile.StableRun of its creation, after a
// predecessor that did the same, is replaced after a back-off (the
// crash-loop guard), which is not what this measures.
const minAge = reconcile.StableRun + time.Second

// killTask kills the container of v.svc's oldest running task, once it
// has run minAge, waits for its replacement and for the service to
// settle, and returns the times.
func (b *svcBench) killTask(t *testing.T, v taskVariant) taskTrial {
	t.Helper()
	var victim api.Task
	for {
		running := b.settled(t, 1, v.svc, svcReplicas, b.hostsUp())
		victim = slices.MinFunc(running, func(a, b api.Task) int { return a.CreatedAt.Compare(b.CreatedAt) })
		wait := minAge - time.Since(victim.CreatedAt)
		if wait <= 0 {
			break
		}
		time.Sleep(wait)
	}
	vh := b.hostOf(t, victim.Node)
	b.c.MustDocker(t, vh, append(v.cmd, victim.ContainerID)...)

	var die, start, ready ctrEvent
	if err := b.ev.await(30*time.Second, "the die event of "+victim.Name, func(evs []ctrEvent) (ok bool) {
		die, ok = firstEvent(evs, actDie, time.Time{}, func(e ctrEvent) bool { return e.ID == victim.ContainerID })
		return ok
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.ev.await(30*time.Second, "the replacement of "+victim.Name, func(evs []ctrEvent) (ok bool) {
		start, ready, ok = replacement(evs, v.svc, victim.ID, die.At, v.healthy)
		return ok
	}); err != nil {
		t.Fatal(err)
	}
	running := b.settled(t, 1, v.svc, svcReplicas, b.hostsUp())
	tr := taskTrial{total: msSince(die.At, ready.At), started: msSince(die.At, start.At), recorded: math.NaN(),
		created: math.NaN(), made: math.NaN(), moved: start.Host != vh, age: msSince(victim.CreatedAt, die.At), spread: true}
	evs, _ := b.ev.snapshot()
	if e, ok := firstEvent(evs, actCreate, time.Time{}, func(e ctrEvent) bool { return e.ID == start.ID }); ok {
		tr.made = msSince(die.At, e.At)
	}
	for i := 1; i <= b.c.N; i++ {
		tr.spread = tr.spread && runningOn(running, b.c.Hostname(i)) == svcReplicas/b.c.N
	}
	ts, err := b.tasks(1, v.svc)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range ts {
		switch {
		case tk.ID == victim.ID && tk.State == "failed" && !tk.Timestamp.IsZero():
			tr.recorded = msSince(die.At, tk.Timestamp)
		case tk.ID == start.Task:
			tr.created = msSince(die.At, tk.CreatedAt)
		}
	}
	return tr
}

// hostOf is the index of the host whose node is named name.
func (b *svcBench) hostOf(t *testing.T, name string) int {
	t.Helper()
	for i := 1; i <= b.c.N; i++ {
		if b.c.Hostname(i) == name {
			return i
		}
	}
	t.Fatalf("no simulated host is node %q", name)
	return 0
}

// runningOn counts the tasks among ts on node name.
func runningOn(ts []api.Task, name string) int {
	n := 0
	for _, tk := range ts {
		if tk.Node == name {
			n++
		}
	}
	return n
}
