package dnsd

import (
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestParseReverse(t *testing.T) {
	tests := []struct {
		name string
		want string // "" = not an address
	}{
		{"4.3.2.1.in-addr.arpa", "1.2.3.4"},
		{"0.0.0.0.in-addr.arpa", "0.0.0.0"},
		{"255.255.255.255.in-addr.arpa", "255.255.255.255"},
		{"256.0.0.1.in-addr.arpa", ""},
		{"01.0.0.1.in-addr.arpa", ""},
		{"3.2.1.in-addr.arpa", ""},
		{"5.4.3.2.1.in-addr.arpa", ""},
		{"a.0.0.1.in-addr.arpa", ""},
		{"..0.1.in-addr.arpa", ""},
		{"in-addr.arpa", ""},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", "2001:db8::1"},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.ip6.arpa", ""},
		{"g.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", ""},
		{"example.com", ""},
	}
	for _, tc := range tests {
		got, ok := parseReverse(tc.name)
		if tc.want == "" {
			if ok {
				t.Errorf("%s: %s, want no address", tc.name, got)
			}
			continue
		}
		if !ok || got != netip.MustParseAddr(tc.want) {
			t.Errorf("%s: %v %v, want %s", tc.name, got, ok, tc.want)
		}
	}
}

func TestIsCluster(t *testing.T) {
	ix := buildIndex(fixture())
	tests := map[string]bool{
		"db":                 true, // single label
		"anything":           true,
		"db.backend":         true, // ends in a network
		"x.y.backend":        true,
		"tasks.api":          true, // ends in a service
		"api-1.api":          true,
		"worker-1.worker":    true, // implicit service
		"example.com":        false,
		"backend.example":    false,
		"db.backend.example": false,
	}
	for name, want := range tests {
		if got := ix.IsCluster(name); got != want {
			t.Errorf("IsCluster(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestDottedNames(t *testing.T) {
	snap := Snapshot{
		Networks: []Network{{ID: "n1", Name: "my.net", Subnet: netip.MustParsePrefix("10.5.0.0/24")}},
		Endpoints: []Endpoint{
			{NetworkID: "n1", ContainerID: "c1", IP: netip.MustParseAddr("10.5.0.2"), Names: []string{"db.internal", "Web"}, InService: true},
		},
	}
	ix := buildIndex(snap)
	all := scope{all: true}
	for name, want := range map[string]int{
		"db.internal":        1, // an alias with a dot is a cluster name
		"web.my.net":         1, // NAME.NET with a dotted network name
		"db.internal.my.net": 1,
		"web.net":            0,
	} {
		if got := len(ix.ResolveName(name, all, nil)); got != want {
			t.Errorf("%s: %d addresses, want %d", name, got, want)
		}
		if want > 0 && !ix.IsCluster(name) {
			t.Errorf("%s is not a cluster name", name)
		}
	}
}

func TestScope(t *testing.T) {
	ix := buildIndex(fixture())
	sc := ix.Scope(netip.MustParseAddr(srcWeb))
	if len(sc.nets) != 2 || sc.all {
		t.Fatalf("web's scope %+v, want frontend and backend", sc)
	}
	// Every address of a container gives the same scope.
	if sc2 := ix.Scope(netip.MustParseAddr("10.2.0.2")); len(sc2.nets) != 2 {
		t.Fatalf("web's backend address: scope %+v", sc2)
	}
	if sc := ix.Scope(netip.MustParseAddr(srcUnknown)); sc.all || len(sc.nets) != 0 {
		t.Fatalf("unknown source: scope %+v", sc)
	}
	big := scope{nets: []int32{1, 3, 5, 7, 9, 11, 13, 15, 17, 19}}
	for n := int32(0); n < 21; n++ {
		if got := big.has(n); got != (n%2 == 1) {
			t.Errorf("has(%d) = %v", n, got)
		}
	}
}

func TestRateLimit(t *testing.T) {
	cfg := testConfig()
	cfg.ClientQPS = 5
	s := newTestServer(t, cfg, fixture())
	clock := time.Unix(1000, 0)
	rl := s.chain.(*rateLimit)
	rl.now = func() time.Time { return clock }

	count := func(src string, n int) (ok, refused int) {
		for range n {
			switch ask(t, s, src, "db.", 1).Rcode {
			case 0:
				ok++
			case 5:
				refused++
			}
		}
		return ok, refused
	}
	if ok, refused := count(srcWeb, 8); ok != 5 || refused != 3 {
		t.Fatalf("burst: %d answered, %d refused; want 5 and 3", ok, refused)
	}
	if ok, _ := count(srcSick, 5); ok != 5 {
		t.Fatalf("another source: %d answered, want 5", ok)
	}
	if ok, _ := count(srcLoop, 50); ok != 50 {
		t.Fatalf("loopback is limited: %d answered", ok)
	}
	clock = clock.Add(400 * time.Millisecond) // 2 tokens
	if ok, refused := count(srcWeb, 3); ok != 2 || refused != 1 {
		t.Fatalf("refill: %d answered, %d refused; want 2 and 1", ok, refused)
	}
	if got := testutil.ToFloat64(s.m.ratelimited); got != 4 {
		t.Fatalf("ratelimited %v, want 4", got)
	}
}

func TestRateLimitBounded(t *testing.T) {
	rl := newRateLimit(10, nil)
	clock := time.Unix(1000, 0)
	rl.now = func() time.Time { return clock }
	for i := range maxLimited + 10 {
		rl.allow(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	if n := len(rl.buckets); n > maxLimited {
		t.Fatalf("%d buckets, bound %d", n, maxLimited)
	}
	clock = clock.Add(2 * time.Second) // all refilled: pruned on the next new source
	for i := range maxLimited {
		rl.allow(netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	if n := len(rl.buckets); n > maxLimited {
		t.Fatalf("%d buckets, bound %d", n, maxLimited)
	}
}
