package orchestrate

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// TestPartialPassProposesAsFull: from random states, after random
// commits, a pass over the services the commits concern (and those due)
// proposes what a pass over every service proposes, and both remember
// the same for the passes after.
func TestPartialPassProposesAsFull(t *testing.T) {
	seeds, rounds := 150, 40
	if testing.Short() {
		seeds = 30
	}
	partial := 0.0
	for seed := range uint64(seeds) {
		w := &world{t: t, r: rand.New(rand.NewPCG(seed, 7)), clk: newTestClock(), seed: seed}
		opts := Options{DownGrace: []time.Duration{0, 20 * time.Second}[seed%2], ExternalGrace: time.Minute}
		w.a, w.b = newTwin(t, w.clk, opts), newTwin(t, w.clk, opts)
		w.both(state.CreateNetwork{ID: "net", Subnet: "10.9.0.0/16", CreatedAt: w.clk.Now()})
		w.both(state.SetGateway{NetworkID: "net"})
		for range 1 + w.r.IntN(4) {
			w.addNode()
		}
		w.both(state.RenameNetwork{NetworkID: "net", Name: "net"})
		for range w.r.IntN(6) {
			w.commit()
		}
		w.pass(0)
		w.a.o.settled = true // from now on its passes may be partial
		for round := 1; round <= rounds && !w.failed; round++ {
			if w.r.IntN(10) == 0 { // as if the tasks were there before this leadership
				w.a.o.dirty.mu.Lock()
				clear(w.a.o.dirty.tasks)
				w.a.o.dirty.mu.Unlock()
			}
			for range 1 + w.r.IntN(3) {
				w.commit()
			}
			w.pass(round)
		}
		partial += w.a.passes("partial")
		if w.failed {
			return
		}
	}
	if partial < float64(seeds*rounds)/3 {
		t.Fatalf("%v partial passes of %d: the test hardly tests them", partial, seeds*rounds)
	}
	t.Logf("%v partial passes of %d", partial, seeds*rounds)
}

// TestPartialPassKeepsWakes: a service waiting for its restart delay is
// not looked at by the passes after other services' commits, yet its
// wake time stays the pass's, and the first pass after it restarts the
// task.
func TestPartialPassKeepsWakes(t *testing.T) {
	clk := newTestClock()
	w := newTwin(t, clk, Options{})
	must := func(cmd state.Command) {
		t.Helper()
		if _, err := w.c.Propose(context.Background(), cmd); err != nil {
			t.Fatalf("%T: %v", cmd, err)
		}
	}
	ctx := context.Background()
	must(state.RegisterNode{Node: state.Node{ID: "n1", Hostname: "h1", Role: state.RoleManager}})
	for _, name := range []string{"web", "api"} {
		must(state.CreateService{Service: state.Service{ID: name, CreatedAt: clk.Now(), Spec: state.ServiceSpec{Name: name,
			Image: "app", Replicas: 1, RestartPolicy: state.RestartPolicy{Delay: time.Minute}}}})
	}
	w.collect()
	w.o.pass(ctx) // full: creates and places both tasks
	w.o.settled = true
	var web *state.Task
	w.c.View(func(tx state.ReadTx) { web = tx.Tasks("web")[0] })
	must(state.SetTaskStatus{Node: "n1", Tasks: []state.TaskStatusUpdate{{ID: web.ID,
		Status: state.TaskStatus{State: state.TaskFailed, ExitCode: 1, Timestamp: clk.Now()}}}})
	w.collect()
	w.c.TakeWrites()
	due := clk.Now().Add(time.Minute)

	full := w.passes("full")
	w.o.pass(ctx) // web's failure: its restart waits a minute
	if got := w.o.mem.wake(w.o.ext.wake); !got.Equal(due) {
		t.Fatalf("wake %v after web failed, want %v", got, due)
	}
	clk.Advance(30 * time.Second)
	must(state.UpdateService{ID: "api", Spec: state.ServiceSpec{Name: "api", Image: "app", Replicas: 2,
		RestartPolicy: state.RestartPolicy{Delay: time.Minute}}, At: clk.Now()})
	w.collect()
	sc := w.o.scope(time.Now(), clk.Now())
	if sc.full || !sc.ids["api"] || sc.ids["web"] {
		t.Fatalf("scope after api's commit: full %v, services %v: want api alone", sc.full, slices.Sorted(maps.Keys(sc.ids)))
	}
	w.o.dirty.markServices(sc.ids) // give back what the look took
	w.o.pass(ctx)
	w.collect()
	if got := w.o.mem.wake(w.o.ext.wake); !got.Equal(due) {
		t.Fatalf("wake %v after a pass over api alone, want web's %v", got, due)
	}
	if n := w.passes("full"); n != full {
		t.Fatalf("%v full passes since web failed, want none", n-full)
	}
	w.c.TakeWrites()

	clk.Advance(30 * time.Second)
	sc = w.o.scope(time.Now(), clk.Now())
	if sc.full || !sc.ids["web"] {
		t.Fatalf("scope at web's wake: full %v, services %v: want web", sc.full, slices.Sorted(maps.Keys(sc.ids)))
	}
	w.o.dirty.markServices(sc.ids)
	w.o.pass(ctx)
	var replaced bool
	for _, c := range w.c.TakeWrites() {
		if ct, ok := c.(state.CreateTasks); ok && len(ct.Tasks) == 1 && ct.Tasks[0].Replaces == web.ID {
			replaced = true
		}
	}
	if !replaced {
		t.Fatalf("web's failed task not replaced at its wake time")
	}
	if n := w.passes("full"); n != full {
		t.Fatalf("%v full passes since web failed, want none", n-full)
	}
}

// TestPartialPassSeesLabelledContainers: a container labelled with an
// external service's name is one of its members while no task runs it;
// when a task reports it as its own, the external service loses that
// member. The task's commit names no external service, yet the partial
// pass after it looks at them, as the full pass does.
func TestPartialPassSeesLabelledContainers(t *testing.T) {
	w := &world{t: t, r: rand.New(rand.NewPCG(1, 1)), clk: newTestClock()}
	opts := Options{ExternalGrace: time.Minute}
	w.a, w.b = newTwin(t, w.clk, opts), newTwin(t, w.clk, opts)
	w.both(state.CreateNetwork{ID: "net", Subnet: "10.9.0.0/16", CreatedAt: w.clk.Now()})
	w.both(state.SetGateway{NetworkID: "net"})
	w.addNode()
	w.both(state.RenameNetwork{NetworkID: "net", Name: "net"})
	w.both(state.CreateService{Service: state.Service{ID: "web", CreatedAt: w.clk.Now(),
		Spec: state.ServiceSpec{Name: "web", Image: "app", Replicas: 1}}})
	w.pass(0) // web's task, assigned to n1
	w.a.o.settled = true
	task := w.tasks()[0]
	for i, c := range []string{"hand", "c" + task.ID} { // the second: web's container to come, its label left behind
		id := fmt.Sprintf("ep%d", i)
		w.both(state.CreateEndpoint{Endpoint: state.Endpoint{ID: id, NetworkID: "net", Node: "n1", IP: fmt.Sprintf("10.9.0.%d", i+10)}})
		w.both(state.SetEndpointStatus{Endpoints: []state.EndpointUpdate{{ID: id, ContainerID: c,
			Status: state.EndpointStatus{Running: true, Service: "ext"}}}})
	}
	w.pass(1) // ext, external, created
	w.pass(2)
	w.both(state.DeleteEndpoint{ID: "ep0"})
	w.clk.Advance(10 * time.Second)
	w.pass(3) // ext keeps a member: ep1
	w.clk.Advance(10 * time.Second)
	w.both(state.SetTaskStatus{Node: "n1", Tasks: []state.TaskStatusUpdate{{ID: task.ID,
		Status: state.TaskStatus{State: state.TaskRunning, ContainerID: "c" + task.ID, Timestamp: w.clk.Now()}}}})
	w.pass(4) // ep1 is web's task's: ext has no member left, its grace runs
	for round := 5; round < 12 && !w.failed; round++ {
		w.clk.Advance(10 * time.Second)
		w.both(state.SetTaskStatus{Node: "n1", Tasks: []state.TaskStatusUpdate{{ID: task.ID, Status: state.TaskStatus{
			State: state.TaskRunning, ContainerID: "c" + task.ID, Message: fmt.Sprint(round), Timestamp: w.clk.Now()}}}})
		w.pass(round)
	}
	var ext *state.Service
	w.view(func(tx state.ReadTx) { ext = tx.ServiceByName("ext") })
	if ext != nil {
		t.Errorf("external service ext still there 70 s after its last member went")
	}
	if n := w.a.passes("partial"); n == 0 {
		t.Error("no partial pass")
	}
}

// TestPartialPassAfterNodeGrace: the old task of a start-first update
// stays on its node while it is down, for DownGrace, then stops; no
// plan asks to be woken for that (the new task runs elsewhere), so the
// first pass after the grace ends, here after another service's commit,
// is a full one.
func TestPartialPassAfterNodeGrace(t *testing.T) {
	w := &world{t: t, r: rand.New(rand.NewPCG(2, 2)), clk: newTestClock()}
	opts := Options{DownGrace: 20 * time.Second}
	w.a, w.b = newTwin(t, w.clk, opts), newTwin(t, w.clk, opts)
	w.both(state.CreateNetwork{ID: "net", Subnet: "10.9.0.0/16", CreatedAt: w.clk.Now()})
	w.both(state.SetGateway{NetworkID: "net"})
	w.addNode()
	w.addNode()
	w.both(state.RenameNetwork{NetworkID: "net", Name: "net"})
	for _, name := range []string{"web", "api"} {
		w.both(state.CreateService{Service: state.Service{ID: name, CreatedAt: w.clk.Now(), Spec: state.ServiceSpec{Name: name,
			Image: "app", Replicas: 1, UpdateConfig: &state.UpdateConfig{Order: state.OrderStartFirst}}}})
	}
	w.pass(0)
	w.a.o.settled = true
	var old *state.Task
	w.view(func(tx state.ReadTx) { old = tx.Tasks("web")[0] })
	w.both(state.SetTaskStatus{Node: old.NodeID, Tasks: []state.TaskStatusUpdate{{ID: old.ID,
		Status: state.TaskStatus{State: state.TaskRunning, ContainerID: "c" + old.ID, Timestamp: w.clk.Now()}}}})
	w.pass(1)
	w.both(state.UpdateService{ID: "web", Spec: state.ServiceSpec{Name: "web", Image: "app:2", Replicas: 1,
		UpdateConfig: &state.UpdateConfig{Order: state.OrderStartFirst}}, At: w.clk.Now()})
	w.pass(2) // the new task, beside the old one
	w.pass(3)
	w.both(state.SetNodeStatus{ID: old.NodeID, Status: state.StatusDown, At: w.clk.Now()})
	w.pass(4) // full: a node changed; the old task waits for the grace
	w.clk.Advance(25 * time.Second)
	w.both(state.UpdateService{ID: "api", Spec: state.ServiceSpec{Name: "api", Image: "app", Replicas: 2,
		UpdateConfig: &state.UpdateConfig{Order: state.OrderStartFirst}}, At: w.clk.Now()})
	w.pass(5)
	w.view(func(tx state.ReadTx) {
		if t := tx.Task(old.ID); t.DesiredRunning() {
			w.t.Errorf("the old task on the down node still wanted running after the grace:\n%+v", t)
		}
	})
}
