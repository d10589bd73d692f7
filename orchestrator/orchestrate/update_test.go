package orchestrate_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/engine"
	"github.com/xoverlay/xoverlay/orchestrator/orchestrate"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// drainer is a Drainer that records its calls and checks that the tasks
// it gets are still meant to run (drained before they are stopped).
type drainer struct {
	h     *harness
	mu    sync.Mutex
	calls [][]string
}

func (d *drainer) Drain(ctx context.Context, tasks []*state.Task) error {
	var ids []string
	for _, t := range tasks {
		ids = append(ids, t.ID)
		d.h.c.View(func(tx state.ReadTx) {
			if cur := tx.Task(t.ID); cur == nil || !cur.DesiredRunning() {
				d.h.t.Errorf("task %s drained after its stop", t.ID)
			}
		})
	}
	d.mu.Lock()
	d.calls = append(d.calls, ids)
	d.mu.Unlock()
	_, err := d.h.c.Propose(ctx, state.DrainTasks{IDs: ids})
	return err
}

func (d *drainer) drained() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, c := range d.calls {
		n += len(c)
	}
	return n
}

// floor is a member that checks, after each write it proposes, that at
// least min tasks of svc serve: running, meant to run, not drained.
func (h *harness) floor(m *member, svc string, min int) {
	var armed sync.Once
	started := false
	m.intercept = func(ctx context.Context, cmd state.Command) (any, error, bool) {
		v, err := h.c.Propose(ctx, cmd)
		n := h.serving(svc)
		if n >= min {
			armed.Do(func() { started = true })
		}
		if started && n < min {
			h.t.Errorf("after %T: %d tasks of %s serve, want at least %d\n%s", cmd, n, svc, min, h.dump())
		}
		return v, err, true
	}
}

func (h *harness) serving(svc string) int {
	n := 0
	h.c.View(func(tx state.ReadTx) {
		for _, t := range tx.Tasks(svc) {
			if t.DesiredRunning() && !t.Draining && t.Status.State == state.TaskRunning {
				n++
			}
		}
	})
	return n
}

// update changes svc's spec and returns its new digest.
func (h *harness) update(svc string, edit func(*state.ServiceSpec)) string {
	h.t.Helper()
	var spec state.ServiceSpec
	h.c.View(func(tx state.ReadTx) { spec = tx.Service(svc).Spec })
	edit(&spec)
	h.propose(state.UpdateService{ID: svc, Spec: spec, At: h.clock.Now()})
	var digest string
	h.c.View(func(tx state.ReadTx) { digest = tx.Service(svc).SpecDigest })
	return digest
}

// settles waits until svc runs n tasks of its spec and its update
// status is want, moving the clock on (monitor windows) meanwhile.
func (h *harness) settles(svc string, n int, want state.UpdateState) *state.Service {
	h.t.Helper()
	var got *state.Service
	h.eventually(fmt.Sprintf("%d up-to-date tasks of %s and update status %s", n, svc, want), func() bool {
		h.clock.Advance(time.Second)
		up := 0
		h.c.View(func(tx state.ReadTx) {
			got = tx.Service(svc)
			for _, t := range tx.Tasks(svc) {
				if t.DesiredRunning() && t.Status.State == state.TaskRunning && !got.Outdated(t) {
					up++
				}
			}
		})
		return up == n && h.live(svc) == n && got.UpdateStatus != nil && got.UpdateStatus.State == want
	})
	return got
}

func TestRollingUpdateStopFirst(t *testing.T) {
	h := newHarness(t, 3)
	m := h.member(true)
	h.floor(m, "web", 2) // stop-first, one at a time: one task of 3 down at most
	d := &drainer{h: h}
	h.start(m, orchestrate.Options{Drainer: d})
	h.createService("web", func(s *state.ServiceSpec) {
		s.UpdateConfig = &state.UpdateConfig{Parallelism: 1, Monitor: 2 * time.Second}
	})
	h.runs("web", 3, 1, 1)
	h.update("web", func(s *state.ServiceSpec) { s.Image = "app:2" })
	svc := h.settles("web", 3, state.UpdateCompleted)
	if svc.UpdateStatus.Message != "update completed" || svc.UpdateStatus.CompletedAt.IsZero() {
		t.Fatalf("status %+v", svc.UpdateStatus)
	}
	if d.drained() != 3 {
		t.Fatalf("drained %v, want each old task once", d.calls)
	}
	h.c.View(func(tx state.ReadTx) {
		for _, tk := range tx.Tasks("web") {
			if svc.Outdated(tk) && tk.DesiredState != state.TaskShutdown {
				t.Errorf("old task %s: desired %s", tk.ID, tk.DesiredState)
			}
		}
	})
}

func TestRollingUpdateStartFirstAllAtOnce(t *testing.T) {
	h := newHarness(t, 3)
	m := h.member(true)
	h.floor(m, "web", 3) // start-first: never fewer than 3 serving
	d := &drainer{h: h}
	h.start(m, orchestrate.Options{Drainer: d})
	h.createService("web", func(s *state.ServiceSpec) {
		s.UpdateConfig = &state.UpdateConfig{Parallelism: 0, Order: state.OrderStartFirst, Monitor: time.Second}
	})
	h.runs("web", 3, 1, 1)
	h.update("web", func(s *state.ServiceSpec) { s.Env = []string{"V=2"} })
	h.settles("web", 3, state.UpdateCompleted)
	if d.drained() != 3 {
		t.Fatalf("drained %v", d.calls)
	}
}

// health plays the engines' health checks for the tasks on network
// "net" (which it creates on n1..n3): each running task gets an
// endpoint, healthy unless its spec has env FAIL=1; those turn unhealthy
// and are reported failed, as the executor does. They never serve.
func (h *harness) health() {
	h.propose(state.CreateNetwork{ID: "net", Subnet: "10.9.0.0/24", CreatedAt: t0})
	h.propose(state.SetGateway{NetworkID: "net"})
	for i := 1; i <= 3; i++ {
		h.propose(state.AttachEngine{NetworkID: "net", Node: fmt.Sprintf("n%d", i), EngineID: fmt.Sprintf("e%d", i)})
	}
	h.propose(state.RenameNetwork{NetworkID: "net", Name: "net"})
	ip := 1
	h.wg.Go(func() {
		engine.RunLoop(h.ctx, h.c.Watch, nil, time.Millisecond, 20*time.Millisecond, func(context.Context) time.Time {
			var cmds []state.Command
			h.c.View(func(tx state.ReadTx) {
				for _, t := range tx.Tasks("") {
					svc := tx.Service(t.ServiceID)
					if svc == nil || t.Status.State != state.TaskRunning || !t.DesiredRunning() || tx.Endpoint("ep-"+t.ID) != nil {
						continue
					}
					ip++
					sick := strings.Contains(strings.Join(svc.TaskSpec(t).Env, " "), "FAIL=1")
					health := state.HealthHealthy
					if sick {
						health = state.HealthUnhealthy
					}
					cmds = append(cmds,
						state.CreateEndpoint{Endpoint: state.Endpoint{ID: "ep-" + t.ID, NetworkID: "net", Node: t.NodeID,
							IP: fmt.Sprintf("10.9.0.%d", ip)}},
						state.SetEndpointStatus{Endpoints: []state.EndpointUpdate{{ID: "ep-" + t.ID, ContainerID: "c" + t.ID,
							Status: state.EndpointStatus{Running: true, Health: health, Service: svc.Name, Task: t.ID}}}})
					if sick {
						cmds = append(cmds, state.SetTaskStatus{Node: t.NodeID, Tasks: []state.TaskStatusUpdate{{ID: t.ID,
							Status: state.TaskStatus{State: state.TaskFailed, Err: "unhealthy: /healthz said 500", Timestamp: h.clock.Now()}}}})
					}
				}
			})
			for _, c := range cmds {
				if _, err := h.c.Propose(h.ctx, c); err != nil && h.ctx.Err() == nil {
					h.t.Errorf("health: %T: %v", c, err)
				}
			}
			return time.Time{}
		})
	})
}

func TestRollingUpdateFailureRollsBack(t *testing.T) {
	for _, order := range []string{state.OrderStopFirst, state.OrderStartFirst} {
		t.Run(order, func(t *testing.T) {
			h := newHarness(t, 3)
			m := h.member(true)
			if order == state.OrderStartFirst {
				h.floor(m, "web", 3)
			}
			h.start(m, orchestrate.Options{DrainDelay: 5 * time.Millisecond}) // the state drainer
			h.health()
			h.createService("web", func(s *state.ServiceSpec) {
				s.Networks = []state.NetworkAttachment{{Target: "net"}}
				s.UpdateConfig = &state.UpdateConfig{Parallelism: 1, Order: order, FailureAction: state.FailureRollback}
				s.RollbackConfig = &state.UpdateConfig{Parallelism: 0, Order: order, Monitor: time.Second}
			})
			h.runs("web", 3, 1, 1)
			var before string
			h.c.View(func(tx state.ReadTx) { before = tx.Service("web").SpecDigest })
			h.update("web", func(s *state.ServiceSpec) { s.Env = []string{"FAIL=1"} })
			svc := h.settles("web", 3, state.UpdateRollbackCompleted)
			msg := svc.UpdateStatus.Message
			if svc.SpecDigest != before || !strings.HasPrefix(msg, "rolled back: update to version 2 failed: task web.1.") ||
				!strings.Contains(msg, "unhealthy: /healthz said 500") {
				t.Fatalf("rolled back to digest %s (before %s), status %+v", svc.SpecDigest, before, svc.UpdateStatus)
			}
			if order == state.OrderStartFirst { // the old tasks never left
				h.c.View(func(tx state.ReadTx) {
					for _, tk := range tx.Tasks("web") {
						if tk.Slot != 1 && tk.DesiredState != state.TaskRunning {
							t.Errorf("slot %d task %s stopped", tk.Slot, tk.ID)
						}
					}
				})
			}
		})
	}
}

func TestRollingUpdatePauseThenManualRollback(t *testing.T) {
	h := newHarness(t, 3)
	m := h.member(true)
	h.start(m, orchestrate.Options{DrainDelay: time.Millisecond})
	h.health()
	h.createService("web", func(s *state.ServiceSpec) {
		s.Networks = []state.NetworkAttachment{{Target: "net"}}
		s.UpdateConfig = &state.UpdateConfig{Parallelism: 1, Monitor: time.Second} // pause on failure
	})
	h.runs("web", 3, 1, 1)
	h.update("web", func(s *state.ServiceSpec) { s.Env = []string{"FAIL=1"} })
	h.eventually("the update paused", func() bool {
		paused := false
		h.c.View(func(tx state.ReadTx) {
			st := tx.Service("web").UpdateStatus
			paused = st != nil && st.State == state.UpdatePaused && strings.Contains(st.Message, "unhealthy")
		})
		return paused
	})
	h.c.View(func(tx state.ReadTx) { // slots 2 and 3 were not touched
		svc := tx.Service("web")
		for _, tk := range tx.Tasks("web") {
			if tk.Slot != 1 && (!svc.Outdated(tk) || tk.DesiredState != state.TaskRunning) {
				t.Errorf("paused, yet task %s of slot %d was updated\n%s", tk.ID, tk.Slot, h.dump())
			}
		}
	})
	h.propose(state.RollbackService{ID: "web", At: h.clock.Now()})
	svc := h.settles("web", 3, state.UpdateRollbackCompleted)
	if svc.UpdateStatus.Message != "rolled back: rollback requested" || len(svc.Spec.Env) != 0 {
		t.Fatalf("status %+v, env %v", svc.UpdateStatus, svc.Spec.Env)
	}
}

func TestRollingUpdateGlobalForce(t *testing.T) {
	h := newHarness(t, 3)
	m := h.member(true)
	h.floor(m, "mon", 3)
	h.start(m, orchestrate.Options{DrainDelay: time.Millisecond})
	h.createService("mon", func(s *state.ServiceSpec) {
		s.Mode, s.Replicas = state.ModeGlobal, 0
		s.UpdateConfig = &state.UpdateConfig{Parallelism: 2, Order: state.OrderStartFirst, Monitor: time.Second}
	})
	h.runs("mon", 3, 1, 1)
	h.propose(state.UpdateService{ID: "mon", Force: true, At: h.clock.Now(), Spec: func() (s state.ServiceSpec) {
		h.c.View(func(tx state.ReadTx) { s = tx.Service("mon").Spec })
		return s
	}()})
	svc := h.settles("mon", 3, state.UpdateCompleted)
	if svc.Spec.ForceUpdate != 1 {
		t.Fatalf("force update %d", svc.Spec.ForceUpdate)
	}
	h.runs("mon", 3, 1, 1)
}
