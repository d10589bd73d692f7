package reconcile

import (
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

func gtask(id, node string, st state.TaskState) *state.Task {
	t := task(id, 0, node, st)
	t.NodeID = node
	return t
}

func TestGlobal(t *testing.T) {
	suspect := ready(4)
	suspect.Status = state.StatusSuspect
	cases := []struct {
		name  string
		svc   func(*state.Service)
		nodes []*state.Node
		tasks []*state.Task
		want  []string
	}{
		{name: "one task per node", nodes: []*state.Node{ready(1), ready(2), ready(3)},
			want: []string{"create node=n1", "create node=n2", "create node=n3"}},
		{name: "a node joins", nodes: []*state.Node{ready(1), ready(2)}, tasks: []*state.Task{gtask("a", "n1", running)},
			want: []string{"create node=n2"}},
		{name: "a pending task is enough", nodes: []*state.Node{ready(1)}, tasks: []*state.Task{gtask("a", "n1", pending)}},
		{name: "constraints", svc: func(s *state.Service) { s.Spec.Constraints = []string{"node.labels.ssd==true"} },
			nodes: []*state.Node{ready(1, "ssd", "true"), ready(2)}, tasks: []*state.Task{gtask("b", "n2", running)},
			want: []string{"create node=n1", "stop b shutdown: node h2 does not match --constraint node.labels.ssd==true"}},
		{name: "drained", nodes: []*state.Node{ready(1), drained(2)},
			tasks: []*state.Task{gtask("a", "n1", running), gtask("b", "n2", running)},
			want:  []string{"stop b shutdown: node h2 is drained"}},
		{name: "down nodes keep their tasks and get none", nodes: []*state.Node{down(1, t0.Add(-time.Hour)), down(2, t0), suspect},
			tasks: []*state.Task{gtask("a", "n1", running)}},
		{name: "a node left", nodes: []*state.Node{ready(1)},
			tasks: []*state.Task{gtask("a", "n1", running), gtask("b", "n9", running)},
			want:  []string{"stop b remove: node n9 left the cluster"}},
		{name: "restart on the same node", nodes: []*state.Node{ready(1)}, tasks: []*state.Task{gtask("a", "n1", failed)},
			want: []string{"restart node=n1 replaces=a attempt=1"}},
		{name: "replacement running", nodes: []*state.Node{ready(1)},
			tasks: []*state.Task{gtask("a", "n1", failed), with(gtask("b", "n1", running), replaces("a"))},
			want:  []string{"stop a shutdown: replaced by task b"}},
		{name: "given up on a node", svc: func(s *state.Service) { s.Spec.RestartPolicy.Condition = state.RestartNone },
			nodes: []*state.Node{ready(1)}, tasks: []*state.Task{with(gtask("a", "n1", failed), desired(complete))}},
		{name: "replicated is not global", svc: func(s *state.Service) { s.Spec.Mode = state.ModeReplicated },
			nodes: []*state.Node{ready(1)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc := global()
			if c.svc != nil {
				c.svc(svc)
			}
			checkPlan(t, Global(svc, c.tasks, c.nodes, t0), c.want)
		})
	}
}
