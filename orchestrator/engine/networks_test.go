package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/network"

	"github.com/xoverlay/xoverlay/orchestrator/state"
	"github.com/xoverlay/xoverlay/orchestrator/state/statetest"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// localCluster is the in-process cluster the sync tests run against.
type localCluster struct{ *statetest.Local }

func newLocalCluster() *localCluster { return &localCluster{statetest.New()} }

func (c *localCluster) must(t *testing.T, cmds ...state.Command) {
	t.Helper()
	for _, cmd := range cmds {
		if _, err := c.Propose(context.Background(), cmd); err != nil {
			t.Fatalf("%T: %v", cmd, err)
		}
	}
}

func (c *localCluster) network(t *testing.T, id string) *state.Network {
	t.Helper()
	n, ok := c.NetworkCopy(id)
	if !ok {
		t.Fatalf("network %s not in state", id)
	}
	return n
}

func (c *localCluster) takeWrites() []state.Command { return c.TakeWrites() }

type notFound struct{ what string }

func (e notFound) Error() string { return e.what + " not found" }
func (notFound) NotFound()       {}

// fakeDocker is one engine: its networks, and the calls made to it. The
// onCreate and onRemove hooks play the driver's part (AttachEngine,
// DetachEngine).
type fakeDocker struct {
	mu       sync.Mutex
	nets     map[string]network.Summary
	calls    []string
	creates  []network.CreateOptions
	failNext error
	seq      int
	onCreate func(id, name string, o network.CreateOptions) error
	onRemove func(id string)
}

func newFakeDocker() *fakeDocker { return &fakeDocker{nets: map[string]network.Summary{}} }

func (f *fakeDocker) add(id, name, driver, subnet string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := network.Summary{ID: id, Name: name, Driver: driver}
	if subnet != "" {
		s.IPAM.Config = []network.IPAMConfig{{Subnet: subnet}}
	}
	f.nets[id] = s
}

func (f *fakeDocker) drop(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.nets, id)
}

func (f *fakeDocker) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

func (f *fakeDocker) NetworkList(_ context.Context, o network.ListOptions) ([]network.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []network.Summary
	for _, n := range f.nets {
		if d := o.Filters.Get("driver"); len(d) > 0 && d[0] != n.Driver {
			continue
		}
		out = append(out, n)
	}
	return out, nil
}

func (f *fakeDocker) NetworkInspect(_ context.Context, id string, _ network.InspectOptions) (network.Inspect, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.nets[id]
	if !ok {
		return network.Inspect{}, notFound{"network " + id}
	}
	return n, nil
}

func (f *fakeDocker) Events(ctx context.Context, _ events.ListOptions) (<-chan events.Message, <-chan error) {
	return make(chan events.Message), make(chan error)
}

func (f *fakeDocker) NetworkCreate(_ context.Context, name string, o network.CreateOptions) (network.CreateResponse, error) {
	f.mu.Lock()
	f.calls = append(f.calls, "create "+name)
	f.creates = append(f.creates, o)
	if err := f.failNext; err != nil {
		f.failNext = nil
		f.mu.Unlock()
		return network.CreateResponse{}, err
	}
	for _, n := range f.nets {
		if n.Name == name {
			f.mu.Unlock()
			return network.CreateResponse{}, fmt.Errorf("network with name %s already exists", name)
		}
	}
	f.seq++
	id := fmt.Sprintf("eng%d", f.seq)
	hook := f.onCreate
	f.mu.Unlock()
	if hook != nil {
		if err := hook(id, name, o); err != nil {
			return network.CreateResponse{}, err
		}
	}
	subnet := ""
	if o.IPAM != nil && len(o.IPAM.Config) > 0 {
		subnet = o.IPAM.Config[0].Subnet
	}
	f.add(id, name, o.Driver, subnet)
	return network.CreateResponse{ID: id}, nil
}

func (f *fakeDocker) NetworkRemove(_ context.Context, id string) error {
	f.mu.Lock()
	f.calls = append(f.calls, "remove "+id)
	_, ok := f.nets[id]
	delete(f.nets, id)
	hook := f.onRemove
	f.mu.Unlock()
	if !ok {
		return fmt.Errorf("remove: %w", notFound{"network " + id})
	}
	if hook != nil {
		hook(id)
	}
	return nil
}

// net is a created network for plan tables.
func net(id, name, subnet string, engines map[string]string, mod ...func(*state.Network)) *state.Network {
	n := &state.Network{ID: id, Name: name, VNI: 4096, Subnet: subnet, Gateway: strings.TrimSuffix(subnet, "0/24") + "1", Engines: engines}
	for _, m := range mod {
		m(n)
	}
	return n
}

func local(id, name, driver, subnet string) network.Summary {
	s := network.Summary{ID: id, Name: name, Driver: driver}
	if subnet != "" {
		s.IPAM.Config = []network.IPAMConfig{{Subnet: subnet}}
	}
	return s
}

func TestPlanNetworks(t *testing.T) {
	deleting := func(n *state.Network) { n.Deleting = true }
	withErr := func(node, msg string) func(*state.Network) {
		return func(n *state.Network) { n.Errors = map[string]string{node: msg} }
	}
	copyOf := func(n *state.Network) NetworkCopy {
		return NetworkCopy{ID: n.ID, Name: n.Name, Subnet: n.Subnet, IPRange: n.IPRange, Gateway: n.Gateway, VNI: n.VNI, Aux: n.Aux, Options: n.Options}
	}
	other := map[string]string{"n1": "e1"}
	both := map[string]string{"n1": "e1", "me": "e-me"}
	const conflictAB = "name conflict: networks a and b are both called dup; remove one of them"
	const bridgeX = "host h2 already has a network named x (driver bridge, subnet 10.9.0.0/24); rename one of them"

	withAux := net("x", "x", "10.1.0.0/24", other, func(n *state.Network) {
		n.IPRange, n.Aux, n.Options = "10.1.0.128/25", map[string]string{"r": "10.1.0.250"}, map[string]string{"com.docker.network.driver.mtu": "1400"}
	})
	cases := []struct {
		name  string
		nets  []*state.Network
		local []network.Summary
		want  NetworkPlan
	}{
		{name: "nothing", want: NetworkPlan{}},
		{
			name: "copy a network created elsewhere",
			nets: []*state.Network{withAux},
			want: NetworkPlan{Create: []NetworkCopy{copyOf(withAux)}},
		},
		{
			name: "held already",
			nets: []*state.Network{net("x", "x", "10.1.0.0/24", both)},
			want: NetworkPlan{},
		},
		{
			name: "pending, unnamed or engine-less networks wait",
			nets: []*state.Network{
				net("p", "p", "10.1.0.0/24", other, func(n *state.Network) { n.VNI = 0 }),
				net("u", "", "10.2.0.0/24", other),
				net("e", "e", "10.3.0.0/24", nil),
			},
			want: NetworkPlan{},
		},
		{
			name:  "same name, another driver: recorded, not created",
			nets:  []*state.Network{net("x", "x", "10.1.0.0/24", other)},
			local: []network.Summary{local("b1", "x", "bridge", "10.9.0.0/24")},
			want:  NetworkPlan{Errors: []state.SetNetworkError{{NetworkID: "x", Node: "me", Error: bridgeX}}},
		},
		{
			name:  "same name, xoverlay with another subnet",
			nets:  []*state.Network{net("x", "x", "10.1.0.0/24", other)},
			local: []network.Summary{local("o1", "x", "xoverlay", "10.7.0.0/24")},
			want: NetworkPlan{Errors: []state.SetNetworkError{{NetworkID: "x", Node: "me",
				Error: "host h2 already has a network named x (driver xoverlay, subnet 10.7.0.0/24); rename one of them"}}},
		},
		{
			name:  "conflict already recorded: nothing to do",
			nets:  []*state.Network{net("x", "x", "10.1.0.0/24", other, withErr("me", bridgeX))},
			local: []network.Summary{local("b1", "x", "bridge", "10.9.0.0/24")},
			want:  NetworkPlan{},
		},
		{
			name: "conflict gone: cleared and created",
			nets: []*state.Network{net("x", "x", "10.1.0.0/24", other, withErr("me", bridgeX))},
			want: NetworkPlan{
				Create: []NetworkCopy{copyOf(net("x", "x", "10.1.0.0/24", other))},
				Errors: []state.SetNetworkError{{NetworkID: "x", Node: "me"}},
			},
		},
		{
			name: "another node's error is not ours",
			nets: []*state.Network{net("x", "x", "10.1.0.0/24", other, withErr("n3", bridgeX))},
			want: NetworkPlan{Create: []NetworkCopy{copyOf(net("x", "x", "10.1.0.0/24", other))}},
		},
		{
			name:  "same name, same driver and subnet: left alone, noted",
			nets:  []*state.Network{net("x", "x", "10.1.0.0/24", other)},
			local: []network.Summary{local("z1", "x", "xoverlay", "10.1.0.0/24")},
			want:  NetworkPlan{Notes: map[string]string{"x": "the engine has a xoverlay network x (z1) with subnet 10.1.0.0/24 that the state does not record as this host's copy; remove it to let the agent create the copy"}},
		},
		{
			name: "two networks with one name: both flagged, neither copied",
			nets: []*state.Network{
				net("a", "dup", "10.1.0.0/24", other),
				net("b", "dup", "10.2.0.0/24", map[string]string{"n2": "e2"}),
			},
			local: []network.Summary{local("b1", "dup", "bridge", "")},
			want: NetworkPlan{Errors: []state.SetNetworkError{
				{NetworkID: "a", Node: "me", Error: conflictAB},
				{NetworkID: "b", Node: "me", Error: conflictAB},
			}},
		},
		{
			name: "name conflict on a network this host holds",
			nets: []*state.Network{
				net("a", "dup", "10.1.0.0/24", both),
				net("b", "dup", "10.2.0.0/24", other, withErr("me", conflictAB)),
			},
			want: NetworkPlan{Errors: []state.SetNetworkError{{NetworkID: "a", Node: "me", Error: conflictAB}}},
		},
		{
			name: "three networks with one name",
			nets: []*state.Network{
				net("a", "dup", "10.1.0.0/24", other), net("b", "dup", "10.2.0.0/24", other), net("c", "dup", "10.3.0.0/24", other),
			},
			want: NetworkPlan{Errors: []state.SetNetworkError{
				{NetworkID: "a", Node: "me", Error: "name conflict: networks a, b and c are all called dup; remove all but one of them"},
				{NetworkID: "b", Node: "me", Error: "name conflict: networks a, b and c are all called dup; remove all but one of them"},
				{NetworkID: "c", Node: "me", Error: "name conflict: networks a, b and c are all called dup; remove all but one of them"},
			}},
		},
		{
			name: "name conflict over once one is being removed",
			nets: []*state.Network{
				net("a", "dup", "10.1.0.0/24", other, withErr("me", conflictAB)),
				net("b", "dup", "10.2.0.0/24", both, deleting, withErr("me", conflictAB)),
			},
			local: []network.Summary{local("e-me", "dup", "xoverlay", "10.2.0.0/24")},
			want: NetworkPlan{
				Remove: []EngineCopy{{NetworkID: "b", Name: "dup", EngineID: "e-me"}},
				Errors: []state.SetNetworkError{{NetworkID: "a", Node: "me"}},
				Notes:  map[string]string{"a": "waiting for the engine to remove network dup (e-me), being removed from every host"},
			},
		},
		{
			name: "being removed: held copies go, engine-less records are purged",
			nets: []*state.Network{
				net("d1", "d1", "10.1.0.0/24", both, deleting),
				net("d2", "d2", "10.2.0.0/24", other, deleting),
				net("d3", "d3", "10.3.0.0/24", nil, deleting),
			},
			want: NetworkPlan{
				Remove: []EngineCopy{{NetworkID: "d1", Name: "d1", EngineID: "e-me"}},
				Purge:  []string{"d3"},
			},
		},
		{
			name: "stale error on a held network is cleared",
			nets: []*state.Network{net("x", "x", "10.1.0.0/24", both, withErr("me", "old news"))},
			want: NetworkPlan{Errors: []state.SetNetworkError{{NetworkID: "x", Node: "me"}}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := PlanNetworks("me", "h2", "xoverlay", tc.nets, tc.local)
			if tc.want.Notes == nil {
				tc.want.Notes = map[string]string{}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("plan:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestCreateOptions(t *testing.T) {
	c := NetworkCopy{ID: "abc", Name: "appnet", Subnet: "10.1.0.0/24", IPRange: "10.1.0.128/25", Gateway: "10.1.0.1", VNI: 5000,
		Aux: map[string]string{"r": "10.1.0.250"}, Options: map[string]string{"com.docker.network.driver.mtu": "1400"}}
	got := c.CreateOptions("xoverlay")
	want := network.CreateOptions{
		Driver: "xoverlay",
		IPAM: &network.IPAM{Driver: "xoverlay", Options: map[string]string{"xoverlay.network": "abc"},
			Config: []network.IPAMConfig{{Subnet: "10.1.0.0/24", IPRange: "10.1.0.128/25", Gateway: "10.1.0.1", AuxAddress: map[string]string{"r": "10.1.0.250"}}}},
		Options: map[string]string{"com.docker.network.driver.mtu": "1400", "xoverlay.vni": "5000"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("create options:\n got %+v\nwant %+v", got, want)
	}
	if len(c.Options) != 1 {
		t.Fatal("CreateOptions changed the copy's options")
	}
}

// syncEnv is node "n2" (h2) of a cluster whose network "appnet" was
// created by n1, with n2's engine playing the driver's part on the state.
type syncEnv struct {
	c      *localCluster
	docker *fakeDocker
	sync   *NetworkSync
	clock  time.Time
}

func newSyncEnv(t *testing.T) *syncEnv {
	t.Helper()
	c := newLocalCluster()
	c.must(t,
		state.RegisterNode{Node: state.Node{ID: "n1", Hostname: "h1", Role: state.RoleManager}},
		state.RegisterNode{Node: state.Node{ID: "n2", Hostname: "h2", Role: state.RoleManager}},
		state.CreateNetwork{ID: "net1", Subnet: "10.1.0.0/24"},
		state.SetGateway{NetworkID: "net1"},
		state.AttachEngine{NetworkID: "net1", Node: "n1", EngineID: "h1-eng"},
		state.RenameNetwork{NetworkID: "net1", Name: "appnet"},
	)
	c.takeWrites()
	d := newFakeDocker()
	d.onCreate = func(id, _ string, o network.CreateOptions) error {
		_, err := c.Propose(context.Background(), state.AttachEngine{NetworkID: o.IPAM.Options["xoverlay.network"], Node: "n2", EngineID: id})
		return err
	}
	d.onRemove = func(id string) {
		var nets []string
		c.View(func(tx state.ReadTx) {
			for _, n := range tx.Networks() {
				if n.Engines["n2"] == id {
					nets = append(nets, n.ID)
				}
			}
		})
		for _, nid := range nets {
			_, _ = c.Propose(context.Background(), state.DetachEngine{NetworkID: nid, Node: "n2"})
		}
	}
	e := &syncEnv{c: c, docker: d, clock: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	e.sync = NewNetworkSync(d, c, "n2", "xoverlay", discard())
	e.sync.now = func() time.Time { return e.clock }
	return e
}

func (e *syncEnv) pass(t *testing.T) error {
	t.Helper()
	return e.sync.Sync(context.Background())
}

func TestNetworkSyncCreatesAndRemoves(t *testing.T) {
	e := newSyncEnv(t)
	if err := e.pass(t); err != nil {
		t.Fatal(err)
	}
	if calls := e.docker.takeCalls(); !reflect.DeepEqual(calls, []string{"create appnet"}) {
		t.Fatalf("calls %v", calls)
	}
	o := e.docker.creates[0]
	if o.Driver != "xoverlay" || o.IPAM.Driver != "xoverlay" || o.IPAM.Config[0].Subnet != "10.1.0.0/24" ||
		o.IPAM.Config[0].Gateway != "10.1.0.1" || o.Options["xoverlay.vni"] != "4096" {
		t.Fatalf("create options %+v %+v", o, o.IPAM)
	}
	if got := e.c.network(t, "net1").Engines; got["n2"] != "eng1" {
		t.Fatalf("engines %v", got)
	}
	// Converged: another pass does nothing.
	e.c.takeWrites()
	if err := e.pass(t); err != nil || len(e.docker.takeCalls()) != 0 || len(e.c.takeWrites()) != 0 {
		t.Fatalf("second pass acted: %v", err)
	}

	// Removed on h1: h2's copy goes, after a moment for a removal that
	// could be under way here.
	e.c.must(t, state.MarkNetworkDeleting{NetworkID: "net1"}, state.DetachEngine{NetworkID: "net1", Node: "n1"})
	if err := e.pass(t); err != nil {
		t.Fatal(err)
	}
	if calls := e.docker.takeCalls(); len(calls) != 0 {
		t.Fatalf("removed at once: %v", calls)
	}
	if next := e.sync.retry.next(); !next.Equal(e.clock.Add(time.Second)) {
		t.Fatalf("wake-up at %v", next)
	}
	e.clock = e.clock.Add(time.Second)
	if err := e.pass(t); err != nil {
		t.Fatal(err)
	}
	if calls := e.docker.takeCalls(); !reflect.DeepEqual(calls, []string{"remove eng1"}) {
		t.Fatalf("calls %v", calls)
	}
	// The last engine is gone; the record is purged by the next pass.
	if err := e.pass(t); err != nil {
		t.Fatal(err)
	}
	if _, nets, _ := e.c.Counts(); nets != 0 {
		t.Fatalf("%d networks left", nets)
	}
}

func TestNetworkSyncEngineLostCopyBeingRemoved(t *testing.T) {
	e := newSyncEnv(t)
	e.c.must(t, state.AttachEngine{NetworkID: "net1", Node: "n2", EngineID: "gone"}, state.MarkNetworkDeleting{NetworkID: "net1"})
	e.sync.settle = 0
	// The first "not found" may be this host's own removal under way.
	if err := e.pass(t); err == nil {
		t.Fatal("first not-found not reported")
	}
	if got := e.c.network(t, "net1").Engines; got["n2"] != "gone" {
		t.Fatalf("engines %v: dropped after one not-found", got)
	}
	e.clock = e.clock.Add(time.Second)
	if err := e.pass(t); err != nil {
		t.Fatal(err)
	}
	if got := e.c.network(t, "net1").Engines; len(got) != 1 || got["n1"] == "" {
		t.Fatalf("engines %v: h2's record should be dropped", got)
	}
	if calls := e.docker.takeCalls(); !reflect.DeepEqual(calls, []string{"remove gone", "remove gone"}) {
		t.Fatalf("calls %v", calls)
	}
}

func TestNetworkSyncConflicts(t *testing.T) {
	e := newSyncEnv(t)
	e.docker.add("b1", "appnet", "bridge", "10.250.0.0/24")
	if err := e.pass(t); err != nil {
		t.Fatal(err)
	}
	want := "host h2 already has a network named appnet (driver bridge, subnet 10.250.0.0/24); rename one of them"
	if got := e.c.network(t, "net1").Errors["n2"]; got != want {
		t.Fatalf("error %q", got)
	}
	if calls := e.docker.takeCalls(); len(calls) != 0 {
		t.Fatalf("calls %v", calls)
	}
	e.docker.drop("b1")
	if err := e.pass(t); err != nil {
		t.Fatal(err)
	}
	n := e.c.network(t, "net1")
	if len(n.Errors) != 0 || n.Engines["n2"] == "" {
		t.Fatalf("after the conflict went: errors %v engines %v", n.Errors, n.Engines)
	}

	// Another host created a second "appnet" at the same time.
	e.c.must(t,
		state.RegisterNode{Node: state.Node{ID: "n3", Hostname: "h3", Role: state.RoleManager}},
		state.CreateNetwork{ID: "net2", Subnet: "10.2.0.0/24"},
		state.AttachEngine{NetworkID: "net2", Node: "n3", EngineID: "h3-eng"},
		state.RenameNetwork{NetworkID: "net2", Name: "appnet"},
	)
	e.docker.takeCalls()
	if err := e.pass(t); err != nil {
		t.Fatal(err)
	}
	msg := "name conflict: networks net1 and net2 are both called appnet; remove one of them"
	for _, id := range []string{"net1", "net2"} {
		if got := e.c.network(t, id).Errors["n2"]; got != msg {
			t.Fatalf("%s error %q", id, got)
		}
	}
	if calls := e.docker.takeCalls(); len(calls) != 0 {
		t.Fatalf("calls %v", calls)
	}
	// h3 removes its network: the conflict clears, nothing else changes here.
	e.c.must(t, state.MarkNetworkDeleting{NetworkID: "net2"}, state.DetachEngine{NetworkID: "net2", Node: "n3"})
	if err := e.pass(t); err != nil {
		t.Fatal(err)
	}
	if errs := e.c.network(t, "net1").Errors; len(errs) != 0 {
		t.Fatalf("net1 errors %v", errs)
	}
}

func TestNetworkSyncBacksOff(t *testing.T) {
	e := newSyncEnv(t)
	e.docker.failNext = errors.New("engine busy")
	if err := e.pass(t); err == nil {
		t.Fatal("failed create not reported")
	}
	e.docker.takeCalls()
	// Within the back-off, passes (events, ticks) do not retry.
	for range 3 {
		_ = e.pass(t)
	}
	if calls := e.docker.takeCalls(); len(calls) != 0 {
		t.Fatalf("retried during back-off: %v", calls)
	}
	if next := e.sync.retry.next(); !next.Equal(e.clock.Add(time.Second)) {
		t.Fatalf("next retry at %v", next)
	}
	e.clock = e.clock.Add(time.Second)
	if err := e.pass(t); err != nil {
		t.Fatal(err)
	}
	if calls := e.docker.takeCalls(); !reflect.DeepEqual(calls, []string{"create appnet"}) {
		t.Fatalf("calls after back-off %v", calls)
	}
	if !e.sync.retry.next().IsZero() {
		t.Fatal("success kept the back-off")
	}
}

func TestBackoff(t *testing.T) {
	b := newBackoff(time.Second, 5*time.Second)
	now := time.Unix(0, 0)
	var waits []time.Duration
	for range 5 {
		waits = append(waits, b.failed("k", now))
	}
	if want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}; !reflect.DeepEqual(waits, want) {
		t.Fatalf("waits %v", waits)
	}
	if b.ready("k", now.Add(4*time.Second)) || !b.ready("k", now.Add(5*time.Second)) || !b.ready("other", now) {
		t.Fatal("ready")
	}
	b.keep(map[string]bool{"other": true})
	if !b.next().IsZero() {
		t.Fatal("keep did not drop k")
	}
}

// fakeWatch is a store's Watch that the test can close and feed.
type fakeWatch struct {
	mu      sync.Mutex
	chans   []chan state.Event
	watches int
}

func (w *fakeWatch) Watch() (<-chan state.Event, func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := make(chan state.Event, 16)
	w.chans = append(w.chans, ch)
	w.watches++
	return ch, func() {}
}

func (w *fakeWatch) send(e state.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.chans[len(w.chans)-1] <- e
}

func (w *fakeWatch) closeLast() {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.chans[len(w.chans)-1])
}

func TestRunLoop(t *testing.T) {
	w := &fakeWatch{}
	runs := make(chan time.Time, 100)
	var wakeAt time.Time
	var mu sync.Mutex
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		RunLoop(ctx, w.Watch, func(e state.Event) bool { return e.Kind != "endpoint" }, 20*time.Millisecond, time.Hour,
			func(context.Context) time.Time {
				runs <- time.Now()
				mu.Lock()
				defer mu.Unlock()
				at := wakeAt
				wakeAt = time.Time{}
				return at
			})
	}()
	expect := func(what string, n int) {
		t.Helper()
		for i := range n {
			select {
			case <-runs:
			case <-time.After(2 * time.Second):
				t.Fatalf("%s: run %d did not happen", what, i+1)
			}
		}
		select {
		case <-runs:
			t.Fatalf("%s: one run too many", what)
		case <-time.After(60 * time.Millisecond):
		}
	}
	expect("start", 1)
	for range 5 {
		w.send(state.Event{Kind: "network", Action: "update", ID: "x"})
	}
	expect("a burst", 1)
	w.send(state.Event{Kind: "endpoint", Action: "create", ID: "e"})
	expect("a filtered event", 0)
	w.closeLast()
	expect("closed channel", 1)
	w.send(state.Event{Kind: "node", Action: "update", ID: "n"})
	expect("event on the new channel", 1)
	mu.Lock()
	wakeAt = time.Now().Add(30 * time.Millisecond)
	mu.Unlock()
	w.send(state.Event{Kind: "node", Action: "update", ID: "n"})
	expect("event, then the asked-for wake-up", 2)
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("RunLoop did not return after cancel")
	}
	if w.watches != 2 {
		t.Fatalf("%d watches, want 2", w.watches)
	}
}

func TestWatcherDropsLostNetworkOnSecondSync(t *testing.T) {
	c := newLocalCluster()
	old := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.must(t,
		state.CreateNetwork{ID: "net", Subnet: "10.1.0.0/24", CreatedAt: old},
		state.AttachEngine{NetworkID: "net", Node: "me", EngineID: "eng"},
		state.AttachEngine{NetworkID: "net", Node: "other", EngineID: "eng-o"},
	)
	d := newFakeDocker()
	w := New(d, c, "me", "xoverlay", discard())
	w.now = func() time.Time { return old.Add(time.Hour) }
	if err := w.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c.network(t, "net").Engines["me"] != "eng" {
		t.Fatal("dropped after one sync")
	}
	if err := w.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.network(t, "net").Engines["me"]; ok {
		t.Fatal("kept after two syncs")
	}
	// A network that shows up again between syncs is not dropped.
	c.must(t, state.AttachEngine{NetworkID: "net", Node: "me", EngineID: "eng2"})
	if err := w.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	d.add("eng2", "appnet", "xoverlay", "10.1.0.0/24")
	if err := w.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	d.drop("eng2")
	if err := w.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c.network(t, "net").Engines["me"] != "eng2" {
		t.Fatal("dropped after one miss")
	}
}
