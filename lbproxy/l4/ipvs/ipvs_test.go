//go:build linux

package ipvs

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/moby/ipvs"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
)

// The probe agrees with /proc/net/ip_vs, which exists only with ip_vs.
func TestProbe(t *testing.T) {
	_, statErr := os.Stat("/proc/net/ip_vs")
	err := Probe()
	switch {
	case statErr == nil && err != nil:
		t.Fatalf("kernel has ip_vs, probe says: %v", err)
	case statErr != nil && !errors.Is(err, ErrUnavailable):
		t.Fatalf("kernel without ip_vs, probe says %v, want ErrUnavailable", err)
	case statErr != nil:
		if _, err := New("/proc/self/ns/net", nil, nil); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("New without ip_vs: %v, want ErrUnavailable", err)
		}
	}
}

// fakeIPVS keeps services and destinations as strings.
type fakeIPVS struct {
	svcs map[string][]string // "addr:port/proto" -> sorted "addr:port"
}

func svcName(s *ipvs.Service) string {
	k, _ := keyOf(s)
	return k.String()
}

func destName(d *ipvs.Destination) string {
	ip, _ := netip.AddrFromSlice(d.Address.To4())
	return netip.AddrPortFrom(ip, d.Port).String()
}

func (f *fakeIPVS) GetServices() ([]*ipvs.Service, error) {
	var out []*ipvs.Service
	for name := range f.svcs {
		k := parseKey(name)
		out = append(out, service(k))
	}
	return out, nil
}

func parseKey(s string) l4.Key {
	addr, proto, _ := strings.Cut(s, "/")
	ap := netip.MustParseAddrPort(addr)
	p, _ := l4.ParseProto(proto)
	return l4.Key{VIP: ap.Addr(), Port: ap.Port(), Proto: p}
}

func (f *fakeIPVS) NewService(s *ipvs.Service) error {
	if _, ok := f.svcs[svcName(s)]; ok {
		return errors.New("exists")
	}
	f.svcs[svcName(s)] = []string{}
	return nil
}

func (f *fakeIPVS) DelService(s *ipvs.Service) error {
	delete(f.svcs, svcName(s))
	return nil
}

func (f *fakeIPVS) GetDestinations(s *ipvs.Service) ([]*ipvs.Destination, error) {
	var out []*ipvs.Destination
	for _, d := range f.svcs[svcName(s)] {
		out = append(out, destination(netip.MustParseAddrPort(d)))
	}
	return out, nil
}

func (f *fakeIPVS) NewDestination(s *ipvs.Service, d *ipvs.Destination) error {
	ds := append(f.svcs[svcName(s)], destName(d))
	slices.Sort(ds)
	f.svcs[svcName(s)] = ds
	return nil
}

func (f *fakeIPVS) DelDestination(s *ipvs.Service, d *ipvs.Destination) error {
	f.svcs[svcName(s)] = slices.DeleteFunc(f.svcs[svcName(s)], func(x string) bool { return x == destName(d) })
	return nil
}

func backends(s ...string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, x := range s {
		out = append(out, netip.MustParseAddrPort(x))
	}
	return out
}

func TestApplyAndReconcile(t *testing.T) {
	f := &fakeIPVS{svcs: map[string][]string{}}
	p := newPlane(f, nil, nil, nil)
	ctx := context.Background()
	vip := netip.MustParseAddr("10.0.0.100")
	d := l4.Desired{Services: []l4.Service{
		{VIP: vip, Port: 80, Proto: l4.TCP, Backends: backends("10.0.0.2:80", "10.0.0.3:80")},
		{VIP: vip, Port: 53, Proto: l4.UDP, Backends: backends("10.0.0.2:53")},
	}}
	if err := p.Apply(ctx, d); err != nil {
		t.Fatal(err)
	}
	d.Services[0].Backends = backends("10.0.0.3:80", "10.0.0.4:80")
	d.Services = d.Services[:1]
	if err := p.Apply(ctx, d); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"10.0.0.100:80/tcp": {"10.0.0.3:80", "10.0.0.4:80"}}
	if !equal(f.svcs, want) {
		t.Fatalf("ipvs state %v, want %v", f.svcs, want)
	}
	// Drift: a stale service, a lost backend, a foreign backend.
	f.svcs["10.0.0.101:80/tcp"] = []string{"10.0.0.9:80"}
	f.svcs["10.0.0.100:80/tcp"] = []string{"10.0.0.4:80", "10.0.0.9:80"}
	fixes, err := p.Reconcile(ctx)
	if err != nil || fixes != 3 {
		t.Fatalf("reconcile: %d fixes, %v; want 3, nil", fixes, err)
	}
	if !equal(f.svcs, want) {
		t.Fatalf("ipvs state after reconcile %v, want %v", f.svcs, want)
	}
	if err := p.Apply(ctx, l4.Desired{Published: []l4.Published{{Port: 8080, Proto: l4.TCP}}}); err == nil {
		t.Fatal("published ports accepted by the IPVS plane")
	}
}

func equal(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
