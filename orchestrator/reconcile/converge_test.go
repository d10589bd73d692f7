package reconcile_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/reconcile"
	"github.com/xoverlay/xoverlay/orchestrator/scheduler"
	"github.com/xoverlay/xoverlay/orchestrator/state"
	"github.com/xoverlay/xoverlay/orchestrator/state/statetest"
)

// sim drives the reconciler, the scheduler, fake executors and a reaper
// over a real FSM until nothing changes, as the leader's loops will.
type sim struct {
	t   *testing.T
	c   *statetest.Local
	now time.Time
	ids int
}

func newSim(t *testing.T, nodes int) *sim {
	s := &sim{t: t, c: statetest.New(), now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	for i := 1; i <= nodes; i++ {
		s.propose(state.RegisterNode{Node: state.Node{ID: fmt.Sprintf("n%d", i), Hostname: fmt.Sprintf("h%d", i), Role: state.RoleManager}})
	}
	return s
}

func (s *sim) propose(cmd state.Command) any {
	s.t.Helper()
	v, err := s.c.Propose(context.Background(), cmd)
	if err != nil {
		s.t.Fatalf("%T: %v", cmd, err)
	}
	return v
}

func (s *sim) newID() string { s.ids++; return fmt.Sprintf("t%03d", s.ids) }

// plans reconciles every service from one view.
func (s *sim) plans() []reconcile.Plan {
	var out []reconcile.Plan
	s.c.View(func(tx state.ReadTx) {
		for _, svc := range tx.Services() {
			if svc.Global() {
				out = append(out, reconcile.Global(svc, tx.Tasks(svc.ID), tx.Nodes(), s.now))
			} else {
				out = append(out, reconcile.Replicated(svc, tx.Tasks(svc.ID), tx.Nodes(), s.now, reconcile.Policy{}))
			}
		}
	})
	return out
}

func (s *sim) apply(p reconcile.Plan) {
	if ts := p.Tasks(s.newID, s.now); len(ts) > 0 {
		s.propose(state.CreateTasks{Tasks: ts})
	}
	if us := p.Updates(); len(us) > 0 {
		s.propose(state.UpdateTasks{Updates: us})
	}
}

// step is one pass of every loop; it says whether anything was written.
func (s *sim) step() bool {
	s.c.TakeWrites()
	for _, p := range s.plans() {
		s.apply(p)
	}
	var ups []state.TaskUpdate
	reports := map[string][]state.TaskStatusUpdate{}
	var reap []string
	s.c.View(func(tx state.ReadTx) {
		svcs := map[string]*state.Service{}
		for _, svc := range tx.Services() {
			svcs[svc.ID] = svc
		}
		all := tx.Tasks("")
		pending := scheduler.Pending(all)
		ups = scheduler.Updates(scheduler.Schedule(pending, svcs, tx.Nodes(), all), pending, s.now)
		for _, t := range all {
			n := tx.Node(t.NodeID)
			switch {
			case n == nil || n.Status != state.StatusReady:
			case t.DesiredRunning() && t.Status.State == state.TaskAssigned:
				reports[n.ID] = append(reports[n.ID], state.TaskStatusUpdate{ID: t.ID, Status: state.TaskStatus{State: state.TaskRunning, ContainerID: "c" + t.ID, Timestamp: s.now}})
			case !t.DesiredRunning() && !t.Status.State.Terminal():
				reports[n.ID] = append(reports[n.ID], state.TaskStatusUpdate{ID: t.ID, Status: state.TaskStatus{State: state.TaskShutdown, Timestamp: s.now}})
			}
			if t.DesiredState == state.TaskRemove && (t.Status.State.Terminal() || t.Status.State.Less(state.TaskAssigned)) {
				reap = append(reap, t.ID)
			}
		}
	})
	if len(ups) > 0 {
		s.propose(state.UpdateTasks{Updates: ups})
	}
	for node, r := range reports {
		s.propose(state.SetTaskStatus{Node: node, Tasks: r})
	}
	if len(reap) > 0 {
		s.propose(state.DeleteTasks{IDs: reap})
	}
	return len(s.c.TakeWrites()) > 0
}

func (s *sim) settle() {
	s.t.Helper()
	for range 20 {
		if !s.step() {
			return
		}
	}
	s.t.Fatal("no convergence after 20 passes")
}

// running counts the containers running per node (whatever is desired)
// and checks that no slot runs twice.
func (s *sim) running(svc string) (total int, perNode map[string]int) {
	s.t.Helper()
	perNode = map[string]int{}
	slots := map[uint64]string{}
	s.c.View(func(tx state.ReadTx) {
		for _, t := range tx.Tasks(svc) {
			if t.Status.State != state.TaskRunning {
				continue
			}
			if n := tx.Node(t.NodeID); n == nil || n.Status != state.StatusReady {
				total++ // unreachable: counted, its slot may run elsewhere
				perNode[t.NodeID]++
				continue
			}
			if other, dup := slots[t.Slot]; dup && t.Slot != 0 {
				s.t.Fatalf("slot %d runs twice: %s and %s", t.Slot, other, t.ID)
			}
			slots[t.Slot] = t.ID
			perNode[t.NodeID]++
			total++
		}
	})
	return total, perNode
}

func (s *sim) scale(replicas uint64) {
	var spec state.ServiceSpec
	s.c.View(func(tx state.ReadTx) { spec = tx.Service("web").Spec })
	spec.Replicas = replicas
	s.propose(state.UpdateService{ID: "web", Spec: spec})
}

func (s *sim) want(n int, nodes ...string) {
	s.t.Helper()
	total, per := s.running("web")
	if total != n {
		s.t.Fatalf("%d tasks running (%v), want %d", total, per, n)
	}
	for _, id := range nodes {
		if per[id] == 0 {
			s.t.Fatalf("no task on %s: %v", id, per)
		}
	}
}

func TestConverge(t *testing.T) {
	s := newSim(t, 3)
	s.propose(state.CreateService{Service: state.Service{ID: "web", Spec: state.ServiceSpec{Name: "web", Image: "app", Replicas: 3}}})
	s.settle()
	s.want(3, "n1", "n2", "n3")
	s.scale(6)
	s.settle()
	s.want(6, "n1", "n2", "n3")
	s.scale(2)
	s.settle()
	s.want(2)

	// A host dies: its task runs elsewhere; when it comes back, its stale
	// container is stopped, and exactly 2 run.
	var victim string
	s.c.View(func(tx state.ReadTx) {
		for _, t := range tx.Tasks("web") {
			if t.Status.State == state.TaskRunning {
				victim = t.NodeID
			}
		}
	})
	s.propose(state.SetNodeStatus{ID: victim, Status: state.StatusDown, At: s.now})
	s.settle()
	if total, per := s.running("web"); total != 3 || per[victim] != 1 {
		t.Fatalf("while %s is down: %v (its container still runs, unreachable)", victim, per)
	}
	s.propose(state.SetNodeStatus{ID: victim, Status: state.StatusReady, At: s.now})
	s.settle()
	s.want(2)

	// A container dies: replaced.
	s.c.View(func(tx state.ReadTx) {
		for _, t := range tx.Tasks("web") {
			if t.Status.State == state.TaskRunning {
				victim = t.ID
			}
		}
	})
	var node string
	s.c.View(func(tx state.ReadTx) { node = tx.Task(victim).NodeID })
	s.propose(state.SetTaskStatus{Node: node, Tasks: []state.TaskStatusUpdate{{ID: victim, Status: state.TaskStatus{State: state.TaskFailed, ExitCode: 137, Timestamp: s.now}}}})
	s.settle()
	s.want(2)
}

// TestLeaderChangeMidReconcile: two leaders plan from the same state and
// both write; the FSM keeps one task per slot.
func TestLeaderChangeMidReconcile(t *testing.T) {
	s := newSim(t, 3)
	s.propose(state.CreateService{Service: state.Service{ID: "web", Spec: state.ServiceSpec{Name: "web", Image: "app", Replicas: 3}}})
	s.settle()
	s.scale(5)
	old, fresh := s.plans(), s.plans()
	for _, p := range old {
		s.apply(p) // the old leader's writes commit after all
	}
	for _, p := range fresh {
		s.apply(p)
	}
	s.c.View(func(tx state.ReadTx) {
		if n := len(tx.Tasks("web")); n != 5 {
			t.Fatalf("%d tasks, want 5", n)
		}
	})
	s.settle()
	s.want(5)
}

func TestConvergeGlobal(t *testing.T) {
	s := newSim(t, 2)
	s.propose(state.CreateService{Service: state.Service{ID: "web", Spec: state.ServiceSpec{Name: "web", Image: "app", Mode: state.ModeGlobal}}})
	s.settle()
	s.want(2, "n1", "n2")
	s.propose(state.RegisterNode{Node: state.Node{ID: "n3", Hostname: "h3", Role: state.RoleWorker}})
	s.settle()
	s.want(3, "n3")
	s.propose(state.UpdateNode{ID: "n1", Availability: state.AvailabilityDrain})
	s.settle()
	s.want(2, "n2", "n3")
}
