package orchestrate_test

import (
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/orchestrate"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

func TestReplicatedScale(t *testing.T) {
	h := newHarness(t, 3)
	_, reg := h.start(h.member(true), orchestrate.Options{})
	h.createService("web", nil)
	h.runs("web", 3, 1, 1)

	h.scale("web", 6)
	h.runs("web", 6, 2, 2)

	h.scale("web", 2)
	h.runs("web", 2, 0, 1)
	h.eventually("the scaled-down tasks reaped", func() bool {
		n := 0
		h.c.View(func(tx state.ReadTx) { n = len(tx.Tasks("web")) })
		return n == 2
	})
	created := metric(t, reg, "xo_orchestrator_tasks_created_total", "")
	removed := metric(t, reg, "xo_orchestrator_tasks_stopped_total", "remove")
	if leader := metric(t, reg, "xo_orchestrator_leader", ""); created != 6 || removed != 4 || leader != 1 {
		t.Fatalf("metrics: %v created, %v removed, leader %v: want 6, 4, 1", created, removed, leader)
	}
}

func TestGlobalService(t *testing.T) {
	h := newHarness(t, 3)
	h.start(h.member(true), orchestrate.Options{})
	h.createService("agent", func(s *state.ServiceSpec) { s.Mode, s.Replicas = state.ModeGlobal, 0 })
	h.runs("agent", 3, 1, 1)

	h.addNode("n4")
	h.runs("agent", 4, 1, 1)
}

func TestRestartAfterDelay(t *testing.T) {
	h := newHarness(t, 3)
	h.start(h.member(true), orchestrate.Options{})
	h.createService("web", func(s *state.ServiceSpec) {
		s.Replicas = 1
		s.RestartPolicy = state.RestartPolicy{Condition: state.RestartOnFailure, Delay: time.Minute}
	})
	h.runs("web", 1, 0, 1)
	var victim *state.Task
	h.c.View(func(tx state.ReadTx) { victim = tx.Tasks("web")[0] })
	h.propose(state.SetTaskStatus{Node: victim.NodeID, Tasks: []state.TaskStatusUpdate{{ID: victim.ID,
		Status: state.TaskStatus{State: state.TaskFailed, ExitCode: 1, Timestamp: h.clock.Now()}}}})

	time.Sleep(150 * time.Millisecond) // several passes, within the delay on the injected clock
	h.clock.Advance(59 * time.Second)
	time.Sleep(100 * time.Millisecond)
	h.c.View(func(tx state.ReadTx) {
		if n := len(tx.Tasks("web")); n != 1 {
			t.Fatalf("%d tasks before the restart delay ended, want the failed one alone:\n%s", n, h.dump())
		}
	})

	h.clock.Advance(time.Second)
	h.runs("web", 1, 0, 1)
	h.c.View(func(tx state.ReadTx) {
		for _, tk := range tx.Tasks("web") {
			switch {
			case tk.ID == victim.ID && tk.DesiredState != state.TaskShutdown:
				t.Errorf("failed task wanted %s, want shutdown once replaced", tk.DesiredState)
			case tk.ID != victim.ID && (tk.Replaces != victim.ID || tk.Attempt != 1 || !tk.CreatedAt.Equal(t0.Add(time.Minute))):
				t.Errorf("replacement %+v: want attempt 1 replacing %s, made when the delay ended", tk, victim.ID)
			}
		}
	})
}

func TestNodeDownAndBack(t *testing.T) {
	h := newHarness(t, 3)
	h.start(h.member(true), orchestrate.Options{})
	h.createService("web", nil)
	h.runs("web", 3, 1, 1)

	h.dead.Store("n1", true)
	h.propose(state.SetNodeStatus{ID: "n1", Status: state.StatusDown, Msg: "no heartbeat", At: h.clock.Now()})
	h.eventually("n1's task replaced on n2 or n3", func() bool {
		total, per, slots := h.running("web")
		return total == 3 && slots == 3 && per["n2"]+per["n3"] == 3
	})

	h.dead.Delete("n1")
	h.propose(state.SetNodeStatus{ID: "n1", Status: state.StatusReady, At: h.clock.Now()})
	h.runs("web", 3, 0, 2)
	h.c.View(func(tx state.ReadTx) {
		for _, tk := range tx.NodeTasks("n1") {
			if tk.Status.State == state.TaskRunning {
				t.Fatalf("n1 still runs %s after coming back:\n%s", tk.ID, h.dump())
			}
		}
	})
}

func TestUnplaceableTaskShowsReason(t *testing.T) {
	h := newHarness(t, 3)
	_, reg := h.start(h.member(true), orchestrate.Options{})
	h.createService("db", func(s *state.ServiceSpec) {
		s.Replicas = 1
		s.Constraints = []string{"node.labels.ssd==true"}
	})
	const want = "no suitable node: constraint node.labels.ssd==true matched 0 of 3 nodes"
	h.eventually("the task pending with the scheduler's reason", func() bool {
		ok := false
		h.c.View(func(tx state.ReadTx) {
			ts := tx.Tasks("db")
			ok = len(ts) == 1 && ts[0].Status.State == state.TaskPending && ts[0].Status.Err == want
		})
		return ok
	})
	h.eventually("xo_orchestrator_unschedulable_tasks 1", func() bool { return metric(t, reg, "xo_orchestrator_unschedulable_tasks", "") == 1 })

	h.propose(state.UpdateNode{ID: "n2", LabelsAdd: map[string]string{"ssd": "true"}})
	h.runs("db", 1, 0, 1)
	if _, per, _ := h.running("db"); per["n2"] != 1 {
		t.Fatalf("running on %v, want n2", per)
	}
	h.eventually("xo_orchestrator_unschedulable_tasks 0", func() bool { return metric(t, reg, "xo_orchestrator_unschedulable_tasks", "") == 0 })
}
