package state

import (
	"errors"
	"testing"
)

func TestUpdateTasks(t *testing.T) {
	s, f := newService(t, webSpec())
	mustApply(t, f, CreateTasks{Tasks: []Task{{ID: "t1", ServiceID: "s1", Slot: 1}}})
	steps := []struct {
		name    string
		u       TaskUpdate
		changed int
		check   func(*Task) bool
	}{
		{"unplaceable", TaskUpdate{ID: "t1", Status: &TaskStatus{State: TaskPending, Err: "no suitable node"}}, 1,
			func(t *Task) bool { return t.Status.Err == "no suitable node" }},
		{"same reason", TaskUpdate{ID: "t1", Status: &TaskStatus{State: TaskPending, Err: "no suitable node"}}, 0, nil},
		{"assigned", TaskUpdate{ID: "t1", NodeID: "n1", Status: &TaskStatus{State: TaskAssigned}}, 1,
			func(t *Task) bool { return t.NodeID == "n1" && t.Status.Err == "" }},
		{"stale decision for another node", TaskUpdate{ID: "t1", NodeID: "n2", Status: &TaskStatus{State: TaskAssigned, Message: "x"}}, 0, nil},
		{"running", TaskUpdate{ID: "t1", Status: &TaskStatus{State: TaskRunning, ContainerID: "c1"}}, 1, nil},
		{"status regression", TaskUpdate{ID: "t1", Status: &TaskStatus{State: TaskPending, Err: "late"}}, 0, nil},
		{"shutdown with a reason", TaskUpdate{ID: "t1", DesiredState: TaskShutdown, Message: "scaled down"}, 1,
			func(t *Task) bool {
				return t.DesiredState == TaskShutdown && t.Status.Message == "scaled down" && t.Status.State == TaskRunning
			}},
		{"desired regression", TaskUpdate{ID: "t1", DesiredState: TaskRunning}, 0, nil},
		{"desired remove", TaskUpdate{ID: "t1", DesiredState: TaskRemove}, 1, nil},
		{"gone", TaskUpdate{ID: "nope", DesiredState: TaskRemove}, 0, nil},
	}
	for _, st := range steps {
		if n := mustApply(t, f, UpdateTasks{Updates: []TaskUpdate{st.u}}); n != st.changed {
			t.Fatalf("%s: changed %v, want %d", st.name, n, st.changed)
		}
		s.View(func(tx ReadTx) {
			if st.check != nil && !st.check(tx.Task("t1")) {
				t.Fatalf("%s: %+v", st.name, tx.Task("t1"))
			}
		})
	}
	s.View(func(tx ReadTx) {
		if tx.Task("t1").Status.ContainerID != "c1" {
			t.Fatal("container ID lost")
		}
	})
	if _, err := apply(t, f, UpdateTasks{Updates: []TaskUpdate{{ID: "t1", DesiredState: "sleeping"}}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown state: %v", err)
	}
}

func TestSetTaskStatus(t *testing.T) {
	s, f := newService(t, webSpec())
	mustApply(t, f, CreateTasks{Tasks: []Task{{ID: "t1", ServiceID: "s1", Slot: 1}, {ID: "t2", ServiceID: "s1", Slot: 2}}})
	mustApply(t, f, UpdateTasks{Updates: []TaskUpdate{
		{ID: "t1", NodeID: "n1", Status: &TaskStatus{State: TaskAssigned}},
		{ID: "t2", NodeID: "n2", Status: &TaskStatus{State: TaskAssigned}},
	}})
	events, cancel := s.Watch()
	defer cancel()
	report := func(st ...TaskStatusUpdate) any { return mustApply(t, f, SetTaskStatus{Node: "n1", Tasks: st}) }
	running := TaskStatus{State: TaskRunning, ContainerID: "c1", Timestamp: t0}
	if n := report(TaskStatusUpdate{"t1", running}, TaskStatusUpdate{"t2", running}, TaskStatusUpdate{"gone", running}); n != 1 {
		t.Fatalf("changed %v: want 1 (t2 is on another node)", n)
	}
	if e := <-events; e != (Event{"task", "update", "t1", 0}) {
		t.Fatalf("event %+v", e)
	}
	again := running
	again.Timestamp = t0.Add(1)
	if n := report(TaskStatusUpdate{"t1", again}); n != 0 {
		t.Fatal("the same observation with a new timestamp was written")
	}
	unhealthy := TaskStatus{State: TaskFailed, Err: "unhealthy: curl: (7) connection refused", ExitCode: 0}
	report(TaskStatusUpdate{"t1", unhealthy})
	if n := report(TaskStatusUpdate{"t1", TaskStatus{State: TaskShutdown, Message: "stopped"}}); n != 0 {
		t.Fatal("failed went back to shutdown")
	}
	s.View(func(tx ReadTx) {
		t1 := tx.Task("t1")
		if t1.Status.State != TaskFailed || t1.Status.Err != unhealthy.Err || t1.Status.ContainerID != "c1" {
			t.Fatalf("%+v", t1.Status)
		}
		if len(tx.NodeTasks("n1")) != 1 || tx.NodeTasks("n1")[0].ID != "t1" {
			t.Fatal("NodeTasks")
		}
	})
	if _, err := apply(t, f, SetTaskStatus{Node: "n1", Tasks: []TaskStatusUpdate{{ID: "t1"}}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty state: %v", err)
	}
}

func TestDeleteTasks(t *testing.T) {
	s, f := newService(t, webSpec())
	mustApply(t, f, CreateTasks{Tasks: []Task{{ID: "t1", ServiceID: "s1", Slot: 1}, {ID: "t2", ServiceID: "s1", Slot: 2}}})
	mustApply(t, f, UpdateTasks{Updates: []TaskUpdate{{ID: "t2", DesiredState: TaskShutdown}}})
	if n := mustApply(t, f, DeleteTasks{IDs: []string{"t1", "t2", "t3"}}); n != 1 {
		t.Fatalf("deleted %v: want only the stopped one", n)
	}
	s.View(func(tx ReadTx) {
		if tx.Task("t1") == nil || tx.Task("t2") != nil || len(tx.Tasks("")) != 1 || len(tx.Tasks("s1")) != 1 {
			t.Fatal("wrong tasks left")
		}
	})
}
