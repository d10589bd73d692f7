package orchestrate_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xoverlay/xoverlay/orchestrator/orchestrate"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// startUnhurried runs an orchestrator over m like start, but without
// the periodic passes that would make up for a pass that missed a
// change.
func (h *harness) startUnhurried(m *member) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	o := orchestrate.New(m, slog.New(slog.NewTextHandler(io.Discard, nil)), reg, orchestrate.Options{Now: h.clock.Now,
		Period: time.Hour, LeaderPoll: 5 * time.Millisecond, Debounce: time.Millisecond})
	h.wg.Go(func() { o.Run(h.ctx) })
	return reg
}

// TestPartialPassesConverge: with no periodic pass, the passes after
// commits converge on their own, and once the leader caught up they are
// partial: scaling up and down (the tasks placed, the extra ones reaped),
// and a restart after its delay, which a pass after another service's
// commit finds due.
func TestPartialPassesConverge(t *testing.T) {
	h := newHarness(t, 3)
	reg := h.startUnhurried(h.member(true))
	h.eventually("the leader settled", func() bool {
		return metric(t, reg, "xo_orchestrator_converged_timestamp_seconds", "") > 0
	})
	full := metric(t, reg, "xo_orchestrator_passes_total", "full")
	h.createService("web", func(s *state.ServiceSpec) {
		s.RestartPolicy = state.RestartPolicy{Condition: state.RestartOnFailure, Delay: time.Minute}
	})
	h.createService("api", nil)
	h.runs("web", 3, 1, 1)
	h.runs("api", 3, 1, 1)

	h.scale("web", 6)
	h.runs("web", 6, 2, 2)
	h.scale("web", 2)
	h.runs("web", 2, 0, 1)
	h.eventually("the scaled-down tasks reaped", func() bool { return h.countTasks("web") == 2 })

	var victim *state.Task
	h.c.View(func(tx state.ReadTx) { victim = tx.Tasks("web")[0] })
	h.propose(state.SetTaskStatus{Node: victim.NodeID, Tasks: []state.TaskStatusUpdate{{ID: victim.ID,
		Status: state.TaskStatus{State: state.TaskFailed, ExitCode: 1, Timestamp: h.clock.Now()}}}})
	time.Sleep(50 * time.Millisecond) // its pass: the restart waits a minute
	h.clock.Advance(time.Minute)
	h.scale("api", 4) // the injected clock wakes no pass: a commit of another service does
	h.runs("api", 4, 1, 2)
	h.runs("web", 2, 0, 1)
	h.c.View(func(tx state.ReadTx) {
		for _, tk := range tx.Tasks("web") {
			if tk.ID != victim.ID && tk.DesiredRunning() && tk.Replaces == victim.ID {
				return
			}
		}
		t.Errorf("no replacement of the failed task %s:\n%s", victim.ID, h.dump())
	})

	if n := metric(t, reg, "xo_orchestrator_passes_total", "full") - full; n != 0 {
		t.Errorf("%v full passes after the leader caught up, want none: no node changed", n)
	}
	if n := metric(t, reg, "xo_orchestrator_passes_total", "partial"); n == 0 {
		t.Error("no partial pass")
	}
}
