package netdriver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"sync"
	"testing"

	"github.com/xoverlay/xoverlay/orchestrator/state"
	"github.com/xoverlay/xoverlay/orchestrator/state/statetest"
)

// localCluster is the in-process cluster the driver tests run against.
type localCluster struct{ *statetest.Local }

func newLocalCluster() *localCluster { return &localCluster{statetest.New()} }

// fakeKernel records devices by name, like the kernel would hold them,
// and the remote entries of the vxlan devices.
type fakeKernel struct {
	mu      sync.Mutex
	bridges map[string]BridgeSpec
	veths   map[string]VethSpec
	fdb     map[string]map[string]string // vxlan -> MAC -> VTEP
	neigh   map[string]map[string]string // vxlan -> IP -> MAC
	calls   []string                     // AddRemote/DelRemote calls, in order
	failOn  string
}

func newFakeKernel() *fakeKernel {
	return &fakeKernel{
		bridges: map[string]BridgeSpec{}, veths: map[string]VethSpec{},
		fdb: map[string]map[string]string{}, neigh: map[string]map[string]string{},
	}
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
			delete(k.fdb, b.VXLAN)
			delete(k.neigh, b.VXLAN)
		}
	}
	return nil
}

// hasVXLAN must be called with k.mu held.
func (k *fakeKernel) hasVXLAN(vx string) bool {
	for _, b := range k.bridges {
		if b.VXLAN == vx {
			return true
		}
	}
	return false
}

func (k *fakeKernel) AddRemote(vx string, mac net.HardwareAddr, ip, vtep net.IP) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls = append(k.calls, fmt.Sprintf("add %s %s %s %s", vx, mac, ip, vtep))
	if !k.hasVXLAN(vx) {
		return fmt.Errorf("device %s does not exist", vx)
	}
	if k.fdb[vx] == nil {
		k.fdb[vx], k.neigh[vx] = map[string]string{}, map[string]string{}
	}
	k.fdb[vx][mac.String()] = vtep.String()
	if ip != nil {
		k.neigh[vx][ip.String()] = mac.String()
	}
	return nil
}

func (k *fakeKernel) DelRemote(vx string, mac net.HardwareAddr, ip, vtep net.IP) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls = append(k.calls, fmt.Sprintf("del %s %s %s %s", vx, mac, ip, vtep))
	if ip != nil && k.neigh[vx][ip.String()] == mac.String() {
		delete(k.neigh[vx], ip.String())
	}
	if vtep != nil && k.fdb[vx][mac.String()] == vtep.String() {
		delete(k.fdb[vx], mac.String())
	}
	return nil
}

func (k *fakeKernel) ListRemotes(vx string) ([]Remote, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.hasVXLAN(vx) {
		return nil, fmt.Errorf("list %s: %w", vx, ErrNoDevice)
	}
	var out []Remote
	macIP := map[string]string{}
	for ip, mac := range k.neigh[vx] {
		macIP[mac] = ip
	}
	for mac, vtep := range k.fdb[vx] {
		r := Remote{MAC: mustMAC(mac), VTEP: net.ParseIP(vtep)}
		if ip, ok := macIP[mac]; ok {
			r.IP = net.ParseIP(ip)
			delete(macIP, mac)
		}
		out = append(out, r)
	}
	for mac, ip := range macIP {
		out = append(out, Remote{MAC: mustMAC(mac), IP: net.ParseIP(ip)})
	}
	return out, nil
}

// remotes renders one device's entries: "MAC IP VTEP" per FDB entry
// (IP "-" when it has no neighbour entry), then "- IP MAC" per neighbour
// entry without an FDB entry; sorted.
func (k *fakeKernel) remotes(vx string) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	ipOf := map[string]string{}
	for ip, mac := range k.neigh[vx] {
		ipOf[mac] = ip
	}
	var out []string
	for mac, vtep := range k.fdb[vx] {
		ip, ok := ipOf[mac]
		if !ok {
			ip = "-"
		}
		delete(ipOf, mac)
		out = append(out, mac+" "+ip+" "+vtep)
	}
	for mac, ip := range ipOf {
		out = append(out, "- "+ip+" "+mac)
	}
	sort.Strings(out)
	return out
}

func mustMAC(s string) net.HardwareAddr {
	mac, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return mac
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
	d, k := addHost(t, c, "n1", "h1", "")
	return d, c, k
}

// addHost registers a node in c and returns its driver and kernel: one more
// host sharing the (replicated) state.
func addHost(t *testing.T, c *localCluster, id, hostname, addr string) (*Driver, *fakeKernel) {
	t.Helper()
	k := newFakeKernel()
	node := state.Node{ID: id, Hostname: hostname, Addr: addr, Role: state.RoleManager}
	if _, err := c.Propose(context.Background(), state.RegisterNode{Node: node}); err != nil {
		t.Fatal(err)
	}
	return New(Config{Node: id}, c, k, slog.New(slog.NewTextHandler(io.Discard, nil))), k
}
