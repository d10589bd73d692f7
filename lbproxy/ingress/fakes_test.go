package ingress

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// cluster is a real store changed through the FSM, as raft would.
type cluster struct {
	*state.Store
	fsm *state.FSM
}

// newCluster has nodes n1 and n2 and network appnet (ID net, on both
// engines as e-net).
func newCluster(t *testing.T) *cluster {
	t.Helper()
	s := state.NewStore()
	c := &cluster{Store: s, fsm: state.NewFSM(s)}
	c.apply(t, state.RegisterNode{Node: state.Node{ID: "n1", Hostname: "h1", Role: state.RoleManager}})
	c.apply(t, state.RegisterNode{Node: state.Node{ID: "n2", Hostname: "h2", Role: state.RoleManager}})
	c.network(t, "net", "appnet", "10.1.0.0/24")
	return c
}

func (c *cluster) apply(t *testing.T, cmd state.Command) any {
	t.Helper()
	v, err := c.try(cmd)
	if err != nil {
		t.Fatalf("%T: %v", cmd, err)
	}
	return v
}

func (c *cluster) try(cmd state.Command) (any, error) {
	b, err := state.Encode(cmd)
	if err != nil {
		return nil, err
	}
	return c.fsm.ApplyBytes(b)
}

func (c *cluster) network(t *testing.T, id, name, subnet string) {
	t.Helper()
	c.apply(t, state.CreateNetwork{ID: id, Subnet: subnet, CreatedAt: t0})
	c.apply(t, state.SetGateway{NetworkID: id})
	for _, n := range []string{"n1", "n2"} {
		c.apply(t, state.AttachEngine{NetworkID: id, Node: n, EngineID: "e-" + id})
	}
	c.apply(t, state.RenameNetwork{NetworkID: id, Name: name})
}

// service creates a service on appnet with the given ports and labels.
func (c *cluster) service(t *testing.T, name string, labels map[string]string, ports ...state.PortConfig) {
	t.Helper()
	spec := state.ServiceSpec{Name: name, Image: "xo-demo:v1", Replicas: 1, Labels: labels, Ports: ports,
		Networks: []state.NetworkAttachment{{Target: "appnet"}}}
	c.apply(t, state.CreateService{Service: state.Service{ID: "s-" + name, Spec: spec, CreatedAt: t0}})
}

// task records a running endpoint of service on node.
func (c *cluster) task(t *testing.T, id, service, node, ip string) {
	t.Helper()
	c.apply(t, state.CreateEndpoint{Endpoint: state.Endpoint{ID: id, NetworkID: "net", Node: node, IP: ip, CreatedAt: t0}})
	c.status(t, id, state.EndpointStatus{Running: true, Service: service})
}

func (c *cluster) status(t *testing.T, id string, st state.EndpointStatus) {
	t.Helper()
	c.apply(t, state.SetEndpointStatus{Endpoints: []state.EndpointUpdate{{ID: id, ContainerID: "c-" + id, Container: id, Status: st}}})
}

func (c *cluster) plan(node string) Plan {
	var p Plan
	c.View(func(tx state.ReadTx) { p = Compute(tx, node) })
	return p
}

func aps(s ...string) []netip.AddrPort {
	out := []netip.AddrPort{}
	for _, x := range s {
		out = append(out, netip.MustParseAddrPort(x))
	}
	return out
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
