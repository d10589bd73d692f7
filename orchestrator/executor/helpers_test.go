package executor

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xoverlay/xoverlay/orchestrator/state"
	"github.com/xoverlay/xoverlay/orchestrator/state/statetest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fixture is node n1 of an in-process cluster with network appnet (on
// n1's engine), service web (ID s1) and a fake engine with image
// xo-demo:v1.
type fixture struct {
	t   *testing.T
	cl  *statetest.Local
	eng *fakeEngine
	ex  *Executor
	reg *prometheus.Registry

	elapsed atomic.Int64 // nanoseconds since t0 on the executor's clock
}

func webSpec() state.ServiceSpec {
	return state.ServiceSpec{Name: "web", Image: "xo-demo:v1", Replicas: 1,
		Networks: []state.NetworkAttachment{{Target: "appnet", Aliases: []string{"www"}}}}
}

func newFixture(t *testing.T, spec state.ServiceSpec) *fixture {
	t.Helper()
	f := &fixture{t: t, cl: statetest.New(), eng: newFakeEngine("xo-demo:v1")}
	f.propose(
		state.RegisterNode{Node: state.Node{ID: "n1", Hostname: "h1", Role: state.RoleManager}},
		state.RegisterNode{Node: state.Node{ID: "n2", Hostname: "h2", Role: state.RoleManager}},
		state.CreateNetwork{ID: "net", Subnet: "10.1.0.0/24", CreatedAt: t0},
		state.SetGateway{NetworkID: "net"},
		state.AttachEngine{NetworkID: "net", Node: "n1", EngineID: "e1", MTU: 1450},
		state.RenameNetwork{NetworkID: "net", Name: "appnet"},
		state.CreateService{Service: state.Service{ID: "s1", Spec: spec, CreatedAt: t0}},
	)
	f.ex = f.executor()
	return f
}

// executor returns a new executor of n1 on the fixture's engine and
// clock, with a fresh registry.
func (f *fixture) executor() *Executor {
	f.reg = prometheus.NewRegistry()
	ex := New(f.eng, f.cl, "n1", slog.New(slog.NewTextHandler(io.Discard, nil)), f.reg)
	ex.now = f.now
	return ex
}

func (f *fixture) now() time.Time          { return t0.Add(time.Duration(f.elapsed.Load())) }
func (f *fixture) advance(d time.Duration) { f.elapsed.Add(int64(d)) }

func (f *fixture) propose(cmds ...state.Command) {
	f.t.Helper()
	for _, c := range cmds {
		if _, err := f.cl.Propose(context.Background(), c); err != nil {
			f.t.Fatalf("%T: %v", c, err)
		}
	}
}

// assign creates task id in slot of s1 and assigns it to node.
func (f *fixture) assign(id string, slot uint64, node string) {
	f.t.Helper()
	f.propose(
		state.CreateTasks{Tasks: []state.Task{{ID: id, ServiceID: "s1", Slot: slot, CreatedAt: f.now()}}},
		state.UpdateTasks{Updates: []state.TaskUpdate{{ID: id, NodeID: node,
			Status: &state.TaskStatus{State: state.TaskAssigned, Timestamp: f.now()}}}},
	)
}

func (f *fixture) desire(id string, s state.TaskState) {
	f.t.Helper()
	f.propose(state.UpdateTasks{Updates: []state.TaskUpdate{{ID: id, DesiredState: s}}})
}

func (f *fixture) task(id string) *state.Task {
	var t *state.Task
	f.cl.View(func(tx state.ReadTx) { t = tx.Task(id) })
	if t == nil {
		f.t.Fatalf("task %s is gone", id)
	}
	return t
}

// converge makes a full pass of f.ex, lets the stops it started return,
// and returns the next wake-up it asked for.
func (f *fixture) converge() time.Time {
	next := f.ex.converge(context.Background(), nil, true)
	f.ex.stops.Wait()
	return next
}

// status checks the task's observed state and error.
func (f *fixture) status(id string, want state.TaskState, wantErr string) *state.Task {
	f.t.Helper()
	t := f.task(id)
	if t.Status.State != want || t.Status.Err != wantErr {
		f.t.Fatalf("task %s: %s %q (%s), want %s %q", id, t.Status.State, t.Status.Err, t.Status.Message, want, wantErr)
	}
	return t
}

// statusWrites returns the SetTaskStatus commands proposed since the last
// call.
func (f *fixture) statusWrites() []state.SetTaskStatus {
	var out []state.SetTaskStatus
	for _, c := range f.cl.TakeWrites() {
		if s, ok := c.(state.SetTaskStatus); ok {
			out = append(out, s)
		}
	}
	return out
}

// running assigns task id in slot 1 and converges it to running.
func (f *fixture) running(id string) *fakeContainer {
	f.t.Helper()
	f.assign(id, 1, "n1")
	f.converge()
	f.status(id, state.TaskRunning, "")
	f.statusWrites()
	c := f.eng.find("web.1." + id)
	if c == nil {
		f.t.Fatal("no container web.1." + id)
	}
	return c
}
