package orchestrate_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/orchestrate"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// countTasks returns the number of tasks of svc in the state.
func (h *harness) countTasks(svc string) int {
	n := 0
	h.c.View(func(tx state.ReadTx) { n = len(tx.Tasks(svc)) })
	return n
}

// TestLeaderChangeLateWrite: the leader dies while its CreateTasks is in
// the log; the new leader does the job again, then the old write
// commits: the FSM skips its tasks, so no slot gets a second one.
func TestLeaderChangeLateWrite(t *testing.T) {
	h := newHarness(t, 3)
	a, b := h.member(true), h.member(false)
	var armed atomic.Bool
	held, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) }) // before the harness stops its loops
	late := make(chan any, 1)
	a.intercept = func(_ context.Context, cmd state.Command) (any, error, bool) {
		if _, ok := cmd.(state.CreateTasks); !ok || !armed.CompareAndSwap(true, false) {
			return nil, nil, false
		}
		close(held)
		<-release // in the log already: it commits whatever becomes of its leader
		v, err := h.c.Propose(context.Background(), cmd)
		late <- v
		return v, err, true
	}
	h.start(a, orchestrate.Options{})
	_, regB := h.start(b, orchestrate.Options{})
	h.createService("web", nil)
	h.runs("web", 3, 1, 1)
	if n := b.proposals.Load(); n != 0 {
		t.Fatalf("the follower proposed %d writes", n)
	}
	if v := metric(t, regB, "xo_orchestrator_leader", ""); v != 0 {
		t.Fatalf("follower's xo_orchestrator_leader %v", v)
	}

	armed.Store(true)
	h.scale("web", 6)
	select {
	case <-held:
	case <-time.After(5 * time.Second):
		t.Fatal("the leader did not propose the new tasks")
	}
	a.leader.Store(false)
	b.leader.Store(true)
	h.runs("web", 6, 2, 2)

	releaseOnce.Do(func() { close(release) })
	select {
	case v := <-late:
		if v != 0 {
			t.Fatalf("the old leader's late CreateTasks created %v tasks, want 0", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the late write did not commit")
	}
	time.Sleep(50 * time.Millisecond) // a few passes of the new leader
	h.runs("web", 6, 2, 2)
	if n := h.countTasks("web"); n != 6 {
		t.Fatalf("%d tasks, want 6:\n%s", n, h.dump())
	}
}

// TestLeaderChangeBetweenWrites: the leader's CreateTasks commits, then
// it loses the lead before scheduling them; the new leader places them
// and creates none of its own.
func TestLeaderChangeBetweenWrites(t *testing.T) {
	h := newHarness(t, 3)
	a, b := h.member(true), h.member(false)
	var armed atomic.Bool
	a.intercept = func(ctx context.Context, cmd state.Command) (any, error, bool) {
		if !a.leader.Load() {
			return nil, errors.New("not the leader"), true
		}
		if _, ok := cmd.(state.CreateTasks); !ok || !armed.CompareAndSwap(true, false) {
			return nil, nil, false
		}
		v, err := h.c.Propose(ctx, cmd)
		a.leader.Store(false)
		b.leader.Store(true)
		if err == nil {
			err = errors.New("leadership lost: outcome unknown")
		}
		return v, err, true
	}
	_, regA := h.start(a, orchestrate.Options{})
	_, regB := h.start(b, orchestrate.Options{})
	h.createService("web", nil)
	h.runs("web", 3, 1, 1)

	armed.Store(true)
	h.scale("web", 6)
	h.runs("web", 6, 2, 2)
	if n := h.countTasks("web"); n != 6 {
		t.Fatalf("%d tasks, want 6:\n%s", n, h.dump())
	}
	if v := metric(t, regB, "xo_orchestrator_tasks_created_total", ""); v != 0 {
		t.Fatalf("the new leader created %v tasks, want 0: its predecessor had", v)
	}
	h.eventually("the old leader's xo_orchestrator_leader 0", func() bool {
		return metric(t, regA, "xo_orchestrator_leader", "") == 0 && metric(t, regB, "xo_orchestrator_leader", "") == 1
	})
}
