package vip

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/network"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// cluster is a real store changed through the FSM, as raft would.
type cluster struct {
	*state.Store
	fsm *state.FSM
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	s := state.NewStore()
	c := &cluster{Store: s, fsm: state.NewFSM(s)}
	c.apply(t, state.RegisterNode{Node: state.Node{ID: "n1", Hostname: "h1", Role: state.RoleManager}})
	c.apply(t, state.RegisterNode{Node: state.Node{ID: "n2", Hostname: "h2", Role: state.RoleManager}})
	c.network(t, "net", "appnet", "10.1.0.0/24")
	return c
}

func (c *cluster) apply(t testing.TB, cmd state.Command) any {
	t.Helper()
	b, err := state.Encode(cmd)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.fsm.ApplyBytes(b)
	if err != nil {
		t.Fatalf("%T: %v", cmd, err)
	}
	return v
}

func (c *cluster) network(t testing.TB, id, name, subnet string) {
	t.Helper()
	c.apply(t, state.CreateNetwork{ID: id, Subnet: subnet, CreatedAt: t0})
	c.apply(t, state.SetGateway{NetworkID: id})
	for _, n := range []string{"n1", "n2"} {
		c.apply(t, state.AttachEngine{NetworkID: id, Node: n, EngineID: "e-" + id})
	}
	c.apply(t, state.RenameNetwork{NetworkID: id, Name: name})
}

func (c *cluster) service(t testing.TB, id, name string, networks ...string) *state.Service {
	t.Helper()
	spec := state.ServiceSpec{Name: name, Image: "xo-demo:v1", Replicas: 1}
	for _, n := range networks {
		spec.Networks = append(spec.Networks, state.NetworkAttachment{Target: n})
	}
	return c.apply(t, state.CreateService{Service: state.Service{ID: id, Spec: spec, CreatedAt: t0}}).(*state.Service)
}

// endpoint records an endpoint and what its engine observes.
func (c *cluster) endpoint(t testing.TB, id, network, node, ip string, st state.EndpointStatus) {
	t.Helper()
	c.apply(t, state.CreateEndpoint{Endpoint: state.Endpoint{ID: id, NetworkID: network, Node: node, IP: ip, CreatedAt: t0}})
	c.status(t, id, st)
}

func (c *cluster) status(t testing.TB, id string, st state.EndpointStatus) {
	t.Helper()
	c.apply(t, state.SetEndpointStatus{Endpoints: []state.EndpointUpdate{{ID: id, ContainerID: "c-" + id, Container: id, Status: st}}})
}

func addrs(s ...string) []netip.AddrPort {
	out := []netip.AddrPort{}
	for _, x := range s {
		out = append(out, netip.AddrPortFrom(netip.MustParseAddr(x), 0))
	}
	return out
}

// engine is a Docker engine that holds containers and emits events.
type engine struct {
	mu      sync.Mutex
	ctrs    map[string]container.InspectResponse
	events  chan events.Message
	errs    chan error
	inspect map[string]int // calls per container
}

func newEngine() *engine {
	return &engine{ctrs: map[string]container.InspectResponse{}, events: make(chan events.Message, 16),
		errs: make(chan error, 1), inspect: map[string]int{}}
}

// run starts a container on the given endpoint IDs (in namespace
// /ns/ID) and emits its start event.
func (e *engine) run(id string, eps ...string) {
	in := container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{ID: id, State: &container.State{Running: true, Pid: 7},
			HostConfig: &container.HostConfig{NetworkMode: "default"}},
		NetworkSettings: &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{}},
	}
	in.NetworkSettings.SandboxKey = "/ns/" + id
	for _, ep := range eps {
		in.NetworkSettings.Networks["n-"+ep] = &network.EndpointSettings{EndpointID: ep}
	}
	e.mu.Lock()
	e.ctrs[id] = in
	e.mu.Unlock()
	e.events <- events.Message{Type: events.ContainerEventType, Action: events.ActionStart, Actor: events.Actor{ID: id}}
}

// disconnect takes a container off the network of endpoint ep.
func (e *engine) disconnect(id, ep string) {
	e.mu.Lock()
	delete(e.ctrs[id].NetworkSettings.Networks, "n-"+ep)
	e.mu.Unlock()
	e.events <- events.Message{Type: events.NetworkEventType, Action: events.ActionDisconnect,
		Actor: events.Actor{ID: "n-" + ep, Attributes: map[string]string{"container": id}}}
}

func (e *engine) die(id string) {
	e.mu.Lock()
	delete(e.ctrs, id)
	e.mu.Unlock()
	e.events <- events.Message{Type: events.ContainerEventType, Action: events.ActionDie, Actor: events.Actor{ID: id}}
}

func (e *engine) Events(ctx context.Context, _ events.ListOptions) (<-chan events.Message, <-chan error) {
	return e.events, e.errs
}

func (e *engine) ContainerList(context.Context, container.ListOptions) ([]container.Summary, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []container.Summary
	for id, in := range e.ctrs {
		s := container.Summary{ID: id, NetworkSettings: &container.NetworkSettingsSummary{Networks: in.NetworkSettings.Networks}}
		out = append(out, s)
	}
	return out, nil
}

func (e *engine) ContainerInspect(_ context.Context, id string) (container.InspectResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.inspect[id]++
	in, ok := e.ctrs[id]
	if !ok {
		return in, cerrdefs.ErrNotFound
	}
	return in, nil
}

// plane records what the controller does to one namespace.
type plane struct {
	path string
	log  chan<- op
	fail *failures
}

// op is one call on a plane.
type op struct {
	path string
	what string // apply, reconcile, remove, close
	d    l4.Desired
}

// failures makes the next opens or applies fail.
type failures struct {
	mu    sync.Mutex
	open  int
	apply int
}

func (f *failures) take(which *int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if *which > 0 {
		*which--
		return true
	}
	return false
}

func (p *plane) Name() string { return "fake" }
func (p *plane) Apply(_ context.Context, d l4.Desired) error {
	if p.fail.take(&p.fail.apply) {
		return errors.New("apply refused")
	}
	p.log <- op{p.path, "apply", d}
	return nil
}
func (p *plane) Reconcile(context.Context) (int, error) {
	p.log <- op{p.path, "reconcile", l4.Desired{}}
	return 0, nil
}
func (p *plane) Remove() error { p.log <- op{p.path, "remove", l4.Desired{}}; return nil }
func (p *plane) Close() error  { p.log <- op{p.path, "close", l4.Desired{}}; return nil }

// started runs a controller for node n1 until the test ends.
func started(t *testing.T, c *cluster, e *engine, reconcile time.Duration) (<-chan op, *failures) {
	t.Helper()
	ops := make(chan op, 64)
	fail := &failures{}
	open := func(path string) (l4.DataPlane, error) {
		if fail.take(&fail.open) {
			return nil, errors.New("no nftables here")
		}
		ops <- op{path, "open", l4.Desired{}}
		return &plane{path: path, log: ops, fail: fail}, nil
	}
	m, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctl := New(c, e, Options{Node: "n1", Plane: "fake", Open: open, Reconcile: reconcile, Log: testLog(t), Metrics: m})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctl.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ops, fail
}

// next waits for the next call on a plane (skipping reconciles).
func next(t *testing.T, ops <-chan op) op {
	t.Helper()
	for {
		select {
		case o := <-ops:
			if o.what == "reconcile" {
				continue
			}
			return o
		case <-time.After(10 * time.Second):
			t.Fatal("the controller did nothing")
		}
	}
}

// wantOp waits for the next call and checks it.
func wantOp(t *testing.T, ops <-chan op, path, what string) op {
	t.Helper()
	o := next(t, ops)
	if o.path != path || o.what != what {
		t.Fatalf("got %s on %s, want %s on %s", o.what, o.path, what, path)
	}
	return o
}

// services lists VIP -> backends of a desired state.
func services(d l4.Desired) map[string][]netip.AddrPort {
	out := map[string][]netip.AddrPort{}
	for _, s := range d.Services {
		if !s.AllPorts() {
			continue
		}
		out[s.VIP.String()] = slices.Clone(s.Backends)
		if out[s.VIP.String()] == nil {
			out[s.VIP.String()] = []netip.AddrPort{}
		}
	}
	return out
}
