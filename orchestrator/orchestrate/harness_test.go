package orchestrate_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xoverlay/xoverlay/orchestrator/engine"
	"github.com/xoverlay/xoverlay/orchestrator/orchestrate"
	"github.com/xoverlay/xoverlay/orchestrator/state"
	"github.com/xoverlay/xoverlay/orchestrator/state/statetest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is the injected clock: it moves only when a test says so.
type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// member is one agent's access to the shared in-process cluster, with a
// leadership switch. intercept, when set, sees each proposal first and
// may answer it instead of the FSM.
type member struct {
	*statetest.Local
	leader    atomic.Bool
	proposals atomic.Int64
	intercept func(ctx context.Context, cmd state.Command) (v any, err error, handled bool)
}

func (m *member) IsLeader() bool { return m.leader.Load() }

func (m *member) Propose(ctx context.Context, cmd state.Command) (any, error) {
	m.proposals.Add(1)
	if m.intercept != nil {
		if v, err, ok := m.intercept(ctx, cmd); ok {
			return v, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return m.Local.Propose(ctx, cmd)
}

// harness is a cluster of nodes n1..nN in one store, a fake executor per
// node, and the orchestrators a test starts.
type harness struct {
	t     *testing.T
	c     *statetest.Local
	clock *clock
	ctx   context.Context
	wg    sync.WaitGroup
	dead  sync.Map // node ID -> true: its executor does nothing (a dead host)
}

func newHarness(t *testing.T, nodes int) *harness {
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, c: statetest.New(), clock: &clock{}, ctx: ctx}
	h.clock.ns.Store(t0.UnixNano())
	t.Cleanup(func() { cancel(); h.wg.Wait() })
	for i := 1; i <= nodes; i++ {
		h.addNode(fmt.Sprintf("n%d", i))
	}
	h.wg.Go(func() {
		engine.RunLoop(ctx, h.c.Watch, nil, time.Millisecond, 20*time.Millisecond, func(context.Context) time.Time {
			h.execute()
			return time.Time{}
		})
	})
	return h
}

func (h *harness) addNode(id string) {
	h.propose(state.RegisterNode{Node: state.Node{ID: id, Hostname: "h" + strings.TrimPrefix(id, "n"), Role: state.RoleManager}})
}

// member returns a new member of the cluster, leading or not.
func (h *harness) member(leader bool) *member {
	m := &member{Local: h.c}
	m.leader.Store(leader)
	return m
}

// start runs an orchestrator over m until the test ends; its clock is
// the harness's, its loops fast.
func (h *harness) start(m *member, opts orchestrate.Options) (*orchestrate.Orchestrator, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	opts.Now = h.clock.Now
	opts.Period = 20 * time.Millisecond
	opts.LeaderPoll = 5 * time.Millisecond
	opts.Debounce = time.Millisecond
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{h.t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	o := orchestrate.New(m, log, reg, opts)
	h.wg.Go(func() { o.Run(h.ctx) })
	return o, reg
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (h *harness) propose(cmd state.Command) {
	h.t.Helper()
	if _, err := h.c.Propose(h.ctx, cmd); err != nil {
		h.t.Fatalf("%T: %v", cmd, err)
	}
}

// execute is every live node's executor: assigned tasks start, tasks
// wanted stopped stop. A node that is down, or dead, does nothing.
func (h *harness) execute() {
	reports := map[string][]state.TaskStatusUpdate{}
	h.c.View(func(tx state.ReadTx) {
		for _, t := range tx.Tasks("") {
			n := tx.Node(t.NodeID)
			if _, dead := h.dead.Load(t.NodeID); n == nil || dead || n.Status != state.StatusReady {
				continue
			}
			st := state.TaskStatus{Timestamp: h.clock.Now()}
			switch {
			case t.DesiredRunning() && t.Status.State == state.TaskAssigned:
				st.State, st.ContainerID = state.TaskRunning, "c"+t.ID
			case !t.DesiredRunning() && !t.Status.State.Terminal() && !t.Status.State.Less(state.TaskAssigned):
				st.State = state.TaskShutdown
			default:
				continue
			}
			reports[n.ID] = append(reports[n.ID], state.TaskStatusUpdate{ID: t.ID, Status: st})
		}
	})
	for node, r := range reports {
		if _, err := h.c.Propose(h.ctx, state.SetTaskStatus{Node: node, Tasks: r}); err != nil && h.ctx.Err() == nil {
			h.t.Errorf("executor of %s: %v", node, err)
		}
	}
}

// eventually waits up to 5 seconds for cond, then fails with the tasks.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; tasks:\n%s", what, h.dump())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) dump() string {
	var b strings.Builder
	h.c.View(func(tx state.ReadTx) {
		for _, t := range tx.Tasks("") {
			fmt.Fprintf(&b, "  %s svc=%s slot=%d node=%s desired=%s state=%s err=%q msg=%q replaces=%s\n", t.ID, t.ServiceID,
				t.Slot, t.NodeID, t.DesiredState, t.Status.State, t.Status.Err, t.Status.Message, t.Replaces)
		}
	})
	return b.String()
}

// running returns the tasks of svc running on nodes that are ready, per
// node, and the number of slots (or global nodes) they run.
func (h *harness) running(svc string) (total int, perNode map[string]int, slots int) {
	perNode = map[string]int{}
	seen := map[string]bool{}
	h.c.View(func(tx state.ReadTx) {
		for _, t := range tx.Tasks(svc) {
			if n := tx.Node(t.NodeID); t.Status.State != state.TaskRunning || n == nil || n.Status != state.StatusReady {
				continue
			}
			key := fmt.Sprint(t.Slot)
			if t.Slot == 0 {
				key = "node " + t.NodeID
			}
			seen[key] = true
			perNode[t.NodeID]++
			total++
		}
	})
	return total, perNode, len(seen)
}

// runs waits until svc runs n tasks on ready nodes, each in its own
// slot, at least lo and at most hi per node, with no other task of it
// wanted running.
func (h *harness) runs(svc string, n, lo, hi int) {
	h.t.Helper()
	h.eventually(fmt.Sprintf("%d tasks of %s running, %d to %d per node", n, svc, lo, hi), func() bool {
		total, per, slots := h.running(svc)
		if total != n || slots != n || h.live(svc) != n {
			return false
		}
		var nodes int
		h.c.View(func(tx state.ReadTx) { nodes = len(tx.Nodes()) })
		for i := 1; i <= nodes; i++ {
			if c := per[fmt.Sprintf("n%d", i)]; c < lo || c > hi {
				return false
			}
		}
		return true
	})
}

// live counts the tasks of svc wanted running.
func (h *harness) live(svc string) int {
	n := 0
	h.c.View(func(tx state.ReadTx) {
		for _, t := range tx.Tasks(svc) {
			if t.DesiredRunning() {
				n++
			}
		}
	})
	return n
}

func (h *harness) scale(svc string, replicas uint64) {
	h.t.Helper()
	var spec state.ServiceSpec
	h.c.View(func(tx state.ReadTx) { spec = tx.Service(svc).Spec })
	spec.Replicas = replicas
	h.propose(state.UpdateService{ID: svc, Spec: spec, At: h.clock.Now()})
}

func (h *harness) createService(id string, edit func(*state.ServiceSpec)) {
	h.t.Helper()
	spec := state.ServiceSpec{Name: id, Image: "app", Replicas: 3}
	if edit != nil {
		edit(&spec)
	}
	h.propose(state.CreateService{Service: state.Service{ID: id, Spec: spec, CreatedAt: h.clock.Now()}})
}

// metric returns the value of a gauge or counter in reg; label is the
// value of its only label, "" for none.
func metric(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	v := 0.0
	for _, f := range families {
		for _, m := range f.GetMetric() {
			ls := m.GetLabel()
			if f.GetName() == name && (label == "" || len(ls) == 1 && ls[0].GetValue() == label) {
				v = m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return v
}
