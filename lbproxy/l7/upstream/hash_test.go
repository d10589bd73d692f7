package upstream

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func servers(n int) []srv {
	var out []srv
	for i := range n {
		out = append(out, srv{addr: fmt.Sprintf("10.0.0.%d:80", i+1), weight: 1})
	}
	return out
}

func clientIP(k int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18, byte(k / 256), byte(k)})
}

func TestIPHashStable(t *testing.T) {
	g, peers := newTestGroup(t, IPHash, servers(4), Server{})
	first := map[int]string{}
	load := map[string]int{}
	for k := range 4096 {
		a := pickRelease(g, t0, KeyIP(clientIP(k)))
		first[k] = a
		load[a]++
	}
	for k := range 4096 {
		if a := pickRelease(g, t0, KeyIP(clientIP(k))); a != first[k] {
			t.Fatalf("client %v moved from %s to %s", clientIP(k), first[k], a)
		}
	}
	// Clients of one /24 stay together (k and k+1 share 198.18.x.0/24).
	for k := 0; k < 4096; k += 256 {
		if first[k] != first[k+255] {
			t.Errorf("%v and %v (same /24) on %s and %s", clientIP(k), clientIP(k+255), first[k], first[k+255])
		}
	}
	if len(load) != 4 {
		t.Errorf("16 /24s over 4 servers used %d of them: %v", len(load), load)
	}
	// A down member's clients go elsewhere; the others stay put; back up,
	// they return.
	down := first[0]
	peers[down].Fail(t0)
	for k := range 4096 {
		a := pickRelease(g, t0, KeyIP(clientIP(k)))
		if first[k] != down && a != first[k] {
			t.Fatalf("client %v moved from %s to %s though only %s is down", clientIP(k), first[k], a, down)
		}
		if a == down || a == "" {
			t.Fatalf("client %v sent to %q, down or none", clientIP(k), a)
		}
	}
	peers[down].Success()
	if a := pickRelease(g, t0, KeyIP(clientIP(0))); a != down {
		t.Errorf("client back on %s, want %s", a, down)
	}
}

func TestIPHashIPv6AndNoKey(t *testing.T) {
	g, _ := newTestGroup(t, IPHash, servers(3), Server{})
	a6 := netip.MustParseAddr("fd00::1234")
	first := pickRelease(g, t0, KeyIP(a6))
	for range 10 {
		if a := pickRelease(g, t0, KeyIP(a6)); a != first {
			t.Fatalf("IPv6 client moved from %s to %s", first, a)
		}
	}
	// Without a key (no client address): round robin.
	if got := counts(g, 30, noKey); len(got) != 3 || got[first] != 10 {
		t.Errorf("no key: %v, want round robin over 3", got)
	}
}

func keyOf(k int) Key { return KeyString(fmt.Sprintf("/item/%d", k)) }

// assign maps 20000 keys to members.
func assign(g *Group[string]) map[int]string {
	m := map[int]string{}
	for k := range 20000 {
		m[k] = pickRelease(g, t0, keyOf(k))
	}
	return m
}

func TestHashMinimalRemapping(t *testing.T) {
	five := servers(5)
	g5, _ := newTestGroup(t, Hash, five, Server{})
	before := assign(g5)

	tests := []struct {
		name    string
		servers []srv
		maxMove float64 // fraction of all keys that may move
	}{
		{"remove one", five[:4], 0.20 + 0.05},
		{"add one", servers(6), 1.0/6 + 0.05},
		{"double one's weight", append([]srv{{"10.0.0.1:80", 2, false}}, five[1:]...), 1.0/6 + 0.05},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, _ := newTestGroup(t, Hash, tc.servers, Server{})
			in := map[string]bool{}
			for _, s := range tc.servers {
				in[s.addr] = true
			}
			after := assign(g)
			moved := 0
			for k, a := range after {
				if a == before[k] {
					continue
				}
				moved++
				// A key moves only off a removed member or onto a new or
				// heavier one: never between two unchanged members.
				if in[before[k]] && a != "10.0.0.6:80" && a != "10.0.0.1:80" {
					t.Fatalf("key %d moved from %s to %s, both unchanged", k, before[k], a)
				}
			}
			if f := float64(moved) / float64(len(after)); f > tc.maxMove {
				t.Errorf("%.3f of the keys moved, want at most %.3f", f, tc.maxMove)
			}
		})
	}
}

func TestHashSpreadAndDown(t *testing.T) {
	g, peers := newTestGroup(t, Hash, servers(4), Server{})
	before := assign(g)
	load := map[string]int{}
	for _, a := range before {
		load[a]++
	}
	for a, n := range load {
		if n < 20000/4/2 || n > 20000/4*2 {
			t.Errorf("%s has %d of 20000 keys: ring badly unbalanced %v", a, n, load)
		}
	}
	// A down member behaves as removed: only its keys move, and they come
	// back once it is up.
	down := "10.0.0.2:80"
	peers[down].Fail(t0)
	for k, a := range assign(g) {
		if before[k] != down && a != before[k] {
			t.Fatalf("key %d moved from %s to %s while only %s is down", k, before[k], a, down)
		}
		if a == down {
			t.Fatalf("key %d sent to the down member", k)
		}
	}
	if !peers[down].claim(nanos(at(time.Minute))) { // the probe
		t.Fatal("probe not claimed")
	}
	peers[down].Release()
	peers[down].Success()
	for k, a := range assign(g) {
		if a != before[k] {
			t.Fatalf("key %d on %s after recovery, want %s", k, a, before[k])
		}
	}
}

func TestHashNoKeyRoundRobin(t *testing.T) {
	g, _ := newTestGroup(t, Hash, servers(3), Server{})
	if got := counts(g, 30, func(int) Key { return KeyString("") }); len(got) != 3 {
		t.Errorf("empty key: %v, want round robin over 3", got)
	}
}
