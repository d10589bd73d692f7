package orchestrate_test

import (
	"testing"

	"github.com/xoverlay/xoverlay/orchestrator/orchestrate"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// TestConvergedAfterLeaderChange: a new leader marks the first pass that
// found nothing left to create or place, not its first pass.
func TestConvergedAfterLeaderChange(t *testing.T) {
	h := newHarness(t, 3)
	a, b := h.member(true), h.member(false)
	_, regA := h.start(a, orchestrate.Options{})
	_, regB := h.start(b, orchestrate.Options{})
	h.createService("web", nil)
	h.runs("web", 3, 1, 1)
	h.eventually("the first leader converged", func() bool {
		return metric(t, regA, "xo_orchestrator_converged_timestamp_seconds", "") > 0
	})
	if v := metric(t, regB, "xo_orchestrator_leader_since_timestamp_seconds", ""); v != 0 {
		t.Fatalf("a follower's leader_since is %v", v)
	}

	a.leader.Store(false)
	h.eventually("the old leader stepped down", func() bool {
		return metric(t, regA, "xo_orchestrator_leader_since_timestamp_seconds", "") == 0 &&
			metric(t, regA, "xo_orchestrator_converged_timestamp_seconds", "") == 0
	})
	h.scale("web", 6) // while nobody leads: the new leader has tasks to create
	b.leader.Store(true)
	h.eventually("the new leader converged", func() bool {
		return metric(t, regB, "xo_orchestrator_converged_timestamp_seconds", "") > 0
	})
	live, placed := 0, 0
	h.c.View(func(tx state.ReadTx) {
		for _, tk := range tx.Tasks("web") {
			if tk.DesiredRunning() {
				live++
				if !tk.Status.State.Less(state.TaskAssigned) {
					placed++
				}
			}
		}
	})
	if live != 6 || placed != 6 {
		t.Fatalf("converged with %d tasks wanted running, %d of them placed; want 6 and 6:\n%s", live, placed, h.dump())
	}
	since := metric(t, regB, "xo_orchestrator_leader_since_timestamp_seconds", "")
	if conv := metric(t, regB, "xo_orchestrator_converged_timestamp_seconds", ""); since == 0 || conv < since {
		t.Fatalf("leader since %v, converged at %v", since, conv)
	}
}
