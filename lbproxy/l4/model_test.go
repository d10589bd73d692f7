package l4

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func aps(s ...string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, x := range s {
		out = append(out, netip.MustParseAddrPort(x))
	}
	return out
}

var vip = netip.MustParseAddr("10.0.0.100")

func TestFrontendsCanonical(t *testing.T) {
	d := Desired{
		Services:  []Service{{VIP: vip, Port: 80, Proto: TCP, Backends: aps("10.0.0.3:80", "10.0.0.2:80")}},
		Published: []Published{{Port: 8080, Proto: UDP}},
	}
	f, err := d.Frontends()
	if err != nil {
		t.Fatal(err)
	}
	if got := f[Key{VIP: vip, Proto: TCP, Port: 80}]; !slices.Equal(got, aps("10.0.0.2:80", "10.0.0.3:80")) {
		t.Fatalf("backends not sorted: %v", got)
	}
	if got, ok := f[Key{Proto: UDP, Port: 8080}]; !ok || got == nil || len(got) != 0 {
		t.Fatalf("published port without backends: %v, %v (want an empty, non-nil list)", got, ok)
	}
	if !slices.Equal(d.Services[0].Backends, aps("10.0.0.3:80", "10.0.0.2:80")) {
		t.Fatal("Frontends reordered the caller's list")
	}
	keys := f.SortedKeys()
	if !keys[0].Published() || keys[0].String() != "*:8080/udp" || keys[1].String() != "10.0.0.100:80/tcp" {
		t.Fatalf("keys %v", keys)
	}
}

func TestFrontendsRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		d    Desired
		want string
	}{
		"duplicate service":   {Desired{Services: []Service{{VIP: vip, Port: 80, Proto: TCP}, {VIP: vip, Port: 80, Proto: TCP}}}, "listed twice"},
		"duplicate published": {Desired{Published: []Published{{Port: 80, Proto: TCP}, {Port: 80, Proto: TCP}}}, "listed twice"},
		"duplicate backend":   {Desired{Services: []Service{{VIP: vip, Port: 80, Proto: TCP, Backends: aps("10.0.0.2:80", "10.0.0.2:80")}}}, "listed twice"},
		"port 0":              {Desired{Published: []Published{{Port: 0, Proto: TCP}}}, "port 0"},
		"backend port 0":      {Desired{Services: []Service{{VIP: vip, Port: 80, Proto: TCP, Backends: aps("10.0.0.2:0")}}}, "non-zero port"},
		"bad proto":           {Desired{Services: []Service{{VIP: vip, Port: 80, Proto: 1}}}, "tcp or udp"},
		"ipv6 vip":            {Desired{Services: []Service{{VIP: netip.MustParseAddr("fd00::1"), Port: 80, Proto: TCP}}}, "IPv4"},
		"loopback vip":        {Desired{Services: []Service{{VIP: netip.MustParseAddr("127.0.0.5"), Port: 80, Proto: TCP}}}, "127.0.0.0/8"},
		"no vip":              {Desired{Services: []Service{{Port: 80, Proto: TCP}}}, "VIP must be"},
		"ipv6 backend":        {Desired{Services: []Service{{VIP: vip, Port: 80, Proto: TCP, Backends: aps("[fd00::2]:80")}}}, "IPv4"},
		"bad mesh source":     {Desired{MeshSource: []SNAT{{Source: vip}}}, "mesh source"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tc.d.Frontends()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestParseProto(t *testing.T) {
	for in, want := range map[string]Proto{"": TCP, "tcp": TCP, "UDP": UDP} {
		if got, err := ParseProto(in); err != nil || got != want {
			t.Errorf("ParseProto(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseProto("sctp"); err == nil {
		t.Error("sctp accepted")
	}
}

func TestDiff(t *testing.T) {
	a := Key{VIP: vip, Proto: TCP, Port: 80}
	b := Key{VIP: vip, Proto: UDP, Port: 53}
	c := Key{Proto: TCP, Port: 8080}
	old := Frontends{a: aps("10.0.0.2:80", "10.0.0.3:80"), b: aps("10.0.0.2:53"), c: aps("10.0.0.2:80")}
	next := Frontends{a: aps("10.0.0.3:80", "10.0.0.4:80"), c: aps("10.0.0.2:80"), {Proto: UDP, Port: 9}: {}}
	got := Diff(old, next)
	want := []Delta{
		{Op: OpAdd, Key: Key{Proto: UDP, Port: 9}, Backends: []netip.AddrPort{}},
		{Op: OpUpdate, Key: a, Backends: aps("10.0.0.3:80", "10.0.0.4:80"), Gone: aps("10.0.0.2:80")},
		{Op: OpRemove, Key: b, Gone: aps("10.0.0.2:53")},
	}
	if len(got) != len(want) {
		t.Fatalf("diff %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Op != w.Op || g.Key != w.Key || !slices.Equal(g.Backends, w.Backends) || !slices.Equal(g.Gone, w.Gone) {
			t.Errorf("delta %d: %+v, want %+v", i, g, w)
		}
	}
	if d := Diff(next, next.Clone()); len(d) != 0 {
		t.Errorf("diff of equal states: %+v", d)
	}
}

// Gauges of several planes add up, and a closed plane withdraws its share.
func TestMetricsGaugesAddUp(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Fatalf("second registration: %v", err)
	}
	g1, g2 := m.Gauges(), m.Gauges()
	g1.Set(Frontends{{VIP: vip, Proto: TCP, Port: 80}: aps("10.0.0.2:80", "10.0.0.3:80")})
	g2.Set(Frontends{{VIP: vip, Proto: TCP, Port: 80}: aps("10.0.0.2:80"), {Proto: TCP, Port: 1}: aps("10.0.0.2:80")})
	g1.Set(Frontends{{VIP: vip, Proto: TCP, Port: 80}: aps("10.0.0.2:80")})
	if v := testutil.ToFloat64(m.services.WithLabelValues("vip")); v != 2 {
		t.Errorf("vip services = %v, want 2", v)
	}
	if v := testutil.ToFloat64(m.backends.WithLabelValues("vip")); v != 2 {
		t.Errorf("vip backends = %v, want 2", v)
	}
	g2.Clear()
	if v := testutil.ToFloat64(m.services.WithLabelValues("published")); v != 0 {
		t.Errorf("published services after Clear = %v, want 0", v)
	}
	m.Fixed(PlaneNFTables, 2)
	m.SetPlane(PlaneUserspace)
	if v := testutil.ToFloat64(m.info.WithLabelValues(PlaneUserspace)); v != 1 {
		t.Errorf("info{userspace} = %v", v)
	}
	var nilM *Metrics // a nil Metrics records nothing and does not panic
	nilM.SetPlane(PlaneNFTables)
	nilM.Gauges().Set(Frontends{})
	nilM.Fixed(PlaneNFTables, 1)
}
