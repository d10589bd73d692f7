package agent

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/xoverlay/xoverlay/dnsd"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// fakeRecords stands for the DNS server: it counts full and incremental
// updates and keeps the services it was given, by name, as the server's
// answers would have them.
type fakeRecords struct {
	full, incremental int
	refuse            bool // the next UpdateServices is refused
	services          map[string]dnsd.Service
}

func (r *fakeRecords) Update(snap dnsd.Snapshot) {
	r.full++
	r.services = map[string]dnsd.Service{}
	for _, s := range snap.Services {
		r.services[s.Name] = s
	}
}

func (r *fakeRecords) UpdateServices(changed []dnsd.Service, removed []string) bool {
	if r.refuse {
		r.refuse = false
		return false
	}
	r.incremental++
	for _, name := range removed {
		delete(r.services, name)
	}
	for _, s := range changed {
		r.services[s.Name] = s
	}
	return true
}

// feedHarness drives a dnsFeed as engine.RunLoop does: RunLoop calls
// match on events until one matches, drops the rest of the burst while
// it waits, then runs the callback.
type feedHarness struct {
	store   *state.Store
	fsm     *state.FSM
	raftIdx uint64 // of the last command applied
	recs    *fakeRecords
	feed    *dnsFeed
	loop    <-chan state.Event // RunLoop's own watch
	applied uint64
}

func newFeedHarness(t *testing.T) *feedHarness {
	t.Helper()
	store := state.NewStore()
	h := &feedHarness{store: store, fsm: state.NewFSM(store), recs: &fakeRecords{}}
	h.propose(t,
		state.RegisterNode{Node: state.Node{ID: "n1", Hostname: "h1", Role: state.RoleManager}},
		state.CreateNetwork{ID: "net", Subnet: "10.1.0.0/24", CreatedAt: time.Now()},
		state.SetGateway{NetworkID: "net"},
		state.AttachEngine{NetworkID: "net", Node: "n1", EngineID: "e1"},
		state.RenameNetwork{NetworkID: "net", Name: "appnet"},
	)
	loop, stopLoop := h.store.Watch()
	t.Cleanup(stopLoop)
	h.loop = loop
	h.feed = newDNSFeed(h.store, h.recs, func(i uint64) { h.applied = i })
	t.Cleanup(h.feed.stop)
	h.feed.run(context.Background())
	return h
}

// propose applies cmds as raft would commit them, one log entry each.
func (h *feedHarness) propose(t *testing.T, cmds ...state.Command) {
	t.Helper()
	for _, c := range cmds {
		b, err := state.Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		h.raftIdx++
		if res := h.fsm.Apply(&raft.Log{Index: h.raftIdx, Type: raft.LogCommand, Data: b}).(state.Result); res.Err != nil {
			t.Fatalf("%T: %v", c, res.Err)
		}
	}
}

// burst commits cmds, lets the feed see their events as RunLoop would,
// and runs it if one matched. It returns the full and incremental
// updates the burst made, after checking the records against the store.
func (h *feedHarness) burst(t *testing.T, cmds ...state.Command) (full, incremental int) {
	t.Helper()
	full0, inc0 := h.recs.full, h.recs.incremental
	h.propose(t, cmds...)
	pending := false
	for len(h.loop) > 0 {
		if e := <-h.loop; !pending {
			pending = h.feed.match(e)
		}
	}
	if pending {
		h.feed.run(context.Background())
	}
	h.check(t)
	return h.recs.full - full0, h.recs.incremental - inc0
}

// check compares the services the records have with a full snapshot of
// the store, and the index reported with the store's.
func (h *feedHarness) check(t *testing.T) {
	t.Helper()
	want := map[string]dnsd.Service{}
	for _, s := range dnsSnapshot(h.store).Services {
		want[s.Name] = s
	}
	if !reflect.DeepEqual(h.recs.services, want) {
		t.Fatalf("records' services %v, store's %v", h.recs.services, want)
	}
	if idx := h.store.Index(); h.applied != idx || idx != h.raftIdx {
		t.Fatalf("applied index %d, store at %d", h.applied, idx)
	}
}

func serviceSpec(name string, mode string) state.ServiceSpec {
	return state.ServiceSpec{Name: name, Image: "img", Replicas: 1, EndpointMode: mode,
		Networks: []state.NetworkAttachment{{Target: "net"}}}
}

func createService(id, name string) state.CreateService {
	return state.CreateService{Service: state.Service{ID: id, Spec: serviceSpec(name, ""), CreatedAt: time.Now()}}
}

func TestDNSFeedPaths(t *testing.T) {
	h := newFeedHarness(t)
	if h.recs.full != 1 || h.recs.incremental != 0 {
		t.Fatalf("start: %d full, %d incremental updates", h.recs.full, h.recs.incremental)
	}
	steps := []struct {
		what              string
		cmds              []state.Command
		full, incremental int
	}{
		{"a service created", []state.Command{createService("s1", "web")}, 0, 1},
		{"an address reserved", []state.Command{state.ReserveAddress{NetworkID: "net", IP: "10.1.0.77", Node: "n1"}}, 0, 0},
		{"services in one burst", []state.Command{createService("s2", "api"), createService("s3", "db"),
			state.RemoveService{ID: "s2"}}, 0, 1},
		{"a scale: no DNS change", []state.Command{state.UpdateService{ID: "s1", Spec: func() state.ServiceSpec {
			s := serviceSpec("web", "")
			s.Replicas = 3
			return s
		}()}}, 0, 0},
		{"vip to dnsrr", []state.Command{state.UpdateService{ID: "s3", Spec: serviceSpec("db", state.EndpointDNSRR)}}, 0, 1},
		{"dnsrr to vip", []state.Command{state.UpdateService{ID: "s3", Spec: serviceSpec("db", state.EndpointVIP)}}, 0, 1},
		{"a service removed", []state.Command{state.RemoveService{ID: "s1"}}, 0, 1},
		{"an endpoint", []state.Command{state.CreateEndpoint{Endpoint: state.Endpoint{ID: "e1", NetworkID: "net", Node: "n1",
			IP: "10.1.0.50", CreatedAt: time.Now()}}}, 1, 0},
		{"a service and a node", []state.Command{createService("s4", "cache"),
			state.SetNodeStatus{ID: "n1", Status: state.StatusDown, At: time.Now()}}, 1, 0},
		{"a network", []state.Command{state.RenameNetwork{NetworkID: "net", Name: "other"}}, 1, 0},
	}
	for _, st := range steps {
		full, inc := h.burst(t, st.cmds...)
		if full != st.full || inc != st.incremental {
			t.Errorf("%s: %d full and %d incremental updates, want %d and %d", st.what, full, inc, st.full, st.incremental)
		}
		if st.what == "a service created" && len(h.recs.services["web"].VIPs) != 1 {
			t.Fatalf("web has no VIP: %+v", h.recs.services["web"])
		}
	}
}

func TestDNSFeedFallbacks(t *testing.T) {
	h := newFeedHarness(t)
	h.burst(t, createService("s1", "web"))

	// The server cannot make the change in place: a whole snapshot.
	h.recs.refuse = true
	if full, inc := h.burst(t, createService("s2", "api")); full != 1 || inc != 0 {
		t.Errorf("refused change: %d full, %d incremental updates", full, inc)
	}

	// A run no event asked for (the first, the periodic one) rebuilds.
	full0 := h.recs.full
	h.feed.run(context.Background())
	h.check(t)
	if h.recs.full != full0+1 {
		t.Error("a periodic run did not rebuild")
	}

	// A run for events the feed has already taken changes nothing.
	h.propose(t, createService("s3", "db"))
	h.feed.run(context.Background()) // periodic: takes the event
	full0, inc0 := h.recs.full, h.recs.incremental
	if full, inc := h.burst(t); full != 0 || inc != 0 {
		t.Errorf("events already taken: %d full, %d incremental updates", full, inc)
	}
	if h.recs.full != full0 || h.recs.incremental != inc0 {
		t.Error("records updated twice")
	}

	// More service events than the feed's watch holds: some may be lost.
	spec := serviceSpec("web", "")
	var cmds []state.Command
	for i := range cap(h.feed.events) + 10 {
		spec.Env = []string{"N=" + strings.Repeat("x", i%3) + string(rune('a'+i%26))}
		cmds = append(cmds, state.UpdateService{ID: "s1", Spec: spec, Force: true})
	}
	if full, inc := h.burst(t, cmds...); full != 1 || inc != 0 {
		t.Errorf("overflowed watch: %d full, %d incremental updates", full, inc)
	}

	// Commits of nothing DNS answers are applied at once.
	if full, inc := h.burst(t, state.CreateTasks{Tasks: []state.Task{{ID: "t1", ServiceID: "s1", Slot: 1,
		DesiredState: state.TaskRunning}}}); full != 0 || inc != 0 {
		t.Errorf("a task: %d full, %d incremental updates", full, inc)
	}
	var want map[string]dnsd.Service
	h.store.View(func(tx state.ReadTx) { _, want = dnsSnapshotTx(tx) })
	if !reflect.DeepEqual(h.feed.services, want) {
		t.Errorf("the feed's services %v, the store's %v", h.feed.services, want)
	}
}
