package netdriver

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

func TestReconcilePeers(t *testing.T) {
	d1, c, k1 := newTestDriver(t)
	if _, err := c.Propose(context.Background(), state.RegisterNode{Node: state.Node{ID: "n1", Hostname: "h1", Addr: "198.18.0.11"}}); err != nil {
		t.Fatal(err)
	}
	d2, k2 := addHost(t, c, "n2", "h2", "198.18.0.12")
	d3, _ := addHost(t, c, "n3", "h3", "198.18.0.13")
	e1, e2, e3 := engine{t, d1}, engine{t, d2}, engine{t, d3}
	id, err := e1.create("eng1", netReq{subnet: "10.1.0.0/24", opts: map[string]any{OptVNI: "5000"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []engine{e2, e3} {
		if err := e.createCopy("eng-"+e.d.cfg.Node, id); err != nil {
			t.Fatal(err)
		}
	}
	// A network h1 does not hold: nothing of it on h1.
	other, err := e2.create("eng-other", netReq{subnet: "10.2.0.0/24", opts: map[string]any{OptVNI: "5001"}})
	if err != nil {
		t.Fatal(err)
	}
	run := func(e engine, net, engineNet, ep string) string {
		t.Helper()
		ip, err := e.run(net, engineNet, ep, "")
		if err != nil {
			t.Fatal(err)
		}
		return ip
	}
	local := run(e1, id, "eng1", "eplocal0000000")
	a := run(e2, id, "eng-n2", "epa00000000000")
	b := run(e3, id, "eng-n3", "epb00000000000")
	run(e2, other, "eng-other", "epother0000000")

	// Leftovers: a flood entry, a departed endpoint, an IP now elsewhere.
	k1.fdb["xov-5000"] = map[string]string{"00:00:00:00:00:00": "198.18.0.99", "02:42:0a:01:00:63": "198.18.0.12"}
	k1.neigh["xov-5000"] = map[string]string{"10.1.0.99": "02:42:0a:01:00:63", b: "02:00:00:00:00:01"}

	if err := d1.ReconcilePeers(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		macFor(mustAddr(a)).String() + " " + a + " 198.18.0.12",
		macFor(mustAddr(b)).String() + " " + b + " 198.18.0.13",
	}
	if got := k1.remotes("xov-5000"); !slices.Equal(got, want) {
		t.Fatalf("h1 remotes:\n got %q\nwant %q (local %s)", got, want, local)
	}
	if got := k1.remotes("xov-5001"); len(got) != 0 {
		t.Errorf("h1 has entries for a network it does not hold: %v", got)
	}
	// A second pass changes nothing.
	k1.calls = nil
	if err := d1.ReconcilePeers(); err != nil || len(k1.calls) != 0 {
		t.Fatalf("second pass: %v %v", k1.calls, err)
	}

	// An endpoint goes: its entries go. One moves host (same MAC and IP).
	e3.stop(id, "eng-n3", "epb00000000000", b)
	if err := d1.ReconcilePeers(); err != nil {
		t.Fatal(err)
	}
	if got := k1.remotes("xov-5000"); !slices.Equal(got, want[:1]) {
		t.Fatalf("after stop: %q", got)
	}
	if _, err := c.Propose(context.Background(), state.RegisterNode{Node: state.Node{ID: "n2", Hostname: "h2", Addr: "198.18.0.22"}}); err != nil {
		t.Fatal(err)
	}
	if err := d1.ReconcilePeers(); err != nil {
		t.Fatal(err)
	}
	if got := k1.remotes("xov-5000"); len(got) != 1 || !strings.HasSuffix(got[0], " 198.18.0.22") {
		t.Fatalf("after h2's address changed: %q", got)
	}

	// h2 sees h1's endpoint and both of its own networks' devices.
	if err := d2.ReconcilePeers(); err != nil {
		t.Fatal(err)
	}
	if got := k2.remotes("xov-5000"); len(got) != 1 || !strings.HasPrefix(got[0], macFor(mustAddr(local)).String()+" "+local+" 198.18.0.11") {
		t.Fatalf("h2 remotes: %q", got)
	}
}

func TestReconcilePeersProblems(t *testing.T) {
	d1, c, k1 := newTestDriver(t)
	d2, _ := addHost(t, c, "n2", "h2", "") // no --advertise-addr
	d3, _ := addHost(t, c, "n3", "h3", "198.18.0.13")
	id, err := (engine{t, d1}).create("eng1", netReq{subnet: "10.1.0.0/24", opts: map[string]any{OptVNI: "5000"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*Driver{d2, d3} {
		if err := (engine{t, d}).createCopy("eng-"+d.cfg.Node, id); err != nil {
			t.Fatal(err)
		}
		if _, err := (engine{t, d}).run(id, "eng-"+d.cfg.Node, "ep"+d.cfg.Node+"aaaaaaaaaa", ""); err != nil {
			t.Fatal(err)
		}
	}
	err = d1.ReconcilePeers()
	if err == nil || !strings.Contains(err.Error(), "host n2 has no underlay address") {
		t.Fatalf("endpoint on a host without an address: %v", err)
	}
	if got := k1.remotes("xov-5000"); len(got) != 1 || !strings.HasSuffix(got[0], "198.18.0.13") {
		t.Fatalf("the reachable endpoint must still be programmed: %q", got)
	}
	// A device that is not there yet is skipped, not an error.
	delete(k1.bridges, "xob-5000")
	k1.calls = nil
	if err := d1.ReconcilePeers(); err == nil || strings.Contains(err.Error(), "xov-5000") || len(k1.calls) != 0 {
		t.Fatalf("missing device: %v, calls %v", err, k1.calls)
	}
	// Without a Peers implementation there is nothing to do.
	d1.SetPeers(nil)
	if err := d1.ReconcilePeers(); err != nil {
		t.Fatal(err)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
