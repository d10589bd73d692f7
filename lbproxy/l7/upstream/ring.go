package upstream

import (
	"cmp"
	"slices"
	"sort"
)

// Ring sizes: pointsPerWeight points per unit of weight, as ketama does,
// scaled down only when a ring would exceed maxRingPoints.
const (
	pointsPerWeight = 160
	maxRingPoints   = 1 << 18
)

// point is one place of a member on the consistent-hash ring.
type point struct {
	h uint64
	i int32 // member index
}

// buildRing places each member on the ring at points derived from its
// address alone, so every node builds the same ring and a member's
// points do not move when others come or go.
func buildRing(peers []*Peer, weights []int64) []point {
	var total int64
	for _, w := range weights {
		total += w
	}
	per := int64(pointsPerWeight)
	if total*per > maxRingPoints {
		per = max(1, maxRingPoints/total)
	}
	ring := make([]point, 0, total*per)
	for i, p := range peers {
		base := fnv1a(p.addr)
		for j := range weights[i] * per {
			ring = append(ring, point{h: mix64(base + uint64(j+1)*0x9e3779b97f4a7c15), i: int32(i)})
		}
	}
	slices.SortFunc(ring, func(a, b point) int {
		if c := cmp.Compare(a.h, b.h); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	})
	return ring
}

// pickRing walks the ring clockwise from the key's hash to the first
// usable member. An unusable member is skipped exactly as if it were
// not on the ring, so its keys spread over the others and come back
// when it does. After maxHashTries distinct members round robin takes
// over.
func (b *balancer) pickRing(now int64, h uint64, tried *Tried) int {
	n := len(b.ring)
	start := sort.Search(n, func(k int) bool { return b.ring[k].h >= h })
	var seen Tried
	distinct := 0
	for step := 0; step < n && distinct < maxHashTries && distinct < b.nPrimary; step++ {
		i := int(b.ring[(start+step)%n].i)
		if seen.Has(i) {
			continue
		}
		seen.Add(i)
		distinct++
		if b.usable(i, now, tried) && b.claim(i, now, tried) {
			return i
		}
	}
	return b.pickRoundRobin(0, b.nPrimary, now, tried)
}
