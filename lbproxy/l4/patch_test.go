package l4

import (
	"maps"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// indexOf builds the index of f the way a plane keeps it: through the
// deltas that bring an empty state to f.
func indexOf(f Frontends) *VIPIndex {
	x := &VIPIndex{}
	x.Update(Diff(Frontends{}, f))
	return x
}

// applyDeltas returns f after deltas, as a plane's applied map becomes.
func applyDeltas(f Frontends, deltas []Delta) Frontends {
	out := f.Clone()
	for _, d := range deltas {
		if d.Op == OpRemove {
			delete(out, d.Key)
		} else {
			out[d.Key] = d.Backends
		}
	}
	return out
}

func TestPatchPerPort(t *testing.T) {
	v1, v2, v3 := vip, vip.Next(), vip.Next().Next()
	known := []PortProto{{80, TCP}, {53, UDP}}
	base := Desired{
		Services: []Service{
			{VIP: v1, Backends: aps("10.0.0.2:0", "10.0.0.3:0"), KnownPorts: known},
			{VIP: v2, Port: 443, Proto: TCP, Backends: aps("10.0.0.4:8443")},
		},
		Published: []Published{{Port: 8080, Proto: TCP, Backends: aps("10.0.0.9:80")}},
	}
	applied, err := base.PerPort().Frontends()
	if err != nil {
		t.Fatal(err)
	}
	k80, k53 := Key{VIP: v1, Proto: TCP, Port: 80}, Key{VIP: v1, Proto: UDP, Port: 53}
	k443 := Key{VIP: v2, Proto: TCP, Port: 443}
	for _, tc := range []struct {
		name      string
		upsert    []Service
		remove    []Key
		old, next Frontends
		err       bool
	}{
		{name: "nothing", old: Frontends{}, next: Frontends{}},
		{
			name:   "a new VIP",
			upsert: []Service{{VIP: v3, Backends: aps("10.0.0.5:0"), KnownPorts: known[:1]}},
			old:    Frontends{},
			next:   Frontends{{VIP: v3, Proto: TCP, Port: 80}: aps("10.0.0.5:80")},
		},
		{
			name:   "a VIP loses a known port and a backend",
			upsert: []Service{{VIP: v1, Backends: aps("10.0.0.2:0"), KnownPorts: known[:1]}},
			old:    Frontends{k80: applied[k80], k53: applied[k53]},
			next:   Frontends{k80: aps("10.0.0.2:80")},
		},
		{
			name:   "a VIP goes, by its address-only key",
			remove: []Key{{VIP: v1}},
			old:    Frontends{k80: applied[k80], k53: applied[k53]},
			next:   Frontends{},
		},
		{
			name:   "a port service's VIP goes",
			remove: []Key{{VIP: v2}},
			old:    Frontends{k443: applied[k443]},
			next:   Frontends{},
		},
		{
			name:   "upsert wins over remove",
			upsert: []Service{{VIP: v1, Backends: aps("10.0.0.3:0"), KnownPorts: known}},
			remove: []Key{{VIP: v1}, {VIP: v3}},
			old:    Frontends{k80: applied[k80], k53: applied[k53]},
			next:   Frontends{k80: aps("10.0.0.3:80"), k53: aps("10.0.0.3:53")},
		},
		{
			name: "a port of its own beats the address-only expansion",
			upsert: []Service{
				{VIP: v1, Backends: aps("10.0.0.2:0"), KnownPorts: known},
				{VIP: v1, Port: 53, Proto: UDP, Backends: aps("10.0.0.7:5353")},
			},
			old:  Frontends{k80: applied[k80], k53: applied[k53]},
			next: Frontends{k80: aps("10.0.0.2:80"), k53: aps("10.0.0.7:5353")},
		},
		{name: "an unknown VIP goes: nothing", remove: []Key{{VIP: v3}}, old: Frontends{}, next: Frontends{}},
		{name: "a published port is not the patch's", remove: []Key{{Proto: TCP, Port: 8080}}, err: true},
		{name: "an invalid service", upsert: []Service{{VIP: v3, Port: 80}}, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, next, err := PatchPerPort(applied, indexOf(applied), tc.upsert, tc.remove)
			if tc.err {
				if err == nil {
					t.Fatalf("accepted: old %v next %v", old, next)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(old, tc.old) || !reflect.DeepEqual(next, tc.next) {
				t.Fatalf("old %v next %v\nwant old %v next %v", old, next, tc.old, tc.next)
			}
		})
	}
}

func TestVIPIndex(t *testing.T) {
	var x VIPIndex // the zero value is usable
	a, b := Key{VIP: vip, Proto: TCP, Port: 80}, Key{VIP: vip, Proto: UDP, Port: 53}
	x.Update([]Delta{{Op: OpAdd, Key: a}, {Op: OpAdd, Key: b}, {Op: OpAdd, Key: Key{Proto: TCP, Port: 1}}, {Op: OpAdd, Key: a}})
	if got := x.Keys(vip); len(got) != 2 || !slices.Contains(got, a) || !slices.Contains(got, b) {
		t.Fatalf("keys %v, want %v and %v", got, a, b)
	}
	if got := x.Keys(netip.Addr{}); len(got) != 0 {
		t.Fatalf("published ports indexed: %v", got)
	}
	x.Update([]Delta{{Op: OpUpdate, Key: a}, {Op: OpRemove, Key: b}, {Op: OpRemove, Key: a}})
	if len(x.keys) != 0 {
		t.Fatalf("index after removing everything: %v", x.keys)
	}
}

// randomVIP is a random whole state of one VIP: an address-only service
// (some known ports) and, sometimes, ports of its own.
func randomVIP(r *rand.Rand, v netip.Addr) []Service {
	ports := []PortProto{{80, TCP}, {53, UDP}, {8080, TCP}, {53, TCP}}
	var out []Service
	if r.IntN(4) > 0 {
		s := Service{VIP: v}
		for _, pp := range ports {
			if r.IntN(2) == 0 {
				s.KnownPorts = append(s.KnownPorts, pp)
			}
		}
		for i := range 4 {
			if r.IntN(2) == 0 {
				s.Backends = append(s.Backends, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 1, byte(i + 2)}), 0))
			}
		}
		out = append(out, s)
	}
	for _, pp := range ports {
		if r.IntN(5) == 0 {
			s := Service{VIP: v, Port: pp.Port, Proto: pp.Proto}
			for i := range r.IntN(3) {
				s.Backends = append(s.Backends, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 2, byte(i + 2)}), 9000+pp.Port))
			}
			out = append(out, s)
		}
	}
	return out
}

// A patch diffed with PatchPerPort and applied to the applied frontends
// gives the per-port expansion of the whole new state, patch after patch;
// the index and the gauges follow.
func TestPatchPerPortMatchesWholeState(t *testing.T) {
	vips := make([]netip.Addr, 8)
	for i := range vips {
		vips[i] = netip.AddrFrom4([4]byte{10, 0, 0, byte(100 + i)})
	}
	pub := []Published{{Port: 8080, Proto: TCP, Backends: aps("10.0.3.2:80")}}
	m, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 1))
		whole := map[netip.Addr][]Service{}
		for _, v := range vips {
			if r.IntN(2) == 0 {
				whole[v] = randomVIP(r, v)
			}
		}
		desired := func() Desired {
			d := Desired{Published: pub}
			for _, v := range vips {
				d.Services = append(d.Services, whole[v]...)
			}
			return d
		}
		applied, err := desired().PerPort().Frontends()
		if err != nil {
			t.Fatal(err)
		}
		idx := indexOf(applied)
		g := m.Gauges()
		g.Set(applied)
		for step := range 6 {
			var upsert []Service
			var remove []Key
			for _, v := range vips {
				switch r.IntN(6) {
				case 0:
					upsert = append(upsert, randomVIP(r, v)...)
				case 1:
					remove = append(remove, Key{VIP: v})
				case 2: // in both: upsert wins
					upsert = append(upsert, randomVIP(r, v)...)
					remove = append(remove, Key{VIP: v})
				}
			}
			// The whole new state: the VIPs upsert names are replaced,
			// the others remove names go.
			named := map[netip.Addr]bool{}
			for _, s := range upsert {
				named[s.VIP] = true
			}
			for _, k := range remove {
				if !named[k.VIP] {
					delete(whole, k.VIP)
				}
			}
			for v := range named {
				whole[v] = nil
			}
			for _, s := range upsert {
				whole[s.VIP] = append(whole[s.VIP], s)
			}
			want, err := desired().PerPort().Frontends()
			if err != nil {
				t.Fatal(err)
			}
			old, next, err := PatchPerPort(applied, idx, upsert, remove)
			if err != nil {
				t.Fatalf("seed %d step %d: %v", seed, step, err)
			}
			deltas := Diff(old, next)
			applied = applyDeltas(applied, deltas)
			idx.Update(deltas)
			g.Patch(old, next)
			if !reflect.DeepEqual(applied, want) {
				t.Fatalf("seed %d step %d: patched\n%v\nwant the whole state's\n%v", seed, step, applied, want)
			}
			if !reflect.DeepEqual(sortedIndex(idx), sortedIndex(indexOf(want))) {
				t.Fatalf("seed %d step %d: index %v, want %v", seed, step, sortedIndex(idx), sortedIndex(indexOf(want)))
			}
			if vips, pubs, vb, pb := want.Counts(); g.last != [4]int{vips, pubs, vb, pb} {
				t.Fatalf("seed %d step %d: gauges %v, want %v", seed, step, g.last, [4]int{vips, pubs, vb, pb})
			}
		}
	}
}

func sortedIndex(x *VIPIndex) map[netip.Addr][]Key {
	out := map[netip.Addr][]Key{}
	for v, ks := range x.keys {
		out[v] = slices.SortedFunc(slices.Values(ks), Key.Compare)
	}
	return out
}

// Gauges moved by patches end where a Set of the whole state puts them.
func TestGaugesPatch(t *testing.T) {
	m, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	k1, k2 := Key{VIP: vip, Proto: TCP, Port: 80}, Key{VIP: vip.Next(), Proto: TCP, Port: 80}
	pubK := Key{Proto: TCP, Port: 1}
	applied := Frontends{k1: aps("10.0.0.2:80", "10.0.0.3:80"), pubK: aps("10.0.0.2:80")}
	g := m.Gauges()
	g.Set(applied)
	old := Frontends{k1: applied[k1]}
	next := Frontends{k1: aps("10.0.0.2:80"), k2: aps("10.0.0.4:80", "10.0.0.5:80", "10.0.0.6:80")}
	g.Patch(old, next)
	whole := maps.Clone(applied)
	maps.Copy(whole, next)
	vips, pubs, vb, pb := whole.Counts()
	for _, c := range []struct {
		got  float64
		want int
	}{
		{testutil.ToFloat64(m.services.WithLabelValues("vip")), vips},
		{testutil.ToFloat64(m.services.WithLabelValues("published")), pubs},
		{testutil.ToFloat64(m.backends.WithLabelValues("vip")), vb},
		{testutil.ToFloat64(m.backends.WithLabelValues("published")), pb},
	} {
		if c.got != float64(c.want) {
			t.Fatalf("gauges after a patch %v, want %v", g.last, [4]int{vips, pubs, vb, pb})
		}
	}
	var nilG *Gauges
	nilG.Patch(old, next) // a nil Gauges records nothing and does not panic
	(&Gauges{}).Patch(old, next)
}
