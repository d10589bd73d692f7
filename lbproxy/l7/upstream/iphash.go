package upstream

import "sort"

// maxHashTries is how many places a hash policy looks at before it
// falls back to round robin, as nginx does (20).
const maxHashTries = 20

// pickIPHash maps the client's hash to a primary member by weight; when
// that member is unusable the hash is mixed again, up to maxHashTries
// times, then round robin takes over. A client stays on its member while
// the member is available and the group does not change.
func (b *balancer) pickIPHash(now int64, h uint64, tried *Tried) int {
	total := b.cum[len(b.cum)-1]
	for range maxHashTries {
		x := int64(h % uint64(total))
		i := sort.Search(len(b.cum), func(k int) bool { return b.cum[k] > x })
		if b.usable(i, now, tried) && b.claim(i, now, tried) {
			return i
		}
		h = mix64(h + 0x9e3779b97f4a7c15)
	}
	return b.pickRoundRobin(0, b.nPrimary, now, tried)
}

// cumulative is the running sum of ws.
func cumulative(ws []int64) []int64 {
	out := make([]int64, len(ws))
	var sum int64
	for i, w := range ws {
		sum += w
		out[i] = sum
	}
	return out
}
