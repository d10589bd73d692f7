package scheduler

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const gib = 1 << 30

func node(i int, edit ...func(*state.Node)) *state.Node {
	n := &state.Node{ID: fmt.Sprintf("n%d", i), Hostname: fmt.Sprintf("h%d", i), Role: state.RoleWorker,
		Availability: state.AvailabilityActive, Status: state.StatusReady}
	for _, e := range edit {
		e(n)
	}
	return n
}

func label(k, v string) func(*state.Node) {
	return func(n *state.Node) {
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		n.Labels[k] = v
	}
}

func capacity(cpus float64, mem int64) func(*state.Node) {
	return func(n *state.Node) { n.Capacity = state.Resources{NanoCPUs: int64(cpus * 1e9), MemoryBytes: mem} }
}

func status(s string) func(*state.Node) { return func(n *state.Node) { n.Status = s } }

func drain(n *state.Node) { n.Availability = state.AvailabilityDrain }

func svc(id string, edit func(*state.ServiceSpec)) *state.Service {
	spec := state.ServiceSpec{Name: id, Image: "app", Replicas: 3}
	if edit != nil {
		edit(&spec)
	}
	return &state.Service{ID: id, Name: id, Spec: spec.WithDefaults(), SpecVersion: 1, TaskVersion: 1}
}

// pending returns n pending tasks of service s, created in order.
func pending(s string, n int) []*state.Task {
	var out []*state.Task
	for i := range n {
		out = append(out, &state.Task{ID: fmt.Sprintf("%s%d", s, i+1), ServiceID: s, Slot: uint64(i + 1),
			DesiredState: state.TaskRunning, CreatedAt: t0.Add(time.Duration(i)), Status: state.TaskStatus{State: state.TaskPending}})
	}
	return out
}

// on returns a running task of service s on node.
func on(s, node string) *state.Task {
	return &state.Task{ID: s + "@" + node, ServiceID: s, Slot: 9, NodeID: node, DesiredState: state.TaskRunning,
		Status: state.TaskStatus{State: state.TaskRunning}}
}

// outcome writes decisions as "node" or "reason", in task order.
func outcome(ds []Decision) []string {
	var out []string
	for _, d := range ds {
		if d.NodeID != "" {
			out = append(out, d.NodeID)
		} else {
			out = append(out, d.Reason)
		}
	}
	return out
}

func TestSchedule(t *testing.T) {
	three := []*state.Node{node(1), node(2), node(3)}
	big := func(s *state.ServiceSpec) { s.Resources.Reservations.MemoryBytes = 512 << 20 }
	cases := []struct {
		name    string
		svcs    []*state.Service
		nodes   []*state.Node
		running []*state.Task
		pending []*state.Task
		want    []string
	}{
		{name: "spread one per node", nodes: three, pending: pending("web", 4), want: []string{"n1", "n2", "n3", "n1"}},
		{name: "fewest tasks of the service first", nodes: three, running: []*state.Task{on("web", "n1"), on("web", "n2")},
			pending: pending("web", 2), want: []string{"n3", "n1"}},
		{name: "then fewest tasks", nodes: three, running: []*state.Task{on("api", "n1"), on("api", "n1"), on("api", "n2")},
			pending: pending("web", 2), want: []string{"n3", "n2"}},
		{name: "stopped tasks do not count", nodes: three, running: []*state.Task{
			func() *state.Task {
				t := on("web", "n1")
				t.DesiredState, t.Status.State = state.TaskShutdown, state.TaskShutdown
				return t
			}(),
		}, pending: pending("web", 1), want: []string{"n1"}},
		{name: "constraint pins", nodes: three, svcs: []*state.Service{svc("web", func(s *state.ServiceSpec) {
			s.Constraints = []string{"node.hostname==h2"}
		})}, pending: pending("web", 2), want: []string{"n2", "n2"}},
		{name: "constraint matches nothing", nodes: three, svcs: []*state.Service{svc("web", func(s *state.ServiceSpec) {
			s.Constraints = []string{"node.labels.ssd==true"}
		})}, pending: pending("web", 1), want: []string{"no suitable node: constraint node.labels.ssd==true matched 0 of 3 nodes"}},
		{name: "constraint then drained", nodes: []*state.Node{node(1, label("ssd", "true"), drain), node(2), node(3)},
			svcs:    []*state.Service{svc("web", func(s *state.ServiceSpec) { s.Constraints = []string{"node.labels.ssd==true"} })},
			pending: pending("web", 1),
			want:    []string{"no suitable node: constraint node.labels.ssd==true matched 1 of 3 nodes; 1 node drained"}},
		{name: "down and drained", nodes: []*state.Node{node(1, status(state.StatusDown)), node(2, drain), node(3, drain)},
			pending: pending("web", 1), want: []string{"no suitable node: 1 node down, 2 nodes drained"}},
		{name: "suspect", nodes: []*state.Node{node(1, status(state.StatusSuspect)), node(2)},
			pending: pending("web", 1), want: []string{"n2"}},
		{name: "memory", svcs: []*state.Service{svc("web", big), svc("db", func(s *state.ServiceSpec) {
			s.Resources.Reservations.MemoryBytes = 768 << 20
		})}, nodes: []*state.Node{node(1, capacity(2, gib)), node(2, capacity(2, gib)), node(3, capacity(2, gib))},
			running: []*state.Task{on("db", "n1"), on("db", "n2"), on("db", "n3")}, pending: pending("web", 1),
			want: []string{"no suitable node: insufficient memory on 3 nodes (need 512MiB)"}},
		{name: "memory fills up within a batch", svcs: []*state.Service{svc("web", big)},
			nodes:   []*state.Node{node(1, capacity(2, gib/2)), node(2, capacity(2, gib))},
			pending: pending("web", 4), want: []string{"n1", "n2", "n2", "no suitable node: insufficient memory on 2 nodes (need 512MiB)"}},
		{name: "cpu", svcs: []*state.Service{svc("web", func(s *state.ServiceSpec) { s.Resources.Reservations.NanoCPUs = 15e8 })},
			nodes: []*state.Node{node(1, capacity(1, 0)), node(2, capacity(1, 0)), node(3)}, pending: pending("web", 2),
			want: []string{"n3", "n3"}}, // n3 reports no capacity: not checked
		{name: "cpu reason", svcs: []*state.Service{svc("web", func(s *state.ServiceSpec) { s.Resources.Reservations.NanoCPUs = 15e8 })},
			nodes: []*state.Node{node(1, capacity(1, 0)), node(2, capacity(1, 0))}, pending: pending("web", 1),
			want: []string{"no suitable node: insufficient CPU on 2 nodes (need 1.5 CPUs)"}},
		{name: "spread over zones", svcs: []*state.Service{svc("web", func(s *state.ServiceSpec) {
			s.Preferences = []string{"spread=node.labels.zone"}
		})}, nodes: []*state.Node{node(1, label("zone", "a")), node(2, label("zone", "a")), node(3, label("zone", "b"))},
			pending: pending("web", 4), want: []string{"n1", "n3", "n2", "n3"}},
		{name: "nodes without the label are a group", svcs: []*state.Service{svc("web", func(s *state.ServiceSpec) {
			s.Preferences = []string{"spread=node.labels.zone"}
		})}, nodes: []*state.Node{node(1, label("zone", "a")), node(2), node(3)}, running: []*state.Task{on("web", "n2")},
			pending: pending("web", 2), want: []string{"n1", "n3"}},
		{name: "host ports", svcs: []*state.Service{svc("web", func(s *state.ServiceSpec) {
			s.Ports = []state.PortConfig{{Target: 80, Published: 8080, Mode: state.PublishHost}}
		})}, nodes: []*state.Node{node(1), node(2)}, running: []*state.Task{on("web", "n1")},
			pending: pending("web", 2), want: []string{"n2", "no suitable node: port 8080/tcp already published on 2 nodes"}},
		{name: "global: its own node only", svcs: []*state.Service{svc("web", func(s *state.ServiceSpec) { s.Mode, s.Replicas = state.ModeGlobal, 0 })},
			nodes: []*state.Node{node(1), node(2, status(state.StatusDown))}, running: []*state.Task{on("web", "n1")},
			pending: func() []*state.Task {
				ts := pending("web", 3)
				ts[0].NodeID, ts[1].NodeID, ts[2].NodeID = "n1", "n2", "n9"
				return ts
			}(), want: []string{"n1", "no suitable node: 1 node down", "no suitable node: node n9 left the cluster"}},
		{name: "no nodes", pending: pending("web", 1), want: []string{"no suitable node: the cluster has no nodes"}},
		{name: "unknown and external services are skipped", nodes: three,
			svcs:    []*state.Service{func() *state.Service { s := svc("web", nil); s.External = true; return s }()},
			pending: append(pending("web", 1), pending("gone", 1)...)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svcs := map[string]*state.Service{}
			for _, s := range []*state.Service{svc("web", nil), svc("api", nil)} {
				svcs[s.ID] = s
			}
			for _, s := range c.svcs {
				svcs[s.ID] = s
			}
			ds := Schedule(c.pending, svcs, c.nodes, append(slices.Clone(c.running), c.pending...))
			if got := outcome(ds); !slices.Equal(got, c.want) {
				t.Fatalf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestPendingAndUpdates(t *testing.T) {
	ts := pending("web", 3)
	ts[1].Status.Err, ts[1].Status.Message = "no suitable node: x", "replaces task a (failed)"
	ts[2].Status.State = state.TaskAssigned
	if p := Pending(append(ts, on("web", "n1"))); len(p) != 2 {
		t.Fatalf("pending %d", len(p))
	}
	ds := []Decision{{TaskID: "web1", NodeID: "n1"}, {TaskID: "web2", Reason: "no suitable node: x"}, {TaskID: "web3", Reason: "no suitable node: y"}}
	ts[2].Status.State = state.TaskPending
	ts[2].Status.Message = "created"
	u := Updates(ds, ts, t0)
	if len(u) != 2 || u[0].NodeID != "n1" || u[0].Status.State != state.TaskAssigned ||
		u[1].ID != "web3" || u[1].Status.Err != "no suitable node: y" || u[1].Status.Message != "created" {
		t.Fatalf("updates %+v", u)
	}
}
