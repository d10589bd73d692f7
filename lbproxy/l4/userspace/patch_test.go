//go:build linux

package userspace

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
	"github.com/xoverlay/xoverlay/lbproxy/l4/l4test"
)

// TestPatch changes VIPs one burst at a time after an Apply: traffic
// follows, lo holds exactly the VIPs, the published port is left alone,
// and the plane ends as an Apply of the final state would leave it.
func TestPatch(t *testing.T) {
	n := l4test.NewNet(t, 3)
	ctx := context.Background()
	p := newPlane(t, n.Client.Path(), Options{})
	defer p.Close()
	if err := p.Patch(ctx, nil, nil); !errors.Is(err, l4.ErrNeedApply) {
		t.Fatalf("patch before apply: %v, want l4.ErrNeedApply", err)
	}
	vip2 := netip.MustParseAddr("10.77.200.2")
	known := []l4.PortProto{{Port: l4test.TCPPort, Proto: l4.TCP}, {Port: l4test.UDPPort, Proto: l4.UDP}}
	addr := func(ids ...string) []netip.AddrPort {
		var out []netip.AddrPort
		for _, id := range ids {
			out = append(out, netip.AddrPortFrom(n.Backend(id).Addr, 0))
		}
		return out
	}
	const pubPort = 8081
	pub := []l4.Published{{Port: pubPort, Proto: l4.TCP, Backends: []netip.AddrPort{n.Backend("b1").TCP()}}}
	s1 := l4.Service{VIP: l4test.VIP, Backends: addr("b1", "b2"), KnownPorts: known}
	if err := p.Apply(ctx, l4.Desired{Services: []l4.Service{s1}, Published: pub}); err != nil {
		t.Fatal(err)
	}
	reaches(t, n, l4test.VIP, "b1", "b2")

	check := func(step string, want l4.Desired, vips ...netip.Addr) {
		t.Helper()
		wantFronts, err := want.PerPort().Frontends()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(p.applied, wantFronts) {
			t.Fatalf("%s: applied %v, want %v", step, p.applied, wantFronts)
		}
		var onLo []netip.Addr
		for _, a := range loAddrs(t, n.Client) {
			ip, _ := netip.AddrFromSlice(a.IP.To4())
			if ip.IsLoopback() {
				continue
			}
			if a.Label != vipLabel {
				t.Fatalf("%s: %s on lo without the plane's label (%q)", step, ip, a.Label)
			}
			onLo = append(onLo, ip)
		}
		slices.SortFunc(onLo, netip.Addr.Compare)
		if !slices.Equal(onLo, vips) {
			t.Fatalf("%s: lo holds %v, want the VIPs %v", step, onLo, vips)
		}
		if fixes, err := p.Reconcile(ctx); err != nil || fixes != 0 {
			t.Fatalf("%s: reconcile %d fixes, %v; want 0, nil", step, fixes, err)
		}
		if r, err := l4test.DialTCP(n.Client, netip.AddrPortFrom(l4test.ClientAddr, pubPort)); err != nil || r.Backend != "b1" {
			t.Fatalf("%s: published port answered %+v, %v; want b1", step, r, err)
		}
	}

	// A VIP comes: its address and proxies only.
	s2 := l4.Service{VIP: vip2, Backends: addr("b3"), KnownPorts: known[:1]}
	if err := p.Patch(ctx, []l4.Service{s2}, nil); err != nil {
		t.Fatal(err)
	}
	check("a VIP added", l4.Desired{Services: []l4.Service{s1, s2}, Published: pub}, l4test.VIP, vip2)
	reaches(t, n, vip2, "b3")

	// A VIP's backends change, and its UDP flow follows.
	sock := l4test.NewUDPSocket(t, n.Client)
	udpDst := netip.AddrPortFrom(l4test.VIP, l4test.UDPPort)
	if _, err := sock.Ask(udpDst); err != nil {
		t.Fatal(err)
	}
	s1.Backends = addr("b2")
	if err := p.Patch(ctx, []l4.Service{s1}, nil); err != nil {
		t.Fatal(err)
	}
	check("backends changed", l4.Desired{Services: []l4.Service{s1, s2}, Published: pub}, l4test.VIP, vip2)
	reaches(t, n, l4test.VIP, "b2")
	for range 3 {
		if r, err := sock.Ask(udpDst); err != nil || r.Backend != "b2" {
			t.Fatalf("UDP after the change: %+v, %v; want b2", r, err)
		}
	}

	// A VIP goes, and another goes and comes back in the same burst.
	s2.Backends = addr("b1", "b3")
	if err := p.Patch(ctx, []l4.Service{s2}, []l4.Key{{VIP: l4test.VIP}, {VIP: vip2}}); err != nil {
		t.Fatal(err)
	}
	check("a VIP removed", l4.Desired{Services: []l4.Service{s2}, Published: pub}, vip2)
	if r, err := l4test.DialTCP(n.Client, netip.AddrPortFrom(l4test.VIP, l4test.TCPPort)); err == nil {
		t.Fatalf("removed VIP answered by %s", r.Backend)
	}
	reaches(t, n, vip2, "b1", "b3")

	// A VIP left with no known port has no proxy, so no address either.
	s2.KnownPorts = nil
	if err := p.Patch(ctx, []l4.Service{s2}, nil); err != nil {
		t.Fatal(err)
	}
	check("no known ports", l4.Desired{Services: []l4.Service{s2}, Published: pub})
	// The same state again changes nothing.
	if err := p.Patch(ctx, []l4.Service{s2}, []l4.Key{{VIP: l4test.VIP}}); err != nil {
		t.Fatal(err)
	}
	check("nothing changed", l4.Desired{Services: []l4.Service{s2}, Published: pub})
}

// reaches checks that TCP connections to vip's TCP port reach exactly the
// backends ids, from the client's own address.
func reaches(t *testing.T, n *l4test.Net, vip netip.Addr, ids ...string) {
	t.Helper()
	seen := map[string]bool{}
	for range l4test.Tries {
		r, err := l4test.DialTCP(n.Client, netip.AddrPortFrom(vip, l4test.TCPPort))
		if err != nil {
			t.Fatalf("TCP to %s: %v", vip, err)
		}
		if r.Source.Addr() != l4test.ClientAddr {
			t.Fatalf("backend %s saw source %s", r.Backend, r.Source)
		}
		seen[r.Backend] = true
	}
	var got []string
	for id := range seen {
		got = append(got, id)
	}
	slices.Sort(got)
	if !slices.Equal(got, ids) {
		t.Fatalf("TCP to %s reached %v, want %v", vip, got, ids)
	}
}
