package upstream

// pickRoundRobin is nginx's smooth weighted round robin over the members
// [lo, hi): every usable member's current weight grows by its weight,
// the largest wins and loses the total. Over a full round each member is
// picked weight times, spread out (weights 5,1,1 give a a b a c a a).
func (b *balancer) pickRoundRobin(lo, hi int, now int64, tried *Tried) int {
	if hi-lo == 1 {
		if b.usable(lo, now, tried) && b.claim(lo, now, tried) {
			return lo
		}
		return -1
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		best, total := -1, int64(0)
		for i := lo; i < hi; i++ {
			if !b.usable(i, now, tried) {
				continue
			}
			b.cw[i] += b.weights[i]
			total += b.weights[i]
			if best < 0 || b.cw[i] > b.cw[best] {
				best = i
			}
		}
		if best < 0 {
			return -1
		}
		b.cw[best] -= total
		if b.claim(best, now, tried) {
			return best
		}
	}
}
