//go:build linux

package vip

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
	"github.com/xoverlay/xoverlay/lbproxy/l4/l4test"
)

func TestPick(t *testing.T) {
	l4test.RequireRoot(t)
	if _, _, err := Pick("bogus"); err == nil || !strings.Contains(err.Error(), "want auto, ipvs, nftables or userspace") {
		t.Fatalf("Pick(bogus): %v", err)
	}
	if p, _, err := Pick(l4.PlaneUserspace); err != nil || p != l4.PlaneUserspace {
		t.Fatalf("Pick(userspace) = %q, %v", p, err)
	}
	auto, why, err := Pick(PlaneAuto)
	if err != nil || why == "" {
		t.Fatalf("Pick(auto) = %q (%s), %v", auto, why, err)
	}
	// Asking for what auto did not pick (unless it is userspace) names the problem.
	if auto != l4.PlaneIPVS {
		if _, _, err := Pick(l4.PlaneIPVS); err == nil || !strings.Contains(err.Error(), "--lb-dataplane auto") {
			t.Fatalf("Pick(ipvs) on a kernel without it: %v", err)
		}
	}
	t.Logf("auto picks %s: %s", auto, why)
}

// Every plane Opener makes balances an address-only VIP in a namespace
// (the userspace one on its known ports).
func TestOpenerPlanes(t *testing.T) {
	for _, name := range []string{l4.PlaneNFTables, l4.PlaneUserspace} {
		t.Run(name, func(t *testing.T) {
			n := l4test.NewNet(t, 2)
			p, err := Opener(name, testLog(t), nil)(n.Client.Path())
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if err := p.Apply(context.Background(), l4test.AllPortsState(n)); err != nil {
				t.Fatal(err)
			}
			r, err := l4test.DialTCP(n.Client, netip.AddrPortFrom(l4test.VIP, l4test.TCPPort))
			if err != nil || r.Source.Addr() != l4test.ClientAddr {
				t.Fatalf("through the VIP: %+v, %v", r, err)
			}
		})
	}
	if _, err := Opener("bogus", nil, nil)("/proc/self/ns/net"); err == nil {
		t.Fatal("an unknown plane opened")
	}
}
