package orchestrate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// tk is a task of service s, made i minutes after t0.
func tk(id, s string, slot uint64, node string, i int, desired, st state.TaskState) *state.Task {
	return &state.Task{ID: id, ServiceID: s, Slot: slot, NodeID: node, CreatedAt: t0.Add(time.Duration(i) * time.Minute),
		DesiredState: desired, Status: state.TaskStatus{State: st}}
}

// history returns n stopped tasks of slot 1 of web on n1, h1 oldest.
func history(n int) []*state.Task {
	var out []*state.Task
	for i := 1; i <= n; i++ {
		out = append(out, tk(fmt.Sprintf("h%d", i), "web", 1, "n1", i, state.TaskShutdown, state.TaskFailed))
	}
	return out
}

func TestReapable(t *testing.T) {
	const (
		run      = state.TaskRunning
		shutdown = state.TaskShutdown
		remove   = state.TaskRemove
		complete = state.TaskComplete
	)
	web := &state.Service{ID: "web", Name: "web", Spec: state.ServiceSpec{Name: "web", Replicas: 1}}
	global := &state.Service{ID: "g", Name: "g", Spec: state.ServiceSpec{Name: "g", Mode: state.ModeGlobal}}
	patient := &state.Service{ID: "web", Name: "web", Spec: state.ServiceSpec{Name: "web", Replicas: 1,
		RestartPolicy: state.RestartPolicy{MaxAttempts: 7}}}
	svcs := map[string]*state.Service{"web": web, "g": global}
	nodes := map[string]bool{"n1": true, "n2": true}
	cases := []struct {
		name  string
		svcs  map[string]*state.Service
		tasks []*state.Task
		want  []string
	}{
		{name: "wanted running: never", tasks: []*state.Task{
			tk("a", "web", 1, "n1", 0, run, state.TaskFailed), tk("b", "web", 1, "gone", 1, run, run)}},
		{name: "remove: once terminal or never assigned", tasks: []*state.Task{
			tk("a", "web", 2, "n1", 0, remove, state.TaskShutdown), tk("b", "web", 3, "", 0, remove, state.TaskPending),
			tk("c", "web", 4, "n1", 0, remove, run)},
			want: []string{"a", "b"}},
		{name: "removed service: once terminal", svcs: map[string]*state.Service{}, tasks: []*state.Task{
			tk("a", "old", 1, "n1", 0, remove, state.TaskComplete), tk("b", "old", 2, "n1", 0, remove, state.TaskStarting),
			tk("c", "old", 3, "n1", 0, shutdown, state.TaskFailed)},
			want: []string{"a", "c"}},
		{name: "node gone: whatever its state", tasks: []*state.Task{
			tk("a", "web", 1, "gone", 0, shutdown, run), tk("b", "g", 0, "gone", 0, remove, run),
			tk("c", "web", 1, "n1", 1, run, run)},
			want: []string{"a", "b"}},
		{name: "stopping: kept", tasks: []*state.Task{tk("a", "web", 1, "n1", 0, shutdown, run)}},
		{name: "history within the limit", tasks: history(5)},
		{name: "history beyond the limit: the oldest", tasks: history(8), want: []string{"h1", "h2", "h3"}},
		{name: "limit follows max attempts", svcs: map[string]*state.Service{"web": patient}, tasks: history(10),
			want: []string{"h1", "h2"}},
		{name: "newest given-up task kept", tasks: append(history(7),
			tk("done", "web", 1, "n1", 0, complete, state.TaskFailed), tk("old", "web", 1, "n1", -1, complete, state.TaskFailed)),
			want: []string{"h1", "h2", "old"}},
		{name: "given-up task kept on a node that left", tasks: []*state.Task{
			tk("done", "web", 1, "gone", 0, complete, state.TaskFailed), tk("b", "web", 1, "gone", -1, shutdown, state.TaskFailed)},
			want: []string{"b"}},
		{name: "global: history per node, all of a node that left", svcs: svcs, tasks: []*state.Task{
			tk("a", "g", 0, "n1", 0, shutdown, state.TaskFailed), tk("b", "g", 0, "n2", 0, shutdown, state.TaskFailed),
			tk("c", "g", 0, "gone", 0, complete, state.TaskFailed)},
			want: []string{"c"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := c.svcs
			if s == nil {
				s = svcs
			}
			var got []string
			for _, g := range reapable(c.tasks, s, nodes) {
				got = append(got, g.items...)
			}
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Fatalf("reaped %v, want %v", got, c.want)
			}
		})
	}
}

// recorder is a Cluster that records the writes and fails those that
// hold a poisoned task ID.
type recorder struct {
	Cluster
	writes [][]string
	poison string
}

func (r *recorder) Propose(_ context.Context, cmd state.Command) (any, error) {
	ids := cmd.(state.DeleteTasks).IDs
	r.writes = append(r.writes, ids)
	if slices.Contains(ids, r.poison) {
		return nil, errors.New("refused")
	}
	return len(ids), nil
}

func TestProposeGroups(t *testing.T) {
	ids := func(prefix string, n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("%s%d", prefix, i))
		}
		return out
	}
	cases := []struct {
		name   string
		groups []group[string]
		poison string
		writes []int // items per write
		count  int
		failed []string
	}{
		{name: "small groups share a write", groups: []group[string]{{"a", ids("a", 2)}, {"b", ids("b", 3)}},
			writes: []int{5}, count: 5},
		{name: "a full write is flushed", groups: []group[string]{{"a", ids("a", 300)}, {"b", ids("b", 300)}},
			writes: []int{300, 300}, count: 600},
		{name: "a large group is split", groups: []group[string]{{"a", ids("a", 1200)}},
			writes: []int{500, 500, 200}, count: 1200},
		{name: "a bad group fails alone", groups: []group[string]{{"a", ids("a", 2)}, {"b", ids("b", 2)}, {"c", ids("c", 1)}},
			poison: "b1", writes: []int{5, 2, 2, 1}, count: 3, failed: []string{"b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &recorder{poison: c.poison}
			n, failed := proposeGroups(context.Background(), r, c.groups, func(ids []string) state.Command {
				return state.DeleteTasks{IDs: ids}
			})
			var sizes []int
			for _, w := range r.writes {
				sizes = append(sizes, len(w))
			}
			var keys []string
			for k := range failed {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !slices.Equal(sizes, c.writes) || n != c.count || !slices.Equal(keys, c.failed) {
				t.Fatalf("writes %v, count %d, failed %v; want %v, %d, %v", sizes, n, keys, c.writes, c.count, c.failed)
			}
		})
	}
}

func TestEarliest(t *testing.T) {
	a, b := t0, t0.Add(time.Second)
	cases := []struct{ x, y, want time.Time }{
		{time.Time{}, time.Time{}, time.Time{}},
		{a, time.Time{}, a},
		{time.Time{}, b, b},
		{a, b, a},
		{b, a, a},
	}
	for _, c := range cases {
		if got := earliest(c.x, c.y); !got.Equal(c.want) {
			t.Errorf("earliest(%v, %v) = %v, want %v", c.x, c.y, got, c.want)
		}
	}
}
