package orchestrate_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/orchestrate"
	"github.com/xoverlay/xoverlay/orchestrator/state"
	"github.com/xoverlay/xoverlay/orchestrator/state/statetest"
)

// indexed is an in-process cluster whose proposals get raft indexes.
type indexed struct {
	*statetest.Local
	last atomic.Uint64
}

func (c *indexed) ProposeIndex(ctx context.Context, cmd state.Command) (any, uint64, error) {
	v, err := c.Propose(ctx, cmd)
	return v, c.last.Add(1), err
}

// fakeAcks answers at once for the nodes it says acknowledged, and
// waits out ctx for the others.
type fakeAcks struct {
	mu    sync.Mutex
	acked map[string]bool
	calls []ackCall
}

type ackCall struct {
	index uint64
	nodes []string
}

func (a *fakeAcks) WaitDataplane(ctx context.Context, index uint64, nodes []string) ([]string, error) {
	a.mu.Lock()
	a.calls = append(a.calls, ackCall{index, slices.Clone(nodes)})
	var missing []string
	for _, n := range nodes {
		if !a.acked[n] {
			missing = append(missing, n)
		}
	}
	a.mu.Unlock()
	if len(missing) == 0 {
		return nil, nil
	}
	<-ctx.Done()
	return missing, ctx.Err()
}

func (a *fakeAcks) called() []ackCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.calls)
}

// drainCluster has nodes n1 (h1, ready), n2 (h2, suspect) and n3 (h3,
// down), and a service web with task t1 on n1, whose endpoint on
// network net is in service (DNS answers it) when serving.
func drainCluster(t *testing.T, serving bool) *indexed {
	t.Helper()
	c := &indexed{Local: statetest.New()}
	ctx := context.Background()
	propose := func(cmds ...state.Command) {
		t.Helper()
		for _, cmd := range cmds {
			if _, _, err := c.ProposeIndex(ctx, cmd); err != nil {
				t.Fatalf("%T: %v", cmd, err)
			}
		}
	}
	for i, st := range []string{state.StatusReady, state.StatusSuspect, state.StatusDown} {
		id, host := "n"+string(rune('1'+i)), "h"+string(rune('1'+i))
		propose(state.RegisterNode{Node: state.Node{ID: id, Hostname: host, Role: state.RoleManager}},
			state.SetNodeStatus{ID: id, Status: st})
	}
	propose(
		state.CreateNetwork{ID: "net", Subnet: "10.1.0.0/24"},
		state.SetGateway{NetworkID: "net"},
		state.AttachEngine{NetworkID: "net", Node: "n1", EngineID: "e1"},
		state.RenameNetwork{NetworkID: "net", Name: "appnet"},
		state.CreateService{Service: state.Service{ID: "web", Spec: state.ServiceSpec{Name: "web", Image: "app", Replicas: 1}}},
		state.CreateTasks{Tasks: []state.Task{{ID: "t1", ServiceID: "web", Slot: 1, NodeID: "n1", DesiredState: state.TaskRunning}}},
		state.CreateEndpoint{Endpoint: state.Endpoint{ID: "ep1", NetworkID: "net", Node: "n1", IP: "10.1.0.5"}},
		state.SetEndpointStatus{Endpoints: []state.EndpointUpdate{{ID: "ep1", ContainerID: "c1", Container: "web.1",
			Status: state.EndpointStatus{Running: serving, Service: "web", Task: "t1"}}}},
	)
	return c
}

func task(c *indexed, id string) (t *state.Task) {
	c.View(func(tx state.ReadTx) { t = tx.Task(id) })
	return t
}

func TestAckDrainerWaitsForTheNodesThatAreUp(t *testing.T) {
	c := drainCluster(t, false)
	acks := &fakeAcks{acked: map[string]bool{"n1": true, "n2": true}}
	d := orchestrate.AckDrainer{Cluster: c, Acks: acks, DNSTTL: time.Hour}
	if err := d.Drain(context.Background(), []*state.Task{task(c, "t1")}); err != nil {
		t.Fatal(err) // no DNS floor either: no DNS server answered the task
	}
	if !task(c, "t1").Draining {
		t.Fatal("task not marked draining")
	}
	calls := acks.called()
	if len(calls) != 1 || calls[0].index != c.last.Load() || !slices.Equal(calls[0].nodes, []string{"n1", "n2"}) {
		t.Fatalf("waited for %+v, want the drain's index %d on n1 and n2 (n3 is down)", calls, c.last.Load())
	}
}

func TestAckDrainerTimeoutNamesTheNodes(t *testing.T) {
	c := drainCluster(t, true)
	acks := &fakeAcks{acked: map[string]bool{"n1": true}}
	d := orchestrate.AckDrainer{Cluster: c, Acks: acks, Timeout: 20 * time.Millisecond}
	out, err := d.Apply(context.Background(), state.DrainTasks{IDs: []string{"t1"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if out.Changed != 1 || !slices.Equal(out.Nodes, []string{"h1", "h2"}) || !slices.Equal(out.Missing, []string{"h2"}) {
		t.Fatalf("outcome %+v: want 1 task changed, h1 and h2 asked, h2 missing", out)
	}
	var na *orchestrate.NotAcknowledged
	if err := out.Err(); !errors.As(err, &na) || err.Error() != "drain: node h2 did not acknowledge within 20ms" {
		t.Fatalf("error %v", err)
	}
	if err := d.Drain(context.Background(), []*state.Task{task(c, "t1")}); !errors.As(err, &na) {
		t.Fatalf("Drain without every acknowledgement: %v", err)
	}
	e := orchestrate.NotAcknowledged{Nodes: []string{"h2", "h3"}, Timeout: 5 * time.Second}
	if e.Error() != "drain: nodes h2, h3 did not acknowledge within 5s" {
		t.Fatalf("message %q", e.Error())
	}
}

func TestAckDrainerDNSFloor(t *testing.T) {
	// DNS answered the task: its clients may hold its address for the
	// TTL; after the acknowledgements, the drain waits it out (here:
	// until canceled).
	c := drainCluster(t, true)
	acks := &fakeAcks{acked: map[string]bool{"n1": true, "n2": true}}
	d := orchestrate.AckDrainer{Cluster: c, Acks: acks, DNSTTL: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Drain(ctx, []*state.Task{task(c, "t1")}) }()
	for len(acks.called()) == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("drain of a task DNS answered: %v, want it to wait the TTL out", err)
	}
}

func TestAckDrainerStopsWithItsContext(t *testing.T) {
	c := drainCluster(t, true)
	acks := &fakeAcks{acked: map[string]bool{}}
	d := orchestrate.AckDrainer{Cluster: c, Acks: acks, Timeout: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Drain(ctx, []*state.Task{task(c, "t1")}) }()
	for len(acks.called()) == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("drain after its context ended: %v", err)
	}
}

// ackMember is a harness member whose cluster tells indexes and
// acknowledgements: the orchestrator drains with an AckDrainer.
type ackMember struct {
	*member
	acks *fakeAcks
	last atomic.Uint64
}

func (m *ackMember) ProposeIndex(ctx context.Context, cmd state.Command) (any, uint64, error) {
	v, err := m.Propose(ctx, cmd)
	return v, m.last.Add(1), err
}

func (m *ackMember) WaitDataplane(ctx context.Context, index uint64, nodes []string) ([]string, error) {
	return m.acks.WaitDataplane(ctx, index, nodes)
}

func TestRollingUpdateWaitsForAcknowledgements(t *testing.T) {
	h := newHarness(t, 3)
	acks := &fakeAcks{acked: map[string]bool{"n1": true, "n2": true, "n3": true}}
	m := &ackMember{member: h.member(true), acks: acks}
	h.floor(m.member, "web", 2)
	o := orchestrate.New(m, discard(), nil, orchestrate.Options{Now: h.clock.Now, Period: 20 * time.Millisecond,
		LeaderPoll: 5 * time.Millisecond, Debounce: time.Millisecond})
	h.wg.Go(func() { o.Run(h.ctx) })
	h.createService("web", func(s *state.ServiceSpec) {
		s.UpdateConfig = &state.UpdateConfig{Parallelism: 1, Monitor: time.Second}
	})
	h.runs("web", 3, 1, 1)
	h.update("web", func(s *state.ServiceSpec) { s.Image = "app:2" })
	h.settles("web", 3, state.UpdateCompleted)
	if calls := acks.called(); len(calls) != 3 {
		t.Fatalf("acknowledgements waited for %d times, want once per old task: %+v", len(calls), calls)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
