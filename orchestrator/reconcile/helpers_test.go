package reconcile

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// ready returns an active ready node hN with ID nN.
func ready(i int, labels ...string) *state.Node {
	n := &state.Node{ID: fmt.Sprintf("n%d", i), Hostname: fmt.Sprintf("h%d", i), Role: state.RoleWorker,
		Availability: state.AvailabilityActive, Status: state.StatusReady}
	for j := 0; j+1 < len(labels); j += 2 {
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		n.Labels[labels[j]] = labels[j+1]
	}
	return n
}

func down(i int, since time.Time) *state.Node {
	n := ready(i)
	n.Status, n.StatusAt = state.StatusDown, since
	return n
}

func drained(i int) *state.Node {
	n := ready(i)
	n.Availability = state.AvailabilityDrain
	return n
}

func service(replicas uint64) *state.Service {
	return &state.Service{ID: "s", Name: "web", SpecVersion: 1, TaskVersion: 1,
		Spec: state.ServiceSpec{Name: "web", Image: "app", Replicas: replicas}.WithDefaults()}
}

func global() *state.Service {
	s := service(0)
	s.Spec.Mode = state.ModeGlobal
	return s
}

// task is a task of service s in slot, on node ("" unassigned), wanted
// running, observed in st since t0, created a minute before.
func task(id string, slot uint64, node string, st state.TaskState) *state.Task {
	if st == state.TaskPending {
		node = ""
	}
	return &state.Task{ID: id, ServiceID: "s", Slot: slot, NodeID: node, SpecVersion: 1,
		DesiredState: state.TaskRunning, CreatedAt: t0.Add(-time.Minute),
		Status: state.TaskStatus{State: st, Timestamp: t0}}
}

// with edits a task in place and returns it.
func with(t *state.Task, edit func(*state.Task)) *state.Task {
	edit(t)
	return t
}

func replaces(id string) func(*state.Task) { return func(t *state.Task) { t.Replaces = id } }

func desired(d state.TaskState) func(*state.Task) { return func(t *state.Task) { t.DesiredState = d } }

// summary writes a plan as sorted lines, for comparison.
func summary(p Plan) []string {
	var out []string
	for _, kind := range []struct {
		name string
		ts   []NewTask
	}{{"create", p.Create}, {"restart", p.Restart}} {
		for _, n := range kind.ts {
			s := fmt.Sprintf("%s slot=%d", kind.name, n.Slot)
			if n.NodeID != "" {
				s = fmt.Sprintf("%s node=%s", kind.name, n.NodeID)
			}
			if n.Replaces != "" {
				s += fmt.Sprintf(" replaces=%s attempt=%d", n.Replaces, n.Attempt)
			}
			out = append(out, s)
		}
	}
	for _, s := range p.Stop {
		out = append(out, fmt.Sprintf("stop %s %s: %s", s.TaskID, s.Desired, s.Reason))
	}
	if !p.Wake.IsZero() {
		out = append(out, fmt.Sprintf("wake %s", p.Wake.Sub(t0)))
	}
	slices.Sort(out)
	return out
}

func checkPlan(t *testing.T, p Plan, want []string) {
	t.Helper()
	slices.Sort(want)
	if got := summary(p); !slices.Equal(got, want) {
		t.Fatalf("plan:\n  %q\nwant:\n  %q", got, want)
	}
}
