//go:build linux

package l4test

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
)

// Harness adapts a data plane to the suite.
type Harness struct {
	// New returns the plane under test for the namespace at nsPath; the
	// suite closes it.
	New func(t *testing.T, nsPath string) l4.DataPlane
	// Break damages, behind the plane's back, what it programmed in ns
	// for the VIP service, so that connections to it fail until a
	// Reconcile.
	Break func(t *testing.T, ns *NS)
}

// Frontend ports of the suite.
const (
	VIPTCPPort    = 80
	VIPUDPPort    = 53
	PublishedPort = 8080
)

// Tries is how many connections a test makes to see the spread over
// backends: with 3 backends picked at random, the chance that one is
// never picked in 60 tries is below 1e-10.
const Tries = 60

// Run runs every behaviour test against the plane.
func Run(t *testing.T, h Harness) {
	t.Run("VIPReachesEveryBackendKeepingClientAddress", func(t *testing.T) { vipReachesAll(t, h) })
	t.Run("RemovedBackendGetsNoNewConnection", func(t *testing.T) { removedBackend(t, h) })
	t.Run("UDPFlowOfRemovedBackendMoves", func(t *testing.T) { udpFlowMoves(t, h) })
	t.Run("NoBackendsRefuses", func(t *testing.T) { noBackends(t, h) })
	t.Run("ReconcileRepairsDrift", func(t *testing.T) { reconcileRepairs(t, h) })
	t.Run("PublishedPortFromAnotherNamespace", func(t *testing.T) { published(t, h) })
	t.Run("BadInputChangesNothing", func(t *testing.T) { badInput(t, h) })
	t.Run("AddressOnlyVIP", func(t *testing.T) { addressOnly(t, h) })
}

func setup(t *testing.T, h Harness, ns func(*Net) *NS) (*Net, l4.DataPlane) {
	t.Helper()
	n := NewNet(t, 3)
	p := h.New(t, ns(n).Path())
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return n, p
}

func client(n *Net) *NS { return n.Client }
func router(n *Net) *NS { return n.Router }

func vipState(n *Net) l4.Desired {
	return l4.Desired{Services: []l4.Service{
		{VIP: VIP, Port: VIPTCPPort, Proto: l4.TCP, Backends: n.TCPBackends()},
		{VIP: VIP, Port: VIPUDPPort, Proto: l4.UDP, Backends: n.UDPBackends()},
	}}
}

func apply(t *testing.T, p l4.DataPlane, d l4.Desired) {
	t.Helper()
	if err := p.Apply(context.Background(), d); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

// spread makes Tries calls and counts the answers per backend, checking
// each answer's source with src.
func spread(t *testing.T, call func() (Reply, error), src func(Reply) bool) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for range Tries {
		r, err := call()
		if err != nil {
			t.Fatalf("call %d: %v (seen so far %v)", len(seen), err, seen)
		}
		if !src(r) {
			t.Fatalf("backend %s saw source %s", r.Backend, r.Source)
		}
		seen[r.Backend]++
	}
	return seen
}

func wantBackends(t *testing.T, what string, seen map[string]int, want ...string) {
	t.Helper()
	var got []string
	for b := range seen {
		got = append(got, b)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("%s reached %v (counts %v), want exactly %v", what, got, seen, want)
	}
}

func fromClient(r Reply) bool { return r.Source.Addr() == ClientAddr }

func vipReachesAll(t *testing.T, h Harness) {
	n, p := setup(t, h, client)
	apply(t, p, vipState(n))
	tcp := spread(t, func() (Reply, error) { return DialTCP(n.Client, netip.AddrPortFrom(VIP, VIPTCPPort)) }, fromClient)
	wantBackends(t, "TCP to the VIP", tcp, "b1", "b2", "b3")
	udp := spread(t, func() (Reply, error) { return AskUDP(t, n.Client, netip.AddrPortFrom(VIP, VIPUDPPort)) }, fromClient)
	wantBackends(t, "UDP to the VIP", udp, "b1", "b2", "b3")
	// The same state again changes nothing and needs no repair.
	apply(t, p, vipState(n))
	if fixes, err := p.Reconcile(context.Background()); err != nil || fixes != 0 {
		t.Fatalf("reconcile after apply: %d fixes, %v; want 0, nil", fixes, err)
	}
}

func removedBackend(t *testing.T, h Harness) {
	n, p := setup(t, h, client)
	d := vipState(n)
	apply(t, p, d)
	d.Services[0].Backends = d.Services[0].Backends[1:] // b1 goes
	apply(t, p, d)
	seen := spread(t, func() (Reply, error) { return DialTCP(n.Client, netip.AddrPortFrom(VIP, VIPTCPPort)) }, fromClient)
	wantBackends(t, "TCP after b1's removal", seen, "b2", "b3")
	d.Services[0].Backends = n.TCPBackends() // back again
	apply(t, p, d)
	seen = spread(t, func() (Reply, error) { return DialTCP(n.Client, netip.AddrPortFrom(VIP, VIPTCPPort)) }, fromClient)
	wantBackends(t, "TCP after b1's return", seen, "b1", "b2", "b3")
}

func udpFlowMoves(t *testing.T, h Harness) {
	n, p := setup(t, h, client)
	d := vipState(n)
	apply(t, p, d)
	sock := NewUDPSocket(t, n.Client)
	dst := netip.AddrPortFrom(VIP, VIPUDPPort)
	first, err := sock.Ask(dst)
	if err != nil {
		t.Fatal(err)
	}
	// The flow sticks to its backend while it is there.
	for range 5 {
		r, err := sock.Ask(dst)
		if err != nil {
			t.Fatal(err)
		}
		if r.Backend != first.Backend {
			t.Fatalf("one UDP flow answered by %s then %s", first.Backend, r.Backend)
		}
	}
	gone := n.Backend(first.Backend).UDP()
	d.Services[1].Backends = slices.DeleteFunc(slices.Clone(d.Services[1].Backends), func(b netip.AddrPort) bool { return b == gone })
	apply(t, p, d)
	// The removed backend still runs: only a dropped flow moves away.
	for range 5 {
		r, err := sock.Ask(dst)
		if err != nil {
			t.Fatal(err)
		}
		if r.Backend == first.Backend {
			t.Fatalf("UDP flow still answered by removed backend %s", r.Backend)
		}
		if !fromClient(r) {
			t.Fatalf("backend saw source %s", r.Source)
		}
	}
}

func noBackends(t *testing.T, h Harness) {
	n, p := setup(t, h, client)
	d := vipState(n)
	d.Services[0].Backends = nil
	apply(t, p, d)
	if r, err := DialTCP(n.Client, netip.AddrPortFrom(VIP, VIPTCPPort)); err == nil {
		t.Fatalf("VIP without backends answered by %s", r.Backend)
	}
	d.Services[0].Backends = n.TCPBackends()[:1]
	apply(t, p, d)
	if r, err := DialTCP(n.Client, netip.AddrPortFrom(VIP, VIPTCPPort)); err != nil || r.Backend != "b1" {
		t.Fatalf("VIP with backend b1: %+v, %v", r, err)
	}
}

func reconcileRepairs(t *testing.T, h Harness) {
	n, p := setup(t, h, client)
	apply(t, p, vipState(n))
	h.Break(t, n.Client)
	if r, err := DialTCP(n.Client, netip.AddrPortFrom(VIP, VIPTCPPort)); err == nil {
		t.Fatalf("the damage did not break the VIP: answered by %s", r.Backend)
	}
	fixes, err := p.Reconcile(context.Background())
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if fixes < 1 {
		t.Fatalf("reconcile found nothing to fix after the damage")
	}
	seen := spread(t, func() (Reply, error) { return DialTCP(n.Client, netip.AddrPortFrom(VIP, VIPTCPPort)) }, fromClient)
	wantBackends(t, "TCP after the repair", seen, "b1", "b2", "b3")
	if fixes, err := p.Reconcile(context.Background()); err != nil || fixes != 0 {
		t.Fatalf("second reconcile: %d fixes, %v; want 0, nil", fixes, err)
	}
}

func published(t *testing.T, h Harness) {
	n, p := setup(t, h, router)
	d := l4.Desired{Published: []l4.Published{
		{Port: PublishedPort, Proto: l4.TCP, Backends: n.TCPBackends()[:2]},
		{Port: PublishedPort, Proto: l4.UDP, Backends: n.UDPBackends()[1:2]},
	}}
	apply(t, p, d)
	// Backends cannot route to "outside": they must see the router.
	fromRouter := func(r Reply) bool {
		return strings.HasPrefix(r.Source.Addr().String(), "10.77.") && r.Source.Addr() != ClientAddr
	}
	dst := netip.AddrPortFrom(RouterOut, PublishedPort)
	seen := spread(t, func() (Reply, error) { return DialTCP(n.Outside, dst) }, fromRouter)
	wantBackends(t, "published TCP port from outside", seen, "b1", "b2")
	r, err := AskUDP(t, n.Outside, dst)
	if err != nil || r.Backend != "b2" || !fromRouter(r) {
		t.Fatalf("published UDP port from outside: %+v, %v; want b2 seeing a router address", r, err)
	}
	// Processes of the node itself reach it on the node's address.
	seen = spread(t, func() (Reply, error) { return DialTCP(n.Router, dst) }, fromRouter)
	wantBackends(t, "published TCP port from the node", seen, "b1", "b2")

	// A mesh source address for backend 1's network.
	d.MeshSource = []l4.SNAT{{Prefix: netip.MustParsePrefix("10.77.11.0/24"), Source: MeshSNATAddr}}
	d.Published[0].Backends = n.TCPBackends()[:1]
	apply(t, p, d)
	seen = spread(t, func() (Reply, error) { return DialTCP(n.Outside, dst) }, func(r Reply) bool { return r.Source.Addr() == MeshSNATAddr })
	wantBackends(t, "published TCP port with a mesh source", seen, "b1")
}

func badInput(t *testing.T, h Harness) {
	n, p := setup(t, h, client)
	d := vipState(n)
	apply(t, p, d)
	bad := vipState(n)
	bad.Services = append(bad.Services, bad.Services[0])
	if err := p.Apply(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Fatalf("apply of a duplicate frontend: %v, want an error naming it", err)
	}
	if r, err := DialTCP(n.Client, netip.AddrPortFrom(VIP, VIPTCPPort)); err != nil {
		t.Fatalf("VIP after a refused apply: %+v, %v", r, err)
	}
}
