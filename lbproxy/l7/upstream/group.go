package upstream

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Member is one server of a Group: its shared Peer, its weight in this
// configuration, whether it is a backup, and the caller's data for it.
type Member[T any] struct {
	Peer   *Peer
	Weight int // 0 means DefaultWeight
	Backup bool
	Value  T
}

// Group is one configuration of an upstream: members and a policy. It is
// safe for concurrent use; its balancing state (round-robin weights) is
// its own, so a new configuration starts a fresh round.
type Group[T any] struct {
	b      balancer
	values []T
}

// NewGroup orders the members (primaries, then backups, each sorted by
// address, so every node of a cluster builds the same group from the
// same servers) and builds the policy's structures.
func NewGroup[T any](policy Policy, members []Member[T]) (*Group[T], error) {
	if !policy.Valid() {
		return nil, fmt.Errorf("policy %q: use one of %v", policy, Policies)
	}
	ms := slices.Clone(members)
	seen := make(map[*Peer]bool, len(ms))
	for i := range ms {
		m := &ms[i]
		if m.Peer == nil {
			return nil, fmt.Errorf("member %d has no Peer", i)
		}
		if seen[m.Peer] {
			return nil, fmt.Errorf("server %s is twice in the group", m.Peer.addr)
		}
		seen[m.Peer] = true
		if m.Weight == 0 {
			m.Weight = DefaultWeight
		}
		if m.Weight < 0 || m.Weight > MaxWeight {
			return nil, fmt.Errorf("server %s: weight %d: use 1 to %d", m.Peer.addr, m.Weight, MaxWeight)
		}
	}
	slices.SortStableFunc(ms, func(a, b Member[T]) int {
		if a.Backup != b.Backup {
			if a.Backup {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.Peer.addr, b.Peer.addr)
	})
	g := &Group[T]{values: make([]T, len(ms))}
	g.b.policy = policy
	g.b.peers = make([]*Peer, len(ms))
	g.b.weights = make([]int64, len(ms))
	g.b.cw = make([]int64, len(ms))
	for i, m := range ms {
		g.b.peers[i], g.b.weights[i], g.values[i] = m.Peer, int64(m.Weight), m.Value
		if !m.Backup {
			g.b.nPrimary++
		}
	}
	switch policy {
	case IPHash:
		g.b.cum = cumulative(g.b.weights[:g.b.nPrimary])
	case Hash:
		g.b.ring = buildRing(g.b.peers[:g.b.nPrimary], g.b.weights[:g.b.nPrimary])
	}
	return g, nil
}

// Len is the number of members, primaries and backups.
func (g *Group[T]) Len() int { return len(g.values) }

// Value is the caller's data of member i.
func (g *Group[T]) Value(i int) T { return g.values[i] }

// Peer is member i's Peer.
func (g *Group[T]) Peer(i int) *Peer { return g.b.peers[i] }

// Policy is the group's policy.
func (g *Group[T]) Policy() Policy { return g.b.policy }

// Pick chooses an available member not in tried, claims it and returns
// its index, or -1 when none is left. key matters to IPHash and Hash
// only (NoKey falls back to round robin). The caller must call the
// member's Peer.Release when the request is done, and should add the
// index to tried before picking again for a retry.
func (g *Group[T]) Pick(now time.Time, key Key, tried *Tried) int {
	if tried == nil {
		tried = new(Tried)
	}
	return g.b.pick(nanos(now), key, tried)
}

// balancer is the policy half of a Group, without the caller's values.
type balancer struct {
	policy   Policy
	peers    []*Peer // primaries [0, nPrimary), then backups
	weights  []int64
	nPrimary int
	cum      []int64 // IPHash: cumulative primary weights
	ring     []point // Hash: the primaries' ring

	mu sync.Mutex
	cw []int64 // smooth round robin: current weights
}

func (b *balancer) pick(now int64, key Key, tried *Tried) int {
	i := -1
	switch {
	case b.nPrimary == 0:
	case b.policy == IPHash && key.ok:
		i = b.pickIPHash(now, key.h, tried)
	case b.policy == Hash && key.ok:
		i = b.pickRing(now, key.h, tried)
	case b.policy == LeastConn:
		i = b.pickLeastConn(0, b.nPrimary, now, tried)
	default:
		i = b.pickRoundRobin(0, b.nPrimary, now, tried)
	}
	if i >= 0 || b.nPrimary == len(b.peers) {
		return i
	}
	if b.policy == LeastConn {
		return b.pickLeastConn(b.nPrimary, len(b.peers), now, tried)
	}
	return b.pickRoundRobin(b.nPrimary, len(b.peers), now, tried)
}

// usable reports whether member i may be picked.
func (b *balancer) usable(i int, now int64, tried *Tried) bool {
	return !tried.Has(i) && b.peers[i].available(now)
}

// claim claims member i, or adds it to tried so no loop picks it again.
func (b *balancer) claim(i int, now int64, tried *Tried) bool {
	if b.peers[i].claim(now) {
		return true
	}
	tried.Add(i)
	return false
}
