package orchestrate

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xoverlay/xoverlay/orchestrator/state"
	"github.com/xoverlay/xoverlay/orchestrator/state/statetest"
)

// leading is an in-process cluster whose member always leads.
type leading struct{ *statetest.Local }

func (leading) IsLeader() bool { return true }

// scaleState is nodes managers running services × replicas tasks, all
// running: the state a new leader finds at scale.
func scaleState(tb testing.TB, nodes, services, replicas int) leading {
	tb.Helper()
	c := statetest.New()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	must := func(cmd state.Command) {
		if _, err := c.Propose(context.Background(), cmd); err != nil {
			tb.Fatalf("%T: %v", cmd, err)
		}
	}
	for i := 1; i <= nodes; i++ {
		must(state.RegisterNode{Node: state.Node{ID: fmt.Sprintf("n%d", i), Hostname: fmt.Sprintf("h%d", i), Role: state.RoleManager}})
	}
	for s := range services {
		id := fmt.Sprintf("s%04d", s)
		must(state.CreateService{Service: state.Service{ID: id, CreatedAt: at,
			Spec: state.ServiceSpec{Name: fmt.Sprintf("svc%04d", s), Image: "xo-demo:v1", Replicas: uint64(replicas)}}})
		var ts []state.Task
		var ups []state.TaskUpdate
		for r := 1; r <= replicas; r++ {
			tid := fmt.Sprintf("%s-t%02d", id, r)
			ts = append(ts, state.Task{ID: tid, ServiceID: id, Slot: uint64(r), CreatedAt: at})
			ups = append(ups, state.TaskUpdate{ID: tid, NodeID: fmt.Sprintf("n%d", 1+(s*replicas+r)%nodes),
				Status: &state.TaskStatus{State: state.TaskAssigned, Timestamp: at}})
		}
		must(state.CreateTasks{Tasks: ts})
		must(state.UpdateTasks{Updates: ups})
		for i, u := range ups {
			must(state.SetTaskStatus{Node: u.NodeID, Tasks: []state.TaskStatusUpdate{{ID: ts[i].ID,
				Status: state.TaskStatus{State: state.TaskRunning, ContainerID: "c" + ts[i].ID, Timestamp: at}}}})
		}
	}
	return leading{c}
}

// BenchmarkPassAtScale is one orchestration pass over 1,000 services of
// 10 running tasks on 3 nodes, with nothing to do: the pass a new leader
// makes before it has caught up.
func BenchmarkPassAtScale(b *testing.B) {
	c := scaleState(b, 3, 1000, 10)
	o := New(c, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, Options{})
	o.ext = externals{seen: map[string]time.Time{}, bad: map[string]bool{}}
	c.TakeWrites()
	b.ResetTimer()
	for b.Loop() {
		o.dirty.markFull() // as a new leader's passes until it caught up
		o.pass(context.Background())
	}
	b.StopTimer()
	if w := c.TakeWrites(); len(w) != 0 {
		b.Fatalf("a pass over a converged state wrote %d commands, first %T", len(w), w[0])
	}
}

// BenchmarkPassAfterCommit is the pass after one commit at 100 and 1,000
// services of 10 running tasks on 3 nodes: partial, as the commit's
// events make it, next to the full pass every commit cost before. The
// commits: a service scaled by one (scale: its task is created and
// placed, which reads every task for the nodes' loads), and a running
// task's status message (task: nothing to do).
func BenchmarkPassAfterCommit(b *testing.B) {
	for _, n := range []int{100, 1000} {
		for _, commit := range []string{"scale", "task"} {
			for _, kind := range []string{"full", "partial"} {
				b.Run(fmt.Sprintf("services=%d/commit=%s/pass=%s", n, commit, kind), func(b *testing.B) {
					benchmarkPassAfterCommit(b, n, commit, kind == "full")
				})
			}
		}
	}
}

func benchmarkPassAfterCommit(b *testing.B, services int, commit string, full bool) {
	c := scaleState(b, 3, services, 10)
	o := New(c, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, Options{})
	events, cancel := c.Watch()
	defer cancel()
	ctx := context.Background()
	o.pass(ctx) // full: the state is converged, the leader settles
	if !o.settled {
		b.Fatal("the first pass over a converged state did not settle")
	}
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		switch commit {
		case "scale":
			var spec state.ServiceSpec
			c.View(func(tx state.ReadTx) { spec = tx.Service("s0000").Spec })
			spec.Replicas = uint64(10 + i%2)
			must(b, c, state.UpdateService{ID: "s0000", Spec: spec, At: time.Now()})
		default:
			must(b, c, state.SetTaskStatus{Node: "n2", Tasks: []state.TaskStatusUpdate{{ID: "s0000-t01", Status: state.TaskStatus{
				State: state.TaskRunning, Message: fmt.Sprintf("check %d", i), Timestamp: time.Now()}}}})
		}
		var batch []state.Event
		for len(events) > 0 {
			batch = append(batch, <-events)
		}
		b.StartTimer()
		o.note(batch, false) // the watch's goroutine's share
		if full {
			o.dirty.markFull()
		}
		o.pass(ctx)
	}
	b.StopTimer()
	if k := "partial"; !full && testutil.ToFloat64(o.m.passes.WithLabelValues(k)) == 0 {
		b.Fatal("no partial pass")
	}
}

func must(tb testing.TB, c leading, cmd state.Command) {
	tb.Helper()
	if _, err := c.Propose(context.Background(), cmd); err != nil {
		tb.Fatalf("%T: %v", cmd, err)
	}
}
