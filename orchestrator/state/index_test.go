package state

import (
	"errors"
	"testing"

	"github.com/hashicorp/raft"
)

// applyAt runs a command through the FSM as raft would at index i.
func applyAt(t *testing.T, f *FSM, i uint64, c Command) error {
	t.Helper()
	b, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	return f.Apply(&raft.Log{Index: i, Type: raft.LogCommand, Data: b}).(Result).Err
}

func TestStoreIndex(t *testing.T) {
	s := NewStore()
	f := NewFSM(s)
	events, cancel := s.Watch()
	defer cancel()
	if err := applyAt(t, f, 7, RegisterNode{Node: Node{ID: "n1", Hostname: "h1", Role: RoleManager}}); err != nil {
		t.Fatal(err)
	}
	if e := <-events; e.Index != 7 {
		t.Fatalf("event %+v: want index 7", e)
	}
	var at uint64
	s.View(func(tx ReadTx) { at = tx.Index() })
	if at != 7 || s.Index() != 7 {
		t.Fatalf("index %d (view %d), want 7", s.Index(), at)
	}
	// A refused command and a raft entry that is no command move the
	// index without events.
	if err := applyAt(t, f, 8, SetGateway{NetworkID: "nope"}); err == nil {
		t.Fatal("gateway of an unknown network accepted")
	}
	f.Apply(&raft.Log{Index: 9, Type: raft.LogConfiguration})
	if applied, changed := s.Indexes(); applied != 9 || changed != 7 {
		t.Fatalf("indexes applied %d changed %d, want 9 and 7", applied, changed)
	}
	select {
	case e := <-events:
		t.Fatalf("event %+v for an entry that changed nothing", e)
	default:
	}

	// Snapshots carry the index; an old snapshot without it restores 0.
	s2 := restored(t, persist(t, f))
	if s2.Index() != 9 {
		t.Fatalf("restored index %d, want 9", s2.Index())
	}
	if applied, changed := s2.Indexes(); applied != changed {
		t.Fatalf("after a restore every watcher re-reads everything: applied %d changed %d", applied, changed)
	}
	s.Reset()
	if s.Index() != 0 {
		t.Fatalf("index %d after Reset", s.Index())
	}
}

func TestDrainedBetween(t *testing.T) {
	s := NewStore()
	f := NewFSM(s)
	for i := uint64(1); i <= 3; i++ {
		if err := applyAt(t, f, i, RegisterNode{Node: Node{ID: "n1", Hostname: "h1", Role: RoleManager}}); err != nil {
			t.Fatal(err)
		}
	}
	// Tasks drained at 5; their undo at 6 is no drain.
	mustApplyAt := func(i uint64, c Command) {
		t.Helper()
		if err := applyAt(t, f, i, c); err != nil {
			t.Fatal(err)
		}
	}
	mustApplyAt(4, CreateService{Service: Service{ID: "s1", Spec: ServiceSpec{Name: "web", Image: "x", Replicas: 1}}})
	mustApplyAt(5, CreateTasks{Tasks: []Task{{ID: "t1", ServiceID: "s1", Slot: 1, DesiredState: TaskRunning}}})
	mustApplyAt(6, DrainTasks{IDs: []string{"t1"}})
	mustApplyAt(7, DrainTasks{IDs: []string{"t1"}, Undo: true})
	cases := []struct {
		after, upTo uint64
		want        bool
	}{{0, 5, false}, {0, 6, true}, {5, 6, true}, {6, 7, false}, {6, 100, false}, {2, 9, true}}
	for _, c := range cases {
		if got := s.DrainedBetween(c.after, c.upTo); got != c.want {
			t.Errorf("DrainedBetween(%d, %d) = %v, want %v", c.after, c.upTo, got, c.want)
		}
	}
	// Past what it remembers, a range counts as holding a drain.
	s.mu.Lock()
	for i := range uint64(keepDrains) {
		s.applying.Store(100 + i)
		s.noteDrain()
	}
	s.applying.Store(0)
	s.mu.Unlock()
	if !s.DrainedBetween(6, 7) {
		t.Fatal("a range older than the remembered drains must count as holding one")
	}
}

// handRun is an endpoint of a hand-run container c1 of service web.
func handRun(t *testing.T) (*Store, *FSM) {
	t.Helper()
	s, f := newNet(t, "10.1.0.0/24", "")
	mustApply(t, f, CreateEndpoint{Endpoint: Endpoint{ID: "ep1", NetworkID: "net", Node: "n1", IP: "10.1.0.2"}})
	mustApply(t, f, CreateEndpoint{Endpoint: Endpoint{ID: "ep2", NetworkID: "net", Node: "n1", IP: "10.1.0.3"}})
	mustApply(t, f, SetEndpointStatus{Endpoints: []EndpointUpdate{
		{ID: "ep1", ContainerID: "c1", Container: "old", Status: EndpointStatus{Running: true, Service: "web"}},
		{ID: "ep2", ContainerID: "c2", Container: "plain", Status: EndpointStatus{Running: true}},
	}})
	return s, f
}

func inService(s *Store, id string) (in bool) {
	s.View(func(tx ReadTx) { in = tx.InService(tx.Endpoint(id)) })
	return in
}

func TestDrainContainer(t *testing.T) {
	s, f := handRun(t)
	for _, c := range []struct {
		cmd  DrainContainer
		want error
	}{
		{DrainContainer{ContainerID: "nope"}, ErrNotFound},
		{DrainContainer{ContainerID: ""}, ErrNotFound},
		{DrainContainer{ContainerID: "c2"}, ErrConflict}, // no xo.service label
	} {
		if _, err := apply(t, f, c.cmd); !errors.Is(err, c.want) {
			t.Errorf("%+v: %v, want %v", c.cmd, err, c.want)
		}
	}
	if n := mustApply(t, f, DrainContainer{ContainerID: "c1"}); n != 1 || inService(s, "ep1") {
		t.Fatalf("drain changed %v, in service %v: want 1 and out", n, inService(s, "ep1"))
	}
	if n := mustApply(t, f, DrainContainer{ContainerID: "c1"}); n != 0 {
		t.Fatalf("a second drain changed %v", n)
	}
	// Still running (the engine re-reports it, as after an agent restart):
	// it stays drained.
	running := EndpointUpdate{ID: "ep1", ContainerID: "c1", Container: "old",
		Status: EndpointStatus{Running: true, Health: HealthHealthy, Service: "web"}}
	mustApply(t, f, SetEndpointStatus{Endpoints: []EndpointUpdate{running}})
	if inService(s, "ep1") {
		t.Fatal("a drained container came back in service while it runs")
	}
	// It stops: the drain ends with it; started again, it serves.
	stopped := running
	stopped.Status.Running = false
	mustApply(t, f, SetEndpointStatus{Endpoints: []EndpointUpdate{stopped}})
	if _, err := apply(t, f, DrainContainer{ContainerID: "c1"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("drain of a stopped container: %v", err)
	}
	mustApply(t, f, SetEndpointStatus{Endpoints: []EndpointUpdate{running}})
	if !inService(s, "ep1") {
		t.Fatal("a container started again after its drain is not in service")
	}
	// Undo.
	mustApply(t, f, DrainContainer{ContainerID: "c1"})
	if n := mustApply(t, f, DrainContainer{ContainerID: "c1", Undo: true}); n != 1 || !inService(s, "ep1") {
		t.Fatalf("undo changed %v, in service %v", n, inService(s, "ep1"))
	}
}

func TestDrainContainerRefusesManagedTasks(t *testing.T) {
	_, f := handRun(t)
	mustApply(t, f, SetEndpointStatus{Endpoints: []EndpointUpdate{
		{ID: "ep1", ContainerID: "c1", Container: "web.1.x", Status: EndpointStatus{Running: true, Service: "web", Task: "t1"}},
	}})
	if _, err := apply(t, f, DrainContainer{ContainerID: "c1"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("drain of a managed task's container: %v", err)
	}
}
