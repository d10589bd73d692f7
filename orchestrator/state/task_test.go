package state

import (
	"errors"
	"testing"
)

func TestTaskStates(t *testing.T) {
	for i := 1; i < len(taskStates); i++ {
		if !taskStates[i-1].Less(taskStates[i]) || taskStates[i].Less(taskStates[i-1]) {
			t.Fatalf("%s !< %s", taskStates[i-1], taskStates[i])
		}
	}
	for _, s := range []TaskState{TaskNew, TaskPending, TaskAssigned, TaskStarting, TaskRunning} {
		if s.Terminal() {
			t.Errorf("%s terminal", s)
		}
	}
	for _, s := range []TaskState{TaskComplete, TaskShutdown, TaskFailed, TaskRejected, TaskRemove, TaskOrphaned} {
		if !s.Terminal() {
			t.Errorf("%s not terminal", s)
		}
	}
	if TaskState("sleeping").Valid() || !TaskOrphaned.Valid() {
		t.Fatal("Valid")
	}
}

func TestTaskName(t *testing.T) {
	if got := TaskName("web", &Task{ID: "abc", Slot: 2}); got != "web.2.abc" {
		t.Fatal(got)
	}
	if got := TaskName("agent", &Task{ID: "abc", NodeID: "n1"}); got != "agent.n1.abc" {
		t.Fatal(got)
	}
}

func TestHoldsNode(t *testing.T) {
	cases := []struct {
		t    Task
		want bool
	}{
		{Task{NodeID: "n1", DesiredState: TaskRunning, Status: TaskStatus{State: TaskPending}}, false}, // global, not yet placed
		{Task{NodeID: "n1", DesiredState: TaskRunning, Status: TaskStatus{State: TaskAssigned}}, true},
		{Task{NodeID: "n1", DesiredState: TaskRunning, Status: TaskStatus{State: TaskFailed}}, false},  // awaiting its replacement: no container
		{Task{NodeID: "n1", DesiredState: TaskShutdown, Status: TaskStatus{State: TaskRunning}}, true}, // being stopped
		{Task{NodeID: "n1", DesiredState: TaskShutdown, Status: TaskStatus{State: TaskShutdown}}, false},
		{Task{DesiredState: TaskRunning, Status: TaskStatus{State: TaskRunning}}, false},
	}
	for _, c := range cases {
		if got := c.t.HoldsNode(); got != c.want {
			t.Errorf("%+v: HoldsNode %v, want %v", c.t, got, c.want)
		}
	}
}

func TestCreateTasks(t *testing.T) {
	s, f := newService(t, webSpec())
	spec := webSpec()
	spec.StopGracePeriod = 7
	mustApply(t, f, UpdateService{ID: "s1", Spec: spec})
	n := mustApply(t, f, CreateTasks{Tasks: []Task{
		{ID: "t1", ServiceID: "s1", Slot: 1, CreatedAt: t0},
		{ID: "t1", ServiceID: "s1", Slot: 1, CreatedAt: t0},   // the same task twice
		{ID: "t2", ServiceID: "s1", Slot: 1},                  // a second task in a live slot
		{ID: "t3", ServiceID: "gone", Slot: 1},                // its service was removed
		{ID: "t4", ServiceID: "s1", Slot: 2, Replaces: "old"}, // replaces no live task
	}})
	if n != 1 {
		t.Fatalf("created %v, want 1", n)
	}
	s.View(func(tx ReadTx) {
		t1 := tx.Task("t1")
		if t1.SpecVersion != 2 || t1.StopGracePeriod != 7 || t1.DesiredState != TaskRunning || t1.Status.State != TaskPending {
			t.Fatalf("stamped %+v", t1)
		}
	})
	for _, bad := range []Task{
		{ServiceID: "s1", Slot: 3},
		{ID: "x", ServiceID: "s1"}, // replicated without slot
		{ID: "x", ServiceID: "s1", Slot: 3, DesiredState: TaskShutdown},
		{ID: "x", ServiceID: "s1", Slot: 3, Status: TaskStatus{State: TaskRunning}},
	} {
		if _, err := apply(t, f, CreateTasks{Tasks: []Task{{ID: "ok", ServiceID: "s1", Slot: 5}, bad}}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: err = %v", bad, err)
		}
	}
	if _, tasks := s.ServiceCounts(); tasks != 1 {
		t.Fatal("a refused batch stored tasks")
	}
}

// TestCreateTasksNoDuplicates: two leaders planning from the same state
// never both add a task to a slot (or node).
func TestCreateTasksNoDuplicates(t *testing.T) {
	_, f := newService(t, webSpec())
	mustApply(t, f, CreateTasks{Tasks: []Task{{ID: "a", ServiceID: "s1", Slot: 1}}})
	mustApply(t, f, UpdateTasks{Updates: []TaskUpdate{{ID: "a", NodeID: "n1", Status: &TaskStatus{State: TaskFailed}}}})
	// Restart: both leaders replace a; the second is refused.
	if n := mustApply(t, f, CreateTasks{Tasks: []Task{{ID: "b", ServiceID: "s1", Slot: 1, Replaces: "a"}}}); n != 1 {
		t.Fatal("replacement refused")
	}
	if n := mustApply(t, f, CreateTasks{Tasks: []Task{{ID: "c", ServiceID: "s1", Slot: 1, Replaces: "a"}}}); n != 0 {
		t.Fatal("second replacement of a accepted")
	}
	// a still live (start-first) while b's own replacement is made.
	if n := mustApply(t, f, CreateTasks{Tasks: []Task{{ID: "d", ServiceID: "s1", Slot: 1, Replaces: "b"}}}); n != 1 {
		t.Fatal("replacement of the newest task refused while an older one awaits its stop")
	}
	// A stale replacement of a task no longer live.
	mustApply(t, f, UpdateTasks{Updates: []TaskUpdate{{ID: "a", DesiredState: TaskShutdown}}})
	if n := mustApply(t, f, CreateTasks{Tasks: []Task{{ID: "e", ServiceID: "s1", Slot: 1, Replaces: "a"}}}); n != 0 {
		t.Fatal("replacement of a stopped task accepted")
	}

	_, gf := newNet(t, "10.1.0.0/24", "")
	mustApply(t, gf, CreateService{Service: Service{ID: "g", Spec: ServiceSpec{Name: "agent", Image: "x", Mode: ModeGlobal}}})
	if n := mustApply(t, gf, CreateTasks{Tasks: []Task{
		{ID: "g1", ServiceID: "g", NodeID: "n1"}, {ID: "g2", ServiceID: "g", NodeID: "n1"}, {ID: "g3", ServiceID: "g", NodeID: "n2"},
	}}); n != 2 {
		t.Fatalf("global: created %v, want one per node", n)
	}
	if _, err := apply(t, gf, CreateTasks{Tasks: []Task{{ID: "g4", ServiceID: "g", Slot: 1}}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("global task without node: %v", err)
	}
}
