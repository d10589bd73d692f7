package upstream

import "net/netip"

// Key is what the hash policies hash: a client address (IPHash) or a
// request key (Hash). The zero Key is NoKey.
type Key struct {
	h  uint64
	ok bool
}

// NoKey makes the hash policies fall back to round robin.
var NoKey = Key{}

// KeyString is the Hash key of s; an empty s is NoKey (as nginx, which
// balances requests without a key round robin).
func KeyString(s string) Key {
	if s == "" {
		return NoKey
	}
	return Key{h: mix64(fnv1a(s)), ok: true}
}

// KeyIP is the IPHash key of a client: the first three bytes of an IPv4
// address (so a /24 stays together, as in nginx) or the whole IPv6
// address. An invalid address is NoKey.
func KeyIP(a netip.Addr) Key {
	a = a.Unmap()
	switch {
	case a.Is4():
		b := a.As4()
		return Key{h: mix64(uint64(b[0])<<16 | uint64(b[1])<<8 | uint64(b[2])), ok: true}
	case a.Is6():
		b := a.As16()
		var h uint64 = fnvOffset
		for _, c := range b {
			h = (h ^ uint64(c)) * fnvPrime
		}
		return Key{h: mix64(h), ok: true}
	}
	return NoKey
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// fnv1a is the 64-bit FNV-1a hash of s.
func fnv1a(s string) uint64 {
	var h uint64 = fnvOffset
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h
}

// mix64 spreads the bits of x (the splitmix64 finalizer), so that close
// inputs land far apart on the ring.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Tried is the set of members a request has tried, by index. The zero
// value is empty; it allocates only for groups of more than 64 members.
type Tried struct {
	lo uint64
	hi []uint64
}

// Add puts member i in the set.
func (t *Tried) Add(i int) {
	if i < 64 {
		t.lo |= 1 << uint(i)
		return
	}
	w := i/64 - 1
	for len(t.hi) <= w {
		t.hi = append(t.hi, 0)
	}
	t.hi[w] |= 1 << uint(i%64)
}

// Has reports whether member i is in the set.
func (t *Tried) Has(i int) bool {
	if i < 64 {
		return t.lo&(1<<uint(i)) != 0
	}
	w := i/64 - 1
	return w < len(t.hi) && t.hi[w]&(1<<uint(i%64)) != 0
}
