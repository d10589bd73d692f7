package executor

import (
	"testing"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// TestReplayedAssignment: an agent restarted while its replica is still
// replaying the log finds its running container's task created but not
// yet assigned. The container is not stale before the grace period, and
// once the assignment and the running status are applied it is the
// task's.
func TestReplayedAssignment(t *testing.T) {
	f := newFixture(t, webSpec())
	f.propose(state.CreateTasks{Tasks: []state.Task{{ID: "t1", ServiceID: "s1", Slot: 1, CreatedAt: t0}}})
	f.eng.add(staleContainer("c1", "t1", "n1", true))
	f.converge()
	if c := f.eng.find("c1"); c == nil || !c.state.Running || f.eng.count("stop") != 0 {
		t.Fatal("stopped the running container of a task whose assignment is not replayed yet")
	}
	f.propose(state.UpdateTasks{Updates: []state.TaskUpdate{{ID: "t1", NodeID: "n1",
		Status: &state.TaskStatus{State: state.TaskRunning, ContainerID: "c1", Timestamp: t0}}}})
	f.advance(f.ex.staleGrace)
	f.converge()
	f.status("t1", state.TaskRunning, "")
	if c := f.eng.find("c1"); c == nil || !c.state.Running || f.eng.count("stop") != 0 || f.eng.count("create") != 0 {
		t.Fatalf("after the replay: calls %v", f.eng.callLog())
	}
}
