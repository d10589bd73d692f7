//go:build linux

package ipvs

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
)

func TestPatch(t *testing.T) {
	f := &fakeIPVS{svcs: map[string][]string{}}
	p := newPlane(f, nil, nil, nil)
	ctx := context.Background()
	v1, v2 := netip.MustParseAddr("10.0.0.100"), netip.MustParseAddr("10.0.0.101")
	known := []l4.PortProto{{Port: 80, Proto: l4.TCP}, {Port: 53, Proto: l4.UDP}}
	if err := p.Patch(ctx, nil, nil); !errors.Is(err, l4.ErrNeedApply) {
		t.Fatalf("patch before apply: %v, want l4.ErrNeedApply", err)
	}
	d := l4.Desired{Services: []l4.Service{{VIP: v1, Backends: backends("10.0.0.2:0", "10.0.0.3:0"), KnownPorts: known}}}
	if err := p.Apply(ctx, d); err != nil {
		t.Fatal(err)
	}
	// v1 loses a backend and its UDP port, v2 comes.
	err := p.Patch(ctx, []l4.Service{
		{VIP: v1, Backends: backends("10.0.0.3:0"), KnownPorts: known[:1]},
		{VIP: v2, Backends: backends("10.0.0.4:0"), KnownPorts: known[1:]},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"10.0.0.100:80/tcp": {"10.0.0.3:80"}, "10.0.0.101:53/udp": {"10.0.0.4:53"}}
	if !equal(f.svcs, want) {
		t.Fatalf("ipvs state %v, want %v", f.svcs, want)
	}
	if err := p.Patch(ctx, nil, []l4.Key{{VIP: v1}}); err != nil {
		t.Fatal(err)
	}
	delete(want, "10.0.0.100:80/tcp")
	if !equal(f.svcs, want) {
		t.Fatalf("ipvs state after removing %s: %v, want %v", v1, f.svcs, want)
	}
	if fixes, err := p.Reconcile(ctx); err != nil || fixes != 0 {
		t.Fatalf("reconcile after patches: %d fixes, %v; want 0, nil", fixes, err)
	}
	if err := p.Patch(ctx, nil, []l4.Key{{Proto: l4.TCP, Port: 8080}}); err == nil {
		t.Fatal("a published port accepted by Patch")
	}
}

// randomVIP is a random address-only VIP as the VIP tracker makes them.
func randomVIP(r *rand.Rand, v netip.Addr) l4.Service {
	s := l4.Service{VIP: v}
	for _, pp := range []l4.PortProto{{Port: 80, Proto: l4.TCP}, {Port: 53, Proto: l4.UDP}, {Port: 443, Proto: l4.TCP}} {
		if r.IntN(2) == 0 {
			s.KnownPorts = append(s.KnownPorts, pp)
		}
	}
	for i := range 4 {
		if r.IntN(2) == 0 {
			s.Backends = append(s.Backends, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 1, byte(i + 2)}), 0))
		}
	}
	return s
}

// Patches leave IPVS as an Apply of the whole final state leaves it (on a
// plane that saw only that Apply), and the plane's state agrees.
func TestPatchMatchesApply(t *testing.T) {
	ctx := context.Background()
	vips := make([]netip.Addr, 6)
	for i := range vips {
		vips[i] = netip.AddrFrom4([4]byte{10, 0, 0, byte(100 + i)})
	}
	for seed := range uint64(100) {
		r := rand.New(rand.NewPCG(seed, 2))
		whole := map[netip.Addr]l4.Service{}
		desired := func() l4.Desired {
			var d l4.Desired
			for _, v := range vips {
				if s, ok := whole[v]; ok {
					d.Services = append(d.Services, s)
				}
			}
			return d
		}
		for _, v := range vips {
			if r.IntN(2) == 0 {
				whole[v] = randomVIP(r, v)
			}
		}
		f := &fakeIPVS{svcs: map[string][]string{}}
		p := newPlane(f, nil, nil, nil)
		if err := p.Apply(ctx, desired()); err != nil {
			t.Fatal(err)
		}
		for step := range 8 {
			var upsert []l4.Service
			var remove []l4.Key
			for _, v := range vips {
				switch r.IntN(5) {
				case 0:
					remove = append(remove, l4.Key{VIP: v})
					delete(whole, v)
				case 1: // gone and back in one burst: upsert wins
					remove = append(remove, l4.Key{VIP: v})
					fallthrough
				case 2:
					whole[v] = randomVIP(r, v)
					upsert = append(upsert, whole[v])
				}
			}
			if err := p.Patch(ctx, upsert, remove); err != nil {
				t.Fatalf("seed %d step %d: %v", seed, step, err)
			}
			ref := &fakeIPVS{svcs: map[string][]string{}}
			rp := newPlane(ref, nil, nil, nil)
			if err := rp.Apply(ctx, desired()); err != nil {
				t.Fatal(err)
			}
			if !equal(f.svcs, ref.svcs) {
				t.Fatalf("seed %d step %d: after patches %v, after one apply %v", seed, step, f.svcs, ref.svcs)
			}
			if !reflect.DeepEqual(p.applied, rp.applied) {
				t.Fatalf("seed %d step %d: applied %v, want %v", seed, step, p.applied, rp.applied)
			}
			if fixes, err := p.Reconcile(ctx); err != nil || fixes != 0 {
				t.Fatalf("seed %d step %d: reconcile %d fixes, %v; want 0, nil", seed, step, fixes, err)
			}
		}
	}
}
