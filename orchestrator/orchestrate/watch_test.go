package orchestrate

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/engine"
	"github.com/xoverlay/xoverlay/orchestrator/state"
	"github.com/xoverlay/xoverlay/orchestrator/state/statetest"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fedCluster is a cluster whose watch channels the test makes.
type fedCluster struct {
	leading
	next chan chan state.Event
}

func (c fedCluster) Watch() (<-chan state.Event, func()) { return <-c.next, func() {} }

// TestNoteNamesServices: each event names the services whose decisions
// it may change, and what else a partial pass must look at, or asks for
// a full pass when it cannot tell.
func TestNoteNamesServices(t *testing.T) {
	c := leading{statetest.New()}
	must(t, c, state.RegisterNode{Node: state.Node{ID: "n1", Hostname: "h1", Role: state.RoleManager}})
	must(t, c, state.CreateService{Service: state.Service{ID: "web", Spec: state.ServiceSpec{Name: "web", Image: "app", Replicas: 1}}})
	must(t, c, state.CreateTasks{Tasks: []state.Task{{ID: "t1", ServiceID: "web", Slot: 1}}})
	must(t, c, state.UpdateTasks{Updates: []state.TaskUpdate{{ID: "t1", NodeID: "n1", Status: &state.TaskStatus{State: state.TaskAssigned}}}})
	o := New(c, quiet(), nil, Options{})
	o.dirty.take() // a new orchestrator's first pass is full
	ev := func(kind, action, id string) state.Event { return state.Event{Kind: kind, Action: action, ID: id} }
	for _, tc := range []struct {
		do         func()
		event      state.Event
		lost       bool // events may have been dropped before it
		trigger    bool // it asks for a pass
		full       bool
		services   []string
		endpoints  bool
		named      bool
		unknown    bool // a task's former container is not known
		containers []string
	}{
		{event: ev("task", "update", "t1"), trigger: true, services: []string{"web"}}, // no container: it had none before
		{do: func() {
			must(t, c, state.SetTaskStatus{Node: "n1", Tasks: []state.TaskStatusUpdate{{ID: "t1",
				Status: state.TaskStatus{State: state.TaskRunning, ContainerID: "c0"}}}})
			o.dirty.mu.Lock()
			clear(o.dirty.tasks) // as if it were there before this leadership
			o.dirty.mu.Unlock()
		}, event: ev("task", "update", "t1"), trigger: true, services: []string{"web"}, unknown: true, containers: []string{"c0"}},
		{event: ev("task", "update", "t1"), trigger: true, services: []string{"web"}},
		{do: func() {
			must(t, c, state.SetTaskStatus{Node: "n1", Tasks: []state.TaskStatusUpdate{{ID: "t1",
				Status: state.TaskStatus{State: state.TaskRunning, ContainerID: "c1"}}}})
		}, event: ev("task", "update", "t1"), trigger: true, services: []string{"web"}, containers: []string{"c0", "c1"}},
		{do: func() {
			must(t, c, state.UpdateTasks{Updates: []state.TaskUpdate{{ID: "t1", DesiredState: state.TaskShutdown}}})
			must(t, c, state.DeleteTasks{IDs: []string{"t1"}})
		}, event: ev("task", "delete", "t1"), trigger: true, services: []string{"web"}, containers: []string{"c1"}},
		{do: func() { o.dirty.own("api", map[string]string{"gone": "c9"}) },
			event: ev("task", "delete", "gone"), trigger: true, services: []string{"api"}, containers: []string{"c9"}},
		{event: ev("task", "delete", "gone"), trigger: true, full: true}, // forgotten with its deletion
		{event: ev("task", "delete", "unknown"), trigger: true, full: true},
		{do: func() {
			must(t, c, state.CreateService{Service: state.Service{ID: "db", Spec: state.ServiceSpec{Name: "db", Image: "app"}}})
		}, event: ev("service", "create", "db"), trigger: true, services: []string{"db"}},
		{do: func() {
			must(t, c, state.CreateService{Service: state.Service{ID: "x", Spec: state.ServiceSpec{Name: "x"}, External: true}})
		}, event: ev("service", "create", "x"), trigger: true, services: []string{"x"}, named: true},
		{event: ev("service", "update", "web"), trigger: true, services: []string{"web"}},
		{event: ev("service", "delete", "api"), trigger: true, services: []string{"api"}, named: true},
		{event: ev("node", "update", "n1"), trigger: true, full: true},
		{event: ev("all", "restore", ""), trigger: true, full: true},
		{event: ev("network", "update", "net")},
		{event: ev("endpoint", "update", "ep"), endpoints: true},
		{event: ev("endpoint", "delete", "ep"), trigger: true, endpoints: true},
		{event: ev("something new", "", ""), full: true},
		{event: ev("network", "update", "net"), lost: true, trigger: true, full: true},
	} {
		if tc.do != nil {
			tc.do()
		}
		trigger := o.note([]state.Event{tc.event}, tc.lost)
		ch := o.dirty.take()
		services, containers := slices.Sorted(maps.Keys(ch.services)), slices.Sorted(maps.Keys(ch.containers))
		if trigger != tc.trigger || ch.full != tc.full || !slices.Equal(services, tc.services) || ch.endpoints != tc.endpoints ||
			ch.named != tc.named || ch.containersUnknown != tc.unknown || !slices.Equal(containers, tc.containers) {
			t.Errorf("%+v (lost %v): trigger %v, %+v: want trigger %v, full %v, services %v, endpoints %v, named %v, "+
				"containers %v (unknown %v)", tc.event, tc.lost, trigger, ch, tc.trigger, tc.full, tc.services, tc.endpoints,
				tc.named, tc.containers, tc.unknown)
		}
	}
}

// TestWatchSeesEveryEventOfABurst: the pass loop matches only the first
// event of a burst; the changes of the others reach the pass all the
// same.
func TestWatchSeesEveryEventOfABurst(t *testing.T) {
	c := leading{statetest.New()}
	o := New(c, quiet(), nil, Options{})
	takes := make(chan changes, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		engine.RunLoop(ctx, o.watch, nil, 20*time.Millisecond, time.Hour, func(context.Context) time.Time {
			takes <- o.dirty.take()
			return time.Time{}
		})
	}()
	defer func() { cancel(); <-done }()
	if first := <-takes; !first.full {
		t.Fatalf("first pass of a watch: %+v, want full", first)
	}
	want := []string{"a", "b", "c", "d"}
	for _, id := range want {
		must(t, c, state.CreateService{Service: state.Service{ID: id, Spec: state.ServiceSpec{Name: id, Image: "app"}}})
	}
	seen := map[string]bool{}
	timeout := time.After(5 * time.Second)
	for len(seen) < len(want) {
		select {
		case ch := <-takes:
			if ch.full {
				t.Fatalf("a burst of service commits made a full pass: %+v", ch)
			}
			maps.Copy(seen, ch.services)
		case <-timeout:
			t.Fatalf("passes saw services %v of %v", slices.Sorted(maps.Keys(seen)), want)
		}
	}
}

// TestWatchLossMakesFullPass: a watch that starts, ends, or may have
// dropped events (its buffer was full) makes the next pass a full one.
func TestWatchLossMakesFullPass(t *testing.T) {
	c := fedCluster{leading: leading{statetest.New()}, next: make(chan chan state.Event, 1)}
	o := New(c, quiet(), nil, Options{})
	o.dirty.take()
	svc := state.Event{Kind: "service", Action: "update", ID: "web"}

	src := make(chan state.Event, 4)
	src <- svc // one queued: nothing lost
	c.next <- src
	out, cancel := o.watch()
	if ch := o.dirty.take(); !ch.full {
		t.Fatalf("a new watch: %+v, want a full pass", ch)
	}
	<-out
	if ch := o.dirty.take(); ch.full || !ch.services["web"] {
		t.Fatalf("after one event: %+v, want web alone", ch)
	}
	close(src)
	if _, ok := <-out; ok {
		t.Fatal("the watch handed an event after its source closed")
	}
	if ch := o.dirty.take(); !ch.full {
		t.Fatalf("after the source closed: %+v, want a full pass", ch)
	}
	cancel()

	src = make(chan state.Event, 4)
	c.next <- src
	out, cancel = o.watch()
	cancel()
	if _, ok := <-out; ok {
		t.Fatal("the watch handed an event after it was canceled")
	}
}

// TestOverflowed: after a receive, a buffer with at most one free place
// may have dropped events.
func TestOverflowed(t *testing.T) {
	ch := make(chan state.Event, 4)
	for i := range cap(ch) {
		if got, want := overflowed(ch), i >= cap(ch)-1; got != want {
			t.Errorf("%d of %d queued: overflowed %v, want %v", i, cap(ch), got, want)
		}
		ch <- state.Event{}
	}
	if !overflowed(make(chan state.Event)) {
		t.Error("an unbuffered channel tells nothing: want overflowed")
	}
}

// TestPeriodicPassesAreFull: the pass loop's periodic passes are full,
// as they were before; a full pass a little before a tick stands for
// it, and the passes between ticks are partial.
func TestPeriodicPassesAreFull(t *testing.T) {
	o := New(leading{statetest.New()}, quiet(), nil, Options{Period: 10 * time.Second})
	o.dirty.take()
	o.settled = true
	base := time.Now()
	o.mem.nextTick = base.Add(10 * time.Second)
	for _, step := range []struct {
		at       time.Duration
		node     bool // a node changed before the pass
		full     bool
		nextTick time.Duration
	}{
		{at: time.Second, nextTick: 10 * time.Second},
		{at: 9500 * time.Millisecond, full: true, nextTick: 20 * time.Second}, // the tick's, a little early
		{at: 10200 * time.Millisecond, nextTick: 20 * time.Second},            // the tick: done already
		{at: 15 * time.Second, node: true, full: true, nextTick: 20 * time.Second},
		{at: 20 * time.Second, full: true, nextTick: 30 * time.Second},
		{at: 45 * time.Second, full: true, nextTick: 50 * time.Second}, // ticks missed while busy
		{at: 46 * time.Second, nextTick: 50 * time.Second},
	} {
		if step.node {
			o.note([]state.Event{{Kind: "node", Action: "update", ID: "n1"}}, false)
		}
		sc := o.scope(base.Add(step.at), time.Now())
		if sc.full != step.full || !o.mem.nextTick.Equal(base.Add(step.nextTick)) {
			t.Errorf("pass at %v: full %v, next tick %v: want %v, %v", step.at, sc.full, o.mem.nextTick.Sub(base),
				step.full, step.nextTick)
		}
	}
}
