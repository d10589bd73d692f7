package upstream

// pickLeastConn picks, among the usable members [lo, hi), the one with
// the fewest requests in flight per unit of weight; ties are broken by
// smooth weighted round robin among the tied members, as nginx does.
func (b *balancer) pickLeastConn(lo, hi int, now int64, tried *Tried) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		best, ties := -1, 0
		var bestActive, bestWeight int64
		for i := lo; i < hi; i++ {
			if !b.usable(i, now, tried) {
				continue
			}
			a, w := int64(b.peers[i].Active()), b.weights[i]
			switch {
			case best < 0 || a*bestWeight < bestActive*w:
				best, ties, bestActive, bestWeight = i, 1, a, w
			case a*bestWeight == bestActive*w:
				ties++
			}
		}
		if best < 0 {
			return -1
		}
		if ties > 1 {
			best = b.roundRobinTies(best, hi, now, tried, bestActive, bestWeight)
		}
		if b.claim(best, now, tried) {
			return best
		}
	}
}

// roundRobinTies runs one smooth round-robin step over the usable members
// from first to hi whose load equals active/weight; first is one of them
// and the answer if the loads moved meanwhile. Called with b.mu held.
func (b *balancer) roundRobinTies(first, hi int, now int64, tried *Tried, active, weight int64) int {
	best, total := -1, int64(0)
	for i := first; i < hi; i++ {
		if !b.usable(i, now, tried) || int64(b.peers[i].Active())*weight != active*b.weights[i] {
			continue
		}
		b.cw[i] += b.weights[i]
		total += b.weights[i]
		if best < 0 || b.cw[i] > b.cw[best] {
			best = i
		}
	}
	if best < 0 {
		return first
	}
	b.cw[best] -= total
	return best
}
