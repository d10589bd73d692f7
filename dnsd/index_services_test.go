package dnsd

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// flatIndex is an index as plain maps, without its sharding: two indexes
// answer alike when their flatIndexes are equal.
type flatIndex struct {
	Nets      []netInfo
	NetByName map[string]int32
	NetByID   map[string]int32
	Names     map[string][]rec
	Services  map[string][2][]rec // vips, members
	Tasks     map[string][]rec
	Zone      map[string]bool
	Ptr       map[netip.Addr]ptrRec
	Contested map[netip.Addr]struct{}
	Scopes    map[netip.Addr]scope
	Subnets   []netip.Prefix
}

// flatten checks the sharded maps (each key in the shard its hash picks,
// counts right) and returns ix as plain maps; empty slices and maps are
// nil so that how a value was made does not matter.
func flatten(t *testing.T, ix *index) flatIndex {
	t.Helper()
	f := flatIndex{Nets: ix.nets, NetByName: ix.netByName, NetByID: ix.netByID, Names: ix.names, Tasks: ix.tasks,
		Contested: ix.contested, Scopes: ix.scopes, Subnets: ix.subnets,
		Services: map[string][2][]rec{}, Zone: map[string]bool{}, Ptr: map[netip.Addr]ptrRec{}}
	for k, v := range flatShards(t, "services", ix.services, strHash) {
		f.Services[k] = [2][]rec{orNil(v.vips), orNil(v.members)}
	}
	for k := range flatShards(t, "zone", ix.zone, strHash) {
		f.Zone[k] = true
	}
	maps.Copy(f.Ptr, flatShards(t, "ptr", ix.ptr, addrHash))
	if len(f.Contested) == 0 {
		f.Contested = nil
	}
	return f
}

func flatShards[K comparable, V any](t *testing.T, what string, m shardMap[K, V], hash func(K) uint64) map[K]V {
	t.Helper()
	out := map[K]V{}
	for i, l := range m.slots {
		if n := len(l); n&(n-1) != 0 || n > maxShards {
			t.Fatalf("%s: slot %d has %d shards", what, i, n)
		}
		for j, s := range l {
			for k, v := range s {
				if gi, b := pos(hash(k)); gi != uint64(i) || b&uint64(len(l)-1) != uint64(j) {
					t.Fatalf("%s: %v in shard (%d, %d), its hash picks (%d, %d)", what, k, i, j, gi, b&uint64(len(l)-1))
				}
				out[k] = v
			}
		}
	}
	if len(out) != m.n {
		t.Fatalf("%s: %d entries, n = %d", what, len(out), m.n)
	}
	return out
}

func orNil(rs []rec) []rec {
	if len(rs) == 0 {
		return nil
	}
	return rs
}

// serviceModel is the listed services of a snapshot by ID, as the agent
// keeps them, over fixed networks and endpoints.
type serviceModel struct {
	rng      *rand.Rand
	base     Snapshot
	svcs     map[string]Service
	nextHost int
}

// Service names: s3 is also a network, imp an implicit service (endpoints
// only), s5 a container name, s1 and s2 have task endpoints.
var modelNames = []string{"s0", "s1", "s2", "s3", "s4", "s5", "imp"}

func newServiceModel(seed uint64) *serviceModel {
	front := Network{ID: "na", Name: "front", Subnet: netip.MustParsePrefix("10.1.0.0/24")}
	back := Network{ID: "nb", Name: "back", Subnet: netip.MustParsePrefix("10.2.0.0/24")}
	s3 := Network{ID: "nc", Name: "S3", Subnet: netip.MustParsePrefix("10.3.0.0/24")}
	return &serviceModel{
		rng: rand.New(rand.NewPCG(seed, 7)),
		base: Snapshot{
			Networks: []Network{front, back, s3},
			Endpoints: []Endpoint{
				task("na", "t1a", "10.1.0.10", "s1", "s1-1", true),
				task("na", "t1b", "10.1.0.11", "s1", "s1-2", false),
				task("nb", "t1c", "10.2.0.10", "S1", "s1-3", true),
				task("nb", "t2a", "10.2.0.11", "s2", "s2-1", true),
				task("nc", "tia", "10.3.0.10", "imp", "imp-1", true),
				task("na", "tib", "10.1.0.12", "imp", "imp-2", true),
				task("nb", "t4a", "10.2.0.12", "s4", "s4-1", false),
				ep("na", "c5", "10.1.0.13", true, "s5", "five"),
				ep("nc", "c6", "10.3.0.14", true, "plain"),
				{NetworkID: "na", ContainerID: "v6", IP: netip.MustParseAddr("fd00::6"), Names: []string{"six"}, Service: "s2", InService: true},
				{NetworkID: "gone", ContainerID: "ghost", IP: netip.MustParseAddr("10.9.0.1"), Names: []string{"ghost"}, Service: "s0", InService: true},
			},
		},
		svcs:     map[string]Service{},
		nextHost: 100,
	}
}

// snapshot is the full snapshot of the model, services ordered by name
// as the agent lists them.
func (m *serviceModel) snapshot() Snapshot {
	snap := m.base
	snap.Services = slices.SortedFunc(maps.Values(m.svcs), func(a, b Service) int { return strings.Compare(a.Name, b.Name) })
	return snap
}

// vips makes fresh VIPs, never used before, on some of the networks, an
// unknown one and with odd forms now and then.
func (m *serviceModel) vips() map[string]netip.Addr {
	out := map[string]netip.Addr{}
	for i, id := range []string{"na", "nb", "nc", "gone"} {
		if m.rng.IntN(3) != 0 {
			continue
		}
		m.nextHost++
		a := netip.AddrFrom4([4]byte{10, byte(i + 1), byte(m.nextHost / 250), byte(m.nextHost % 250)})
		switch m.rng.IntN(8) {
		case 0:
			a = netip.AddrFrom16(a.As16()) // v4-mapped: the index unmaps it
		case 1:
			a = netip.Addr{} // not valid: ignored
		}
		out[id] = a
	}
	return out
}

func (m *serviceModel) freeName() (string, bool) {
	used := map[string]bool{}
	for _, s := range m.svcs {
		used[strings.ToLower(s.Name)] = true
	}
	var free []string
	for _, n := range modelNames {
		if !used[n] {
			free = append(free, n)
		}
	}
	if len(free) == 0 {
		return "", false
	}
	name := free[m.rng.IntN(len(free))]
	if m.rng.IntN(4) == 0 {
		name = strings.ToUpper(name) // names are case-insensitive
	}
	return name, true
}

func (m *serviceModel) mode() string {
	if m.rng.IntN(3) == 0 {
		return ModeDNSRR
	}
	return ModeVIP
}

// step makes one random change and returns the ID it touched.
func (m *serviceModel) step() string {
	ids := slices.Sorted(maps.Keys(m.svcs))
	op := m.rng.IntN(5)
	if len(ids) == 0 {
		op = 0
	}
	if op == 0 {
		name, ok := m.freeName()
		if !ok {
			op = 4
		} else {
			id := fmt.Sprintf("id%d", m.nextHost)
			m.nextHost++
			m.svcs[id] = Service{Name: name, Mode: m.mode(), VIPs: m.vips()}
			return id
		}
	}
	id := ids[m.rng.IntN(len(ids))]
	s := m.svcs[id]
	switch op {
	case 1: // new VIPs, maybe on other networks
		s.VIPs = m.vips()
	case 2:
		name, ok := m.freeName()
		if ok {
			s.Name = name
		}
	case 3:
		if s.Mode == ModeVIP {
			s.Mode = ModeDNSRR
		} else {
			s.Mode = ModeVIP
		}
	case 4:
		delete(m.svcs, id)
		return id
	}
	m.svcs[id] = s
	return id
}

// TestUpdateServicesMatchesRebuild applies random bursts of service
// creates, VIP changes, renames, mode switches and removes through
// UpdateServices, as the agent does, and checks after each that the index
// is the one buildIndex makes of the whole snapshot, and that the index
// it replaced was not changed.
func TestUpdateServicesMatchesRebuild(t *testing.T) {
	for seed := range uint64(60) {
		m := newServiceModel(seed)
		for range 3 {
			m.step()
		}
		s := newTestServer(t, testConfig(), m.snapshot())
		for step := range 40 {
			before := maps.Clone(m.svcs)
			touched := map[string]bool{}
			for range 1 + m.rng.IntN(3) {
				touched[m.step()] = true
			}
			var changed []Service
			var removed []string
			for id := range touched {
				old, had := before[id]
				cur, ok := m.svcs[id]
				if had && (!ok || old.Name != cur.Name) {
					removed = append(removed, old.Name)
				}
				if ok {
					changed = append(changed, cur)
				}
			}
			prev := s.idx.Load()
			prevFlat := flatten(t, prev)
			if !s.UpdateServices(changed, removed) {
				t.Fatalf("seed %d step %d: change refused without shared addresses", seed, step)
			}
			snap := m.snapshot()
			if got, want := flatten(t, s.idx.Load()), flatten(t, buildIndex(snap)); !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d step %d: changed %+v removed %v\nincremental %+v\nrebuilt     %+v",
					seed, step, changed, removed, got, want)
			}
			if !reflect.DeepEqual(flatten(t, prev), prevFlat) {
				t.Fatalf("seed %d step %d: the published index was changed", seed, step)
			}
			if got, want := testutil.ToFloat64(s.m.records), float64(buildIndex(snap).size()); got != want {
				t.Fatalf("seed %d step %d: records %v, want %v", seed, step, got, want)
			}
		}
	}
}

// A VIP whose address another record has too is refused, changing
// nothing: which PTR wins is for a rebuild to say.
func TestUpdateServicesSharedAddress(t *testing.T) {
	// other overlaps front: the same address on both.
	other := Network{ID: "nd", Name: "other", Subnet: netip.MustParsePrefix("10.1.0.0/24")}
	snap := Snapshot{
		Networks:  []Network{{ID: "na", Name: "front", Subnet: netip.MustParsePrefix("10.1.0.0/24")}, other},
		Endpoints: []Endpoint{ep("na", "c1", "10.1.0.5", true, "web")},
		Services: []Service{
			{Name: "shared", Mode: ModeVIP, VIPs: map[string]netip.Addr{"nd": netip.MustParseAddr("10.1.0.5")}},
			{Name: "alone", Mode: ModeVIP, VIPs: map[string]netip.Addr{"nd": netip.MustParseAddr("10.1.0.9")}},
		},
	}
	s := newTestServer(t, testConfig(), snap)
	ix := s.idx.Load()
	for _, tc := range []struct {
		what    string
		changed []Service
		removed []string
	}{
		{"drop a contested VIP", nil, []string{"shared"}},
		{"VIP on an endpoint's address", []Service{{Name: "new", Mode: ModeVIP, VIPs: map[string]netip.Addr{"nd": netip.MustParseAddr("10.1.0.5")}}}, nil},
		{"VIP of another service", []Service{{Name: "new", Mode: ModeVIP, VIPs: map[string]netip.Addr{"na": netip.MustParseAddr("10.1.0.9")}}}, nil},
		{"one VIP on two networks", []Service{{Name: "new", Mode: ModeVIP, VIPs: map[string]netip.Addr{
			"na": netip.MustParseAddr("10.1.0.7"), "nd": netip.MustParseAddr("10.1.0.7")}}}, nil},
	} {
		if s.UpdateServices(tc.changed, tc.removed) {
			t.Errorf("%s: applied in place", tc.what)
		}
		if s.idx.Load() != ix {
			t.Fatalf("%s: the index changed", tc.what)
		}
	}
	// Moving alone's VIP to another address frees the old one first.
	moved := Service{Name: "alone", Mode: ModeVIP, VIPs: map[string]netip.Addr{"nd": netip.MustParseAddr("10.1.0.10")}}
	if !s.UpdateServices([]Service{moved}, nil) {
		t.Fatal("an uncontested VIP change refused")
	}
	snap.Services[1] = moved
	if got, want := flatten(t, s.idx.Load()), flatten(t, buildIndex(snap)); !reflect.DeepEqual(got, want) {
		t.Fatalf("incremental %+v\nrebuilt     %+v", got, want)
	}
	if got := testutil.ToFloat64(s.m.updates); got != 2 {
		t.Errorf("updates %v, want 2", got)
	}
	if got := testutil.ToFloat64(s.m.incremental); got != 1 {
		t.Errorf("incremental updates %v, want 1", got)
	}
}

// Services of one name merge, in changed as in a snapshot.
func TestUpdateServicesSameName(t *testing.T) {
	a := Service{Name: "web", Mode: ModeVIP, VIPs: map[string]netip.Addr{"na": netip.MustParseAddr("10.1.0.100")}}
	b := Service{Name: "Web", Mode: ModeVIP, VIPs: map[string]netip.Addr{"na": netip.MustParseAddr("10.1.0.101")}}
	snap := newServiceModel(1).base
	s := newTestServer(t, testConfig(), snap)
	if !s.UpdateServices([]Service{a, b}, nil) {
		t.Fatal("refused")
	}
	snap.Services = []Service{a, b}
	if got, want := flatten(t, s.idx.Load()), flatten(t, buildIndex(snap)); !reflect.DeepEqual(got, want) {
		t.Fatalf("incremental %+v\nrebuilt     %+v", got, want)
	}
}

// An index grown by changes alone (its slots split again and again)
// answers for the services it got, and never changes one it published.
func TestUpdateServicesGrowth(t *testing.T) {
	s := newTestServer(t, testConfig(), Snapshot{Networks: []Network{{ID: "n", Name: "net", Subnet: netip.MustParsePrefix("10.0.0.0/16")}}})
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 2000
	for i := 0; i < n; {
		var batch []Service
		for range 1 + rng.IntN(40) {
			vip := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
			batch = append(batch, Service{Name: fmt.Sprintf("svc%d", i), Mode: ModeVIP, VIPs: map[string]netip.Addr{"n": vip}})
			i++
		}
		prev := s.idx.Load()
		before := flatten(t, prev)
		if !s.UpdateServices(batch, nil) {
			t.Fatalf("services up to %d refused", i)
		}
		if !reflect.DeepEqual(flatten(t, prev), before) {
			t.Fatalf("services up to %d: the published index was changed", i)
		}
	}
	ix := s.idx.Load()
	if !slices.ContainsFunc(ix.services.slots[:], func(l []map[string]*svcRecs) bool { return len(l) > 1 }) {
		t.Fatal("no slot was split")
	}
	r := ask(t, s, srcLoop, "svc1234.", 1)
	if r == nil || len(r.Answer) != 1 || !strings.Contains(r.Answer[0].String(), "10.0.4.210") {
		t.Fatalf("svc1234: %v", r)
	}
	r = ask(t, s, srcLoop, "210.4.0.10.in-addr.arpa.", 12)
	if r == nil || len(r.Answer) != 1 || !strings.Contains(r.Answer[0].String(), "svc1234.net.") {
		t.Fatalf("PTR of svc1234's VIP: %v", r)
	}
}
