//go:build linux

package l4test

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
)

// Addrs lists the backends' addresses with port 0, as an address-only
// VIP takes them.
func (n *Net) Addrs() []netip.AddrPort {
	var out []netip.AddrPort
	for _, b := range n.Backends {
		out = append(out, netip.AddrPortFrom(b.Addr, 0))
	}
	return out
}

// AllPortsState is an address-only VIP in front of n's backends. Its
// known ports are the backends' TCP and UDP ports, so that planes which
// serve known ports only pass too.
func AllPortsState(n *Net) l4.Desired {
	return l4.Desired{Services: []l4.Service{{VIP: VIP, Backends: n.Addrs(),
		KnownPorts: []l4.PortProto{{Port: TCPPort, Proto: l4.TCP}, {Port: UDPPort, Proto: l4.UDP}}}}}
}

// addressOnly: the VIP's ports go to the same port of a backend, keeping
// the client's address; a removed backend gets no new connection and its
// UDP flow moves; without backends, connections are refused.
func addressOnly(t *testing.T, h Harness) {
	n, p := setup(t, h, client)
	d := AllPortsState(n)
	apply(t, p, d)
	tcpDst, udpDst := netip.AddrPortFrom(VIP, TCPPort), netip.AddrPortFrom(VIP, UDPPort)
	tcp := spread(t, func() (Reply, error) { return DialTCP(n.Client, tcpDst) }, fromClient)
	wantBackends(t, "TCP to the address-only VIP", tcp, "b1", "b2", "b3")
	udp := spread(t, func() (Reply, error) { return AskUDP(t, n.Client, udpDst) }, fromClient)
	wantBackends(t, "UDP to the address-only VIP", udp, "b1", "b2", "b3")
	if fixes, err := p.Reconcile(context.Background()); err != nil || fixes != 0 {
		t.Fatalf("reconcile after apply: %d fixes, %v; want 0, nil", fixes, err)
	}

	sock := NewUDPSocket(t, n.Client)
	first, err := sock.Ask(udpDst)
	if err != nil {
		t.Fatal(err)
	}
	gone := netip.AddrPortFrom(n.Backend(first.Backend).Addr, 0)
	d.Services[0].Backends = slices.DeleteFunc(n.Addrs(), func(b netip.AddrPort) bool { return b == gone })
	apply(t, p, d)
	for range 3 {
		r, err := sock.Ask(udpDst)
		if err != nil {
			t.Fatal(err)
		}
		if r.Backend == first.Backend {
			t.Fatalf("UDP flow still answered by removed backend %s", r.Backend)
		}
	}
	tcp = spread(t, func() (Reply, error) { return DialTCP(n.Client, tcpDst) }, fromClient)
	if _, ok := tcp[first.Backend]; ok || len(tcp) != 2 {
		t.Fatalf("TCP after %s's removal reached %v", first.Backend, tcp)
	}

	d.Services[0].Backends = nil
	apply(t, p, d)
	if r, err := DialTCP(n.Client, tcpDst); err == nil {
		t.Fatalf("address-only VIP without backends answered by %s", r.Backend)
	}
	apply(t, p, l4.Desired{})
	if fixes, err := p.Reconcile(context.Background()); err != nil || fixes != 0 {
		t.Fatalf("reconcile after removing everything: %d fixes, %v; want 0, nil", fixes, err)
	}
}
