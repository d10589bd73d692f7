//go:build linux

package userspace

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
	"github.com/xoverlay/xoverlay/lbproxy/l4/l4test"
)

func testLog(t testing.TB) *slog.Logger { return l4test.Logger(t) }

func newPlane(t testing.TB, path string, opt Options) *Plane {
	t.Helper()
	opt.Log = testLog(t)
	p, err := New(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func loAddrs(t *testing.T, ns *l4test.NS) []netlink.Addr {
	t.Helper()
	lo, err := ns.Link().LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := ns.Link().AddrList(lo, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	return addrs
}

func TestSuite(t *testing.T) {
	l4test.Run(t, l4test.Harness{
		New: func(t *testing.T, path string) l4.DataPlane { return newPlane(t, path, Options{}) },
		Break: func(t *testing.T, ns *l4test.NS) {
			lo, err := ns.Link().LinkByName("lo")
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range loAddrs(t, ns) {
				if a.Label == vipLabel {
					if err := ns.Link().AddrDel(lo, &a); err != nil {
						t.Fatal(err)
					}
				}
			}
		},
	})
}

// Close stops the proxies and takes the VIPs off lo; another program
// holding a port is reported, and Reconcile starts the proxy once the port
// is free.
func TestCloseAndPortConflict(t *testing.T) {
	n := l4test.NewNet(t, 1)
	ctx := context.Background()
	d := l4.Desired{Services: []l4.Service{{VIP: l4test.VIP, Port: 80, Proto: l4.TCP, Backends: n.TCPBackends()}}}
	p := newPlane(t, n.Client.Path(), Options{})
	if err := p.Apply(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, a := range loAddrs(t, n.Client) {
		if a.Label == vipLabel {
			t.Fatalf("VIP %s still on lo after Close", a.IP)
		}
	}
	if _, err := l4test.DialTCP(n.Client, netip.AddrPortFrom(l4test.VIP, 80)); err == nil {
		t.Fatal("VIP answered after Close")
	}

	// Backend b1 plays the node: its port 80 is taken by its own server.
	p = newPlane(t, n.Backends[0].Path(), Options{})
	defer p.Close()
	pub := l4.Desired{Published: []l4.Published{{Port: l4test.TCPPort, Proto: l4.TCP, Backends: n.TCPBackends()}}}
	err := p.Apply(ctx, pub)
	if err == nil || !strings.Contains(err.Error(), "free the port") {
		t.Fatalf("apply on a taken port: %v, want an error saying so", err)
	}
	if fixes, _ := p.Reconcile(ctx); fixes != 1 {
		t.Fatalf("reconcile while the port is taken: %d attempts, want 1", fixes)
	}
}

// A UDP flow that stays silent for UDPIdle is closed; the next datagram
// opens a new one.
func TestUDPIdleFlowClosed(t *testing.T) {
	n := l4test.NewNet(t, 1)
	p := newPlane(t, n.Client.Path(), Options{UDPIdle: 300 * time.Millisecond})
	defer p.Close()
	d := l4.Desired{Services: []l4.Service{{VIP: l4test.VIP, Port: 53, Proto: l4.UDP, Backends: n.UDPBackends()}}}
	if err := p.Apply(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	sock := l4test.NewUDPSocket(t, n.Client)
	dst := netip.AddrPortFrom(l4test.VIP, 53)
	if _, err := sock.Ask(dst); err != nil {
		t.Fatal(err)
	}
	f := p.fronts[l4.Key{VIP: l4test.VIP, Proto: l4.UDP, Port: 53}]
	flows := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.flows)
	}
	if flows() != 1 {
		t.Fatalf("%d flows after one ask, want 1", flows())
	}
	deadline := time.Now().Add(5 * time.Second)
	for flows() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("idle UDP flow never closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := sock.Ask(dst); err != nil {
		t.Fatalf("ask after the flow idled out: %v", err)
	}
}
