//go:build linux

package nft

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
	"github.com/xoverlay/xoverlay/lbproxy/l4/l4test"
)

// An address-only VIP serves every port, known or not; a port of the
// same VIP listed on its own wins over it; drift of its map element is
// repaired.
func TestAllPortsVIP(t *testing.T) {
	n := l4test.NewNet(t, 3)
	ctx := context.Background()
	p := newPlane(t, n.Client.Path(), nil)
	defer p.Close()
	d := l4.Desired{Services: []l4.Service{{VIP: l4test.VIP, Backends: n.Addrs()}}} // no known ports
	if err := p.Apply(ctx, d); err != nil {
		t.Fatal(err)
	}
	fromClient := func(r l4test.Reply) bool { return r.Source.Addr() == l4test.ClientAddr }
	tcp := netip.AddrPortFrom(l4test.VIP, l4test.TCPPort)
	udp := netip.AddrPortFrom(l4test.VIP, l4test.UDPPort)
	seen := map[string]bool{}
	for range l4test.Tries {
		r, err := l4test.DialTCP(n.Client, tcp)
		if err != nil || !fromClient(r) {
			t.Fatalf("TCP to %s: %+v, %v", tcp, r, err)
		}
		seen[r.Backend] = true
		if r, err = l4test.AskUDP(t, n.Client, udp); err != nil || !fromClient(r) {
			t.Fatalf("UDP to %s: %+v, %v", udp, r, err)
		}
		seen["udp-"+r.Backend] = true
	}
	if len(seen) != 6 {
		t.Fatalf("reached %v, want b1..b3 over TCP and over UDP", seen)
	}
	if got := chainsOf(t, outside(t, n.Client)); !slices.Equal(got, []string{"a-10.77.200.1", "out", "post", "pre"}) {
		t.Fatalf("chains %v", got)
	}

	// VIP:80/tcp of its own goes to b1 only; UDP still to all.
	d.Services = append(d.Services, l4.Service{VIP: l4test.VIP, Port: l4test.TCPPort, Proto: l4.TCP, Backends: n.TCPBackends()[:1]})
	if err := p.Apply(ctx, d); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if r, err := l4test.DialTCP(n.Client, tcp); err != nil || r.Backend != "b1" {
			t.Fatalf("TCP to the VIP's own port entry: %+v, %v; want b1", r, err)
		}
	}
	if _, err := l4test.AskUDP(t, n.Client, udp); err != nil {
		t.Fatalf("UDP next to a port entry: %v", err)
	}

	// Someone deletes the address-only element: reconcile restores it.
	c := outside(t, n.Client)
	o := objects{conn: c, table: table}
	if err := c.SetDeleteElements(o.addrs(), []nftables.SetElement{{Key: frontendKey(l4.Key{VIP: l4test.VIP})}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := l4test.AskUDP(t, n.Client, udp); err == nil {
		t.Fatal("the damage did not break the VIP")
	}
	if fixes, err := p.Reconcile(ctx); err != nil || fixes != 1 {
		t.Fatalf("reconcile: %d fixes, %v; want 1", fixes, err)
	}
	if _, err := l4test.AskUDP(t, n.Client, udp); err != nil {
		t.Fatalf("UDP after the repair: %v", err)
	}
	if err := p.Apply(ctx, l4.Desired{}); err != nil {
		t.Fatal(err)
	}
	if got := chainsOf(t, c); !slices.Equal(got, []string{"out", "post", "pre"}) {
		t.Fatalf("chains after removing everything: %v", got)
	}
}

func TestAllPortsNamesAndFlows(t *testing.T) {
	k := l4.Key{VIP: netip.MustParseAddr("10.0.0.100")}
	if got, ok := parseChainName(chainName(k)); !ok || got != k || chainName(k) != "a-10.0.0.100" {
		t.Fatalf("chain name %q parses as %v, %v", chainName(k), got, ok)
	}
	for _, bad := range []string{"a-", "a-x", "a-::1", "a-10.0.0.1-tcp"} {
		if k, ok := parseChainName(bad); ok {
			t.Errorf("parseChainName(%q) = %v", bad, k)
		}
	}
	if len(frontendKey(k)) != int(nftables.TypeIPAddr.Bytes) {
		t.Fatalf("address-only key % x", frontendKey(k))
	}
	port := l4.Key{VIP: k.VIP, Proto: l4.UDP, Port: 53}
	f := newUDPFlows(l4.Frontends{port: nil})
	f.allow(k, []netip.AddrPort{netip.MustParseAddrPort("10.0.0.2:0")})
	for _, tc := range []struct {
		flow *netlink.ConntrackFlow
		want bool
	}{
		{flow("10.0.0.9:4000", "10.0.0.100:5000", "10.0.0.2:5000"), false}, // kept backend
		{flow("10.0.0.9:4000", "10.0.0.100:5000", "10.0.0.3:5000"), true},  // removed backend
		{flow("10.0.0.9:4000", "10.0.0.100:53", "10.0.0.3:53"), false},     // the VIP's own port entry
		{flow("10.0.0.9:4000", "10.0.0.3:5000", "10.0.0.3:5000"), false},   // not NATed
	} {
		if got := f.MatchConntrackFlow(tc.flow); got != tc.want {
			t.Errorf("flow to %s:%d (reply from %s): match %v, want %v", tc.flow.Forward.DstIP, tc.flow.Forward.DstPort,
				tc.flow.Reverse.SrcIP, got, tc.want)
		}
	}
}
