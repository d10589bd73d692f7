//go:build linux

package nft

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

// TestPatch changes services one by one after an Apply: the kernel ends
// as an Apply of the final state would leave it, and traffic follows.
func TestPatch(t *testing.T) {
	n := l4test.NewNet(t, 2)
	ctx := context.Background()
	p := newPlane(t, n.Client.Path(), nil)
	defer p.Close()
	vip2, vip3 := netip.MustParseAddr("10.77.200.2"), netip.MustParseAddr("10.77.200.3")
	bs := n.TCPBackends()
	if err := p.Patch(ctx, nil, nil); !errors.Is(err, ErrNeedApply) {
		t.Fatalf("patch before apply: %v, want ErrNeedApply", err)
	}
	s1 := l4.Service{VIP: l4test.VIP, Port: 80, Proto: l4.TCP, Backends: bs}
	s2 := l4.Service{VIP: vip2, Port: 80, Proto: l4.TCP, Backends: bs}
	if err := p.Apply(ctx, l4.Desired{Services: []l4.Service{s1, s2}}); err != nil {
		t.Fatal(err)
	}
	s1.Backends = bs[:1]
	s3 := l4.Service{VIP: vip3, Port: 80, Proto: l4.TCP, Backends: bs[1:]}
	if err := p.Patch(ctx, []l4.Service{s1, s3}, []l4.Key{{VIP: vip2, Proto: l4.TCP, Port: 80}, {VIP: vip3, Proto: l4.TCP, Port: 80}}); err != nil {
		t.Fatal(err)
	}
	want, err := l4.Desired{Services: []l4.Service{s1, s3}}.Frontends()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.applied, want) {
		t.Fatalf("applied after the patch %v, want %v", p.applied, want)
	}
	got := chainsOf(t, outside(t, n.Client))
	if wantChains := []string{"out", "post", "pre", "v-10.77.200.1-tcp-80", "v-10.77.200.3-tcp-80"}; !slices.Equal(got, wantChains) {
		t.Fatalf("chains after the patch: %v, want %v", got, wantChains)
	}
	if fixes, err := p.Reconcile(ctx); err != nil || fixes != 0 {
		t.Fatalf("reconcile after the patch: %d fixes, %v; want the kernel as programmed", fixes, err)
	}
	seen := map[string]bool{}
	for range l4test.Tries {
		r, err := l4test.DialTCP(n.Client, netip.AddrPortFrom(l4test.VIP, 80))
		if err != nil {
			t.Fatalf("VIP after the patch: %v", err)
		}
		seen[r.Backend] = true
	}
	if len(seen) != 1 {
		t.Fatalf("after the patch the VIP reached %v, want its one backend", seen)
	}
	if _, err := l4test.DialTCP(n.Client, netip.AddrPortFrom(vip3, 80)); err != nil {
		t.Fatalf("the added VIP: %v", err)
	}
	// An unchanged service changes nothing.
	if err := p.Patch(ctx, []l4.Service{s1}, nil); err != nil {
		t.Fatal(err)
	}
}
