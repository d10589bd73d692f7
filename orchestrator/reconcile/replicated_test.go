package reconcile

import (
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

const (
	running  = state.TaskRunning
	pending  = state.TaskPending
	failed   = state.TaskFailed
	complete = state.TaskComplete
)

func TestReplicated(t *testing.T) {
	three := []*state.Node{ready(1), ready(2), ready(3)}
	cases := []struct {
		name   string
		svc    func(*state.Service)
		nodes  []*state.Node
		tasks  []*state.Task
		now    time.Time
		policy Policy
		want   []string
	}{
		{name: "new service", want: []string{"create slot=1", "create slot=2", "create slot=3"}},
		{name: "steady", tasks: []*state.Task{task("a", 1, "n1", running), task("b", 2, "n2", running), task("c", 3, "n3", pending)}},
		{name: "other services ignored", tasks: []*state.Task{
			task("a", 1, "n1", running), task("b", 2, "n2", running), task("c", 3, "n3", running),
			with(task("x", 4, "n1", running), func(t *state.Task) { t.ServiceID = "other" }),
		}},
		{name: "scale up fills the free slots", svc: func(s *state.Service) { s.Spec.Replicas = 4 }, tasks: []*state.Task{
			task("a", 1, "n1", running), task("c", 3, "n3", running),
			with(task("old", 2, "n2", state.TaskShutdown), desired(state.TaskRemove)),
		}, want: []string{"create slot=2", "create slot=4"}},
		{name: "scale down: not running first, then the busiest node, then the highest slot",
			svc: func(s *state.Service) { s.Spec.Replicas = 2 }, tasks: []*state.Task{
				task("a", 1, "n1", running), task("b", 2, "n1", running), task("c", 3, "n2", running),
				task("d", 4, "n2", state.TaskStarting), task("e", 5, "n3", running),
			}, want: []string{
				"stop d remove: scaled down to 2 replicas", "stop b remove: scaled down to 2 replicas", "stop e remove: scaled down to 2 replicas",
			}},
		{name: "scale down removes a given-up slot first", svc: func(s *state.Service) { s.Spec.Replicas = 2 }, tasks: []*state.Task{
			task("a", 1, "n1", running), with(task("b", 2, "n2", failed), desired(complete)), task("c", 3, "n3", running),
		}, want: []string{"stop b remove: scaled down to 2 replicas"}},
		{name: "scale to zero stops a slot's every live task", svc: func(s *state.Service) { s.Spec.Replicas = 0 }, tasks: []*state.Task{
			task("a", 1, "n1", failed), with(task("a2", 1, "n2", pending), replaces("a")),
		}, want: []string{"stop a remove: scaled down to 0 replicas", "stop a2 remove: scaled down to 0 replicas"}},
		{name: "failed: the replacement is made first", svc: one, tasks: []*state.Task{
			with(task("a", 1, "n1", failed), func(t *state.Task) { t.Status.Err = "unhealthy: HTTP 500" }),
		}, want: []string{"restart slot=1 replaces=a attempt=1"}},
		{name: "restart delay", now: t0.Add(2 * time.Second), svc: func(s *state.Service) {
			s.Spec.Replicas, s.Spec.RestartPolicy.Delay = 1, 5*time.Second
		}, tasks: []*state.Task{task("a", 1, "n1", failed)}, want: []string{"wake 5s"}},
		{name: "restart delay over", now: t0.Add(5 * time.Second), svc: func(s *state.Service) {
			s.Spec.Replicas, s.Spec.RestartPolicy.Delay = 1, 5*time.Second
		}, tasks: []*state.Task{task("a", 1, "n1", failed)}, want: []string{"restart slot=1 replaces=a attempt=1"}},
		{name: "on-failure does not restart a complete task", svc: func(s *state.Service) {
			s.Spec.Replicas, s.Spec.RestartPolicy.Condition = 1, state.RestartOnFailure
		}, tasks: []*state.Task{task("a", 1, "n1", complete)},
			want: []string{"stop a complete: task complete: not restarted (--restart-condition on-failure)"}},
		{name: "on-failure restarts a rejected task", svc: func(s *state.Service) {
			s.Spec.Replicas, s.Spec.RestartPolicy.Condition = 1, state.RestartOnFailure
		}, tasks: []*state.Task{task("a", 1, "n1", state.TaskRejected)}, want: []string{"restart slot=1 replaces=a attempt=1"}},
		{name: "condition none", svc: func(s *state.Service) {
			s.Spec.Replicas, s.Spec.RestartPolicy.Condition = 1, state.RestartNone
		}, tasks: []*state.Task{task("a", 1, "n1", failed)},
			want: []string{"stop a complete: task failed: not restarted (--restart-condition none)"}},
		{name: "max attempts reached", svc: func(s *state.Service) {
			s.Spec.Replicas, s.Spec.RestartPolicy.MaxAttempts = 1, 2
		}, tasks: []*state.Task{
			with(task("a", 1, "n1", failed), desired(state.TaskShutdown)),
			with(task("b", 1, "n1", failed), func(t *state.Task) { t.Attempt, t.Replaces, t.DesiredState = 1, "a", state.TaskShutdown }),
			with(task("c", 1, "n1", failed), func(t *state.Task) { t.Attempt, t.Replaces = 2, "b" }),
		}, want: []string{"stop c complete: task failed: gave up after 2 restarts (--restart-max-attempts 2)"}},
		{name: "max attempts within a window", now: t0, svc: func(s *state.Service) {
			s.Spec.Replicas, s.Spec.RestartPolicy.MaxAttempts, s.Spec.RestartPolicy.Window = 1, 2, 30*time.Second
		}, tasks: []*state.Task{
			with(task("b", 1, "n1", failed), func(t *state.Task) {
				t.Attempt, t.DesiredState, t.CreatedAt = 1, state.TaskShutdown, t0.Add(-time.Hour)
			}),
			with(task("c", 1, "n1", failed), func(t *state.Task) { t.Attempt, t.Replaces, t.CreatedAt = 2, "b", t0.Add(-20*time.Second) }),
		}, want: []string{"restart slot=1 replaces=c attempt=3"}},
		{name: "a given-up slot stays failed", svc: one, tasks: []*state.Task{
			with(task("a", 1, "n1", failed), desired(complete)),
		}},
		{name: "a given-up slot runs again after a spec change", svc: func(s *state.Service) {
			s.Spec.Replicas, s.SpecVersion, s.TaskVersion = 1, 2, 2
		}, tasks: []*state.Task{with(task("a", 1, "n1", failed), desired(complete))}, want: []string{"create slot=1"}},
		{name: "replacement running: the old task stops", svc: one, tasks: []*state.Task{
			task("a", 1, "n1", failed), with(task("b", 1, "n2", running), replaces("a")),
		}, want: []string{"stop a shutdown: replaced by task b"}},
		{name: "replacement starting: the unhealthy task runs on", svc: one, tasks: []*state.Task{
			task("a", 1, "n1", failed), with(task("b", 1, "n2", state.TaskStarting), replaces("a")),
		}},
		{name: "replacement cannot be placed: the old task makes room", svc: one, tasks: []*state.Task{
			task("a", 1, "n1", failed), with(task("b", 1, "", pending), func(t *state.Task) { t.Replaces, t.Status.Err = "a", "no suitable node" }),
		}, want: []string{"stop a shutdown: stopped to make room for task b, which cannot be placed"}},
		{name: "replacement failed too", svc: one, tasks: []*state.Task{
			task("a", 1, "n1", failed), with(task("b", 1, "n2", failed), replaces("a")),
		}, want: []string{"stop a shutdown: replaced by task b, which stopped too", "restart slot=1 replaces=b attempt=1"}},
		{name: "node down: replaced elsewhere, stopped at once", svc: one, nodes: []*state.Node{ready(1), down(2, t0.Add(-time.Minute))},
			tasks: []*state.Task{task("a", 1, "n2", running)},
			want:  []string{"create slot=1 replaces=a attempt=0", "stop a shutdown: node h2 is down"}},
		{name: "node down within the grace period", svc: one, policy: Policy{DownGrace: 30 * time.Second},
			nodes: []*state.Node{ready(1), down(2, t0.Add(-10*time.Second))},
			tasks: []*state.Task{task("a", 1, "n2", running)}, want: []string{"wake 20s"}},
		{name: "node left the cluster", svc: one, nodes: []*state.Node{ready(1)},
			tasks: []*state.Task{with(task("a", 1, "n9", running), func(t *state.Task) { t.Attempt = 4 })},
			want:  []string{"create slot=1 replaces=a attempt=4", "stop a shutdown: node n9 left the cluster"}},
		{name: "node drained: moved, replacement first", svc: one, nodes: []*state.Node{ready(1), drained(2)},
			tasks: []*state.Task{task("a", 1, "n2", running)}, want: []string{"create slot=1 replaces=a attempt=0"}},
		{name: "node drained: stopped once the replacement runs", svc: one, nodes: []*state.Node{ready(1), drained(2)},
			tasks: []*state.Task{task("a", 1, "n2", running), with(task("b", 1, "n1", running), replaces("a"))},
			want:  []string{"stop a shutdown: replaced by task b"}},
		{name: "node labels no longer match", svc: func(s *state.Service) {
			s.Spec.Replicas, s.Spec.Constraints = 1, []string{"node.labels.ssd==true"}
		}, nodes: []*state.Node{ready(1, "ssd", "true"), ready(2)}, tasks: []*state.Task{task("a", 1, "n2", running)},
			want: []string{"create slot=1 replaces=a attempt=0"}},
		{name: "node back: its stale task stops", svc: one, tasks: []*state.Task{
			with(task("a", 1, "n2", running), desired(state.TaskRunning)), with(task("b", 1, "n1", running), replaces("a")),
		}, want: []string{"stop a shutdown: replaced by task b"}},
		{name: "two unrelated tasks in a slot: the running one stays", svc: one, tasks: []*state.Task{
			task("a", 1, "n1", running), with(task("b", 1, "n2", state.TaskAssigned), func(t *state.Task) { t.CreatedAt = t0 }),
		}, want: []string{"stop b shutdown: replaced by task a"}},
		{name: "an older task on a lost node stops", svc: one, nodes: []*state.Node{ready(1), down(2, t0.Add(-time.Hour))}, tasks: []*state.Task{
			task("a", 1, "n2", failed), with(task("b", 1, "", pending), replaces("a")),
		}, want: []string{"stop a shutdown: node h2 is down"}},
		{name: "external", svc: func(s *state.Service) { s.External = true }},
		{name: "global is not replicated", svc: func(s *state.Service) { s.Spec.Mode = state.ModeGlobal }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc := service(3)
			if c.svc != nil {
				c.svc(svc)
			}
			nodes := c.nodes
			if nodes == nil {
				nodes = three
			}
			now := c.now
			if now.IsZero() {
				now = t0
			}
			p := Replicated(svc, c.tasks, nodes, now, c.policy)
			checkPlan(t, p, c.want)
			if p.ServiceID != "s" {
				t.Fatal("plan without its service")
			}
		})
	}
}

func one(s *state.Service) { s.Spec.Replicas = 1 }

// TestBackoff: an image that cannot start is retried later and later.
func TestBackoff(t *testing.T) {
	svc := service(1)
	var tasks []*state.Task
	prev := ""
	for i, id := range []string{"a", "b", "c", "d"} {
		tk := task(id, 1, "n1", state.TaskRejected)
		tk.CreatedAt, tk.Replaces, tk.Attempt = t0.Add(-time.Second), prev, uint64(i)
		if i < 3 {
			tk.DesiredState = state.TaskShutdown
		}
		tasks = append(tasks, tk)
		prev = id
	}
	p := Replicated(svc, tasks, []*state.Node{ready(1)}, t0, Policy{})
	checkPlan(t, p, []string{"wake 4s"}) // 4 quick failures in a row: 1s, 2s, 4s
	p = Replicated(svc, tasks, []*state.Node{ready(1)}, t0.Add(4*time.Second), Policy{})
	checkPlan(t, p, []string{"restart slot=1 replaces=d attempt=4"})
}
