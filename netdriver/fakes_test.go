package netdriver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sort"
	"sync"
	"testing"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// localCluster applies commands straight to an in-process FSM, as a
// single-node raft would after commit.
type localCluster struct {
	*state.Store
	fsm    *state.FSM
	writes int
}

func newLocalCluster() *localCluster {
	s := state.NewStore()
	return &localCluster{Store: s, fsm: state.NewFSM(s)}
}

func (c *localCluster) Propose(_ context.Context, cmd state.Command) (any, error) {
	b, err := state.Encode(cmd)
	if err != nil {
		return nil, err
	}
	c.writes++
	return c.fsm.ApplyBytes(b)
}

// fakeKernel records devices by name, like the kernel would hold them.
type fakeKernel struct {
	mu      sync.Mutex
	bridges map[string]BridgeSpec
	veths   map[string]VethSpec
	failOn  string
}

func newFakeKernel() *fakeKernel {
	return &fakeKernel{bridges: map[string]BridgeSpec{}, veths: map[string]VethSpec{}}
}

var errInjected = errors.New("injected kernel failure")

func (k *fakeKernel) EnsureBridge(s BridgeSpec) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.failOn == "bridge" {
		return errInjected
	}
	k.bridges[s.Bridge] = s
	return nil
}

func (k *fakeKernel) DeleteBridge(s BridgeSpec) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for name, b := range k.bridges {
		if name == s.Bridge || b.VXLAN == s.VXLAN {
			delete(k.bridges, name)
		}
	}
	return nil
}

func (k *fakeKernel) EnsureVeth(s VethSpec) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.veths[s.Host] = s
	return nil
}

func (k *fakeKernel) DeleteVeth(host string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.veths, host)
	return nil
}

func (k *fakeKernel) ListOwned() (Owned, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var o Owned
	for name, b := range k.bridges {
		o.Bridges = append(o.Bridges, name)
		o.VXLANs = append(o.VXLANs, b.VXLAN)
	}
	for name := range k.veths {
		o.Veths = append(o.Veths, name)
	}
	sort.Strings(o.Bridges)
	return o, nil
}

func newTestDriver(t *testing.T) (*Driver, *localCluster, *fakeKernel) {
	t.Helper()
	c := newLocalCluster()
	k := newFakeKernel()
	if _, err := c.Propose(context.Background(), state.RegisterNode{Node: state.Node{ID: "n1", Hostname: "h1", Role: state.RoleManager}}); err != nil {
		t.Fatal(err)
	}
	d := New(Config{Node: "n1"}, c, k, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return d, c, k
}
