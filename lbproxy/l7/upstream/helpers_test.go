package upstream

import (
	"testing"
	"time"
)

// t0 is the fake clock's origin; tests add durations to it.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// srv is a compact member description for tests: address, weight, backup.
type srv struct {
	addr   string
	weight int
	backup bool
}

// newTestGroup makes a group whose member values are their addresses,
// each with a fresh Peer configured with opts.
func newTestGroup(t *testing.T, policy Policy, servers []srv, opts Server) (*Group[string], map[string]*Peer) {
	t.Helper()
	peers := map[string]*Peer{}
	var ms []Member[string]
	for _, s := range servers {
		cfg := opts
		cfg.Addr = s.addr
		p := NewPeer(cfg, nil)
		peers[s.addr] = p
		ms = append(ms, Member[string]{Peer: p, Weight: s.weight, Backup: s.backup, Value: s.addr})
	}
	g, err := NewGroup(policy, ms)
	if err != nil {
		t.Fatalf("NewGroup: %v", err)
	}
	return g, peers
}

// pickRelease picks once with a fresh tried set, releases at once and
// returns the member's address ("" when none).
func pickRelease(g *Group[string], now time.Time, key Key) string {
	i := g.Pick(now, key, nil)
	if i < 0 {
		return ""
	}
	g.Peer(i).Release()
	return g.Value(i)
}

// counts picks n times (releasing each) and counts the addresses.
func counts(g *Group[string], n int, key func(int) Key) map[string]int {
	c := map[string]int{}
	for k := range n {
		c[pickRelease(g, t0, key(k))]++
	}
	return c
}

func noKey(int) Key { return NoKey }
