package reconcile

import (
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// The reconcilers' part in rolling updates: an outdated task replaced by
// an up-to-date one is left to the updater (which drains it first), and
// a slot whose task an update stopped waits for the stop before a new
// task takes its place.
func TestRollingUpdateSlots(t *testing.T) {
	three := []*state.Node{ready(1), ready(2), ready(3)}
	updated := func(s *state.Service) { s.SpecVersion, s.TaskVersion = 2, 2 }
	v2 := func(t *state.Task) { t.SpecVersion = 2 }
	stopped := func(t *state.Task) { t.DesiredState = state.TaskShutdown }
	cases := []struct {
		name  string
		nodes []*state.Node
		tasks []*state.Task
		want  []string
	}{
		{name: "start-first: the old task keeps running beside its running replacement", tasks: []*state.Task{
			task("a", 1, "n1", running), with(task("a2", 1, "n2", running), func(t *state.Task) { v2(t); t.Replaces = "a" }),
		}},
		{name: "start-first: nor beside a replacement that failed", tasks: []*state.Task{
			task("a", 1, "n1", running), with(task("a2", 1, "n2", failed), func(t *state.Task) { v2(t); t.Replaces = "a" }),
		}, want: []string{"restart slot=1 replaces=a2 attempt=1"}},
		{name: "an outdated task on a lost node is stopped", nodes: []*state.Node{ready(2), ready(3)}, tasks: []*state.Task{
			task("a", 1, "n1", running), with(task("a2", 1, "n2", state.TaskStarting), func(t *state.Task) { v2(t); t.Replaces = "a" }),
		}, want: []string{"stop a shutdown: node n1 left the cluster"}},
		{name: "an up-to-date pair retires as before", tasks: []*state.Task{
			with(task("a", 1, "n1", running), v2), with(task("a2", 1, "n2", running), func(t *state.Task) { v2(t); t.Replaces = "a" }),
		}, want: []string{"stop a shutdown: replaced by task a2"}},
		{name: "stop-first: the slot waits for its stopping task", tasks: []*state.Task{
			with(task("a", 1, "n1", running), stopped),
		}},
		{name: "stop-first: then a new task takes its place", tasks: []*state.Task{
			with(task("a", 1, "n1", state.TaskShutdown), stopped),
		}, want: []string{"create slot=1"}},
		{name: "stop-first: not on a node that left", nodes: []*state.Node{ready(2), ready(3)}, tasks: []*state.Task{
			with(task("a", 1, "n1", running), stopped),
		}, want: []string{"create slot=1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc := service(1)
			updated(svc)
			nodes := c.nodes
			if nodes == nil {
				nodes = three
			}
			checkPlan(t, Replicated(svc, c.tasks, nodes, t0, Policy{}), c.want)
		})
	}
}

func TestRollingUpdateScaleDownStoppingSlot(t *testing.T) {
	svc := service(1)
	stopping := with(task("b", 2, "n2", running), desired(state.TaskShutdown))
	tasks := []*state.Task{task("a", 1, "n1", running), stopping}
	checkPlan(t, Replicated(svc, tasks, []*state.Node{ready(1), ready(2)}, t0, Policy{}),
		[]string{"stop b remove: scaled down to 1 replicas"})
}

func TestRollingUpdateGlobalWaitsForStop(t *testing.T) {
	svc := global()
	nodes := []*state.Node{ready(1), down(2, t0.Add(-time.Second))}
	tasks := []*state.Task{
		with(task("a", 0, "n1", running), desired(state.TaskShutdown)),
		with(task("b", 0, "n2", running), desired(state.TaskShutdown)),
	}
	// n1 waits for its task to stop; n2 is down: its tasks are left alone.
	checkPlan(t, Global(svc, tasks, nodes, t0), nil)
	tasks[0] = with(task("a", 0, "n1", state.TaskShutdown), desired(state.TaskShutdown))
	checkPlan(t, Global(svc, tasks, nodes, t0), []string{"create node=n1"})
}

func TestRollbackKeepsTheTaskOfTheSpecRolledBackTo(t *testing.T) {
	svc := service(1)
	svc.SpecVersion, svc.TaskVersion = 3, 3 // rolled back: tasks of version 1 run what it asks for again
	svc.SpecDigest = "A"
	a := with(task("a", 1, "n1", running), func(t *state.Task) { t.SpecDigest = "A" })
	b := with(task("b", 1, "n2", running), func(t *state.Task) { t.SpecVersion, t.SpecDigest, t.Replaces = 2, "B", "a" })
	checkPlan(t, Replicated(svc, []*state.Task{a, b}, []*state.Node{ready(1), ready(2)}, t0, Policy{}), nil)
	b.Status.State = failed
	checkPlan(t, Replicated(svc, []*state.Task{a, b}, []*state.Node{ready(1), ready(2)}, t0, Policy{}),
		[]string{"stop b shutdown: replaced by task a"})
}
