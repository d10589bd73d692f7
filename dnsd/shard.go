package dnsd

import (
	"encoding/binary"
	"hash/maphash"
	"maps"
	"math/bits"
	"net/netip"
	"slices"
)

// The maps a service change touches (services, zone, ptr) are split into
// shards by a hash of the key. A published index is never written, so a
// change works on copies; with shards it copies the few small maps it
// touches instead of maps as large as the cluster.
//
// The shards sit in two levels: 32 slots picked by the top 5 bits of the
// hash, each holding 1 to 32 shards picked by the next bits. A change
// copies one slot's slice of shards (at most 32 pointers) and the shards
// it writes, whatever the size of the map: a single slice of shards would
// have to be copied whole, and grow with the map. The first level is kept
// in the index itself, so a lookup reads no more pointers than with one
// level. A slot holds as many shards as its entries need, about shardLoad
// each (a map of a few entries is a few small maps, as each costs some
// time to make); a slot that outgrows them is split again by the change
// that fills it, at a cost of its own entries, a 32nd of the map's. Up to
// some 8,000 keys the shards stay small; beyond that they grow, and so
// does the cost of copying one.

const (
	slotBits  = 5
	numSlots  = 1 << slotBits
	maxShards = 32 // shards in one slot, a power of two
	shardLoad = 4  // entries per shard aimed at
	// A slot holding more than splitAt times shardLoad entries per shard
	// is split again.
	splitAt = 2
)

// shardMap is a map split into shards by the key's hash (strHash or
// addrHash): slot, then shard in slot.
type shardMap[K comparable, V any] struct {
	slots [numSlots][]map[K]V // a power of two of shards each; nil maps are empty
	n     int                 // entries in all shards
}

// pos is the slot of hash h, and the bits that pick the shard in it.
func pos(h uint64) (slot, bits uint64) {
	return h >> (64 - slotBits), h >> (64 - 2*slotBits)
}

// shardsFor is the number of shards in each slot of a map of n entries.
func shardsFor(n int) int {
	per := n / (numSlots * shardLoad)
	if per <= 1 {
		return 1
	}
	return min(1<<bits.Len(uint(per-1)), maxShards)
}

// newShardMap is an empty map sized for about expect entries: every
// slot gets its shards (nil maps until written), in one allocation.
func newShardMap[K comparable, V any](expect int) shardMap[K, V] {
	per := shardsFor(expect)
	all := make([]map[K]V, numSlots*per)
	var m shardMap[K, V]
	for i := range m.slots {
		m.slots[i] = all[i*per : (i+1)*per : (i+1)*per]
	}
	return m
}

// shard is the shard a key of hash h is in, nil if that shard is empty
// (reading a nil map is fine).
func (m *shardMap[K, V]) shard(h uint64) map[K]V {
	l := m.slots[h>>(64-slotBits)]
	return l[(h>>(64-2*slotBits))&uint64(len(l)-1)]
}

// own is the shard of h, made if missing. Only for a map not yet
// published (buildIndex); count must be called after.
func (m *shardMap[K, V]) own(h uint64) map[K]V {
	i, b := pos(h)
	l := m.slots[i]
	j := b & uint64(len(l)-1)
	if l[j] == nil {
		l[j] = make(map[K]V)
	}
	return l[j]
}

// count sets n after writes through own.
func (m *shardMap[K, V]) count() {
	m.n = 0
	for s := range m.shards {
		m.n += len(s)
	}
}

// shards yields every shard that was made.
func (m *shardMap[K, V]) shards(yield func(map[K]V) bool) {
	for _, l := range m.slots {
		for _, s := range l {
			if s != nil && !yield(s) {
				return
			}
		}
	}
}

// all yields every entry, shard by shard.
func (m *shardMap[K, V]) all(yield func(K, V) bool) {
	for s := range m.shards {
		for k, v := range s {
			if !yield(k, v) {
				return
			}
		}
	}
}

// shardEdit makes a changed copy of a published shardMap, which it never
// writes: a slot's slice of shards is copied the first time one of its
// shards is written, and a shard the first time it is.
type shardEdit[K comparable, V any] struct {
	m      shardMap[K, V]
	hash   func(K) uint64
	slots  uint32                            // bit i: m.slots[i] is this edit's copy
	copied [numSlots * maxShards / 64]uint64 // bit i*maxShards+j: shard j of slot i is
}

func editShards[K comparable, V any](m shardMap[K, V], hash func(K) uint64) shardEdit[K, V] {
	return shardEdit[K, V]{m: m, hash: hash}
}

func (e *shardEdit[K, V]) get(h uint64, k K) (V, bool) {
	v, ok := e.m.shard(h)[k]
	return v, ok
}

// writable is the shard of h, copied if this edit has not yet.
func (e *shardEdit[K, V]) writable(h uint64) map[K]V {
	i, b := pos(h)
	if e.slots&(1<<i) == 0 {
		e.slots |= 1 << i
		e.m.slots[i] = slices.Clone(e.m.slots[i])
	}
	l := e.m.slots[i]
	j := b & uint64(len(l)-1)
	if c := i*maxShards + j; e.copied[c/64]&(1<<(c%64)) == 0 {
		e.copied[c/64] |= 1 << (c % 64)
		if l[j] != nil {
			l[j] = maps.Clone(l[j])
		}
	}
	if l[j] == nil {
		l[j] = make(map[K]V)
	}
	return l[j]
}

func (e *shardEdit[K, V]) set(h uint64, k K, v V) {
	s := e.writable(h)
	_, had := s[k]
	s[k] = v
	if !had {
		e.m.n++
		e.split(h)
	}
}

func (e *shardEdit[K, V]) del(h uint64, k K) {
	if _, ok := e.m.shard(h)[k]; !ok {
		return
	}
	delete(e.writable(h), k)
	e.m.n--
}

// split spreads the entries of h's slot, already this edit's copy, over
// more shards when they have outgrown them.
func (e *shardEdit[K, V]) split(h uint64) {
	i, _ := pos(h)
	l := e.m.slots[i]
	if len(l) >= maxShards {
		return
	}
	n := 0
	for _, s := range l {
		n += len(s)
	}
	if n <= len(l)*shardLoad*splitAt {
		return
	}
	more := make([]map[K]V, shardsFor(n*numSlots))
	for _, s := range l {
		for k, v := range s {
			_, b := pos(e.hash(k))
			j := b & uint64(len(more)-1)
			if more[j] == nil {
				more[j] = make(map[K]V, shardLoad)
			}
			more[j][k] = v
		}
	}
	e.m.slots[i] = more
	// The new shards are this edit's own.
	for j := range uint64(maxShards) {
		c := i*maxShards + j
		e.copied[c/64] |= 1 << (c % 64)
	}
}

// hashSeed keys the shard hashes; it is per process, as a map's is.
var hashSeed = maphash.MakeSeed()

// strHash picks the shard of a name.
func strHash(s string) uint64 {
	return maphash.String(hashSeed, s)
}

// addrHash picks the shard of an address. The map hashes the key again,
// so this one only has to spread addresses over the shards, cheaply: the
// address (IPv6: its two halves folded) multiplied by 2^64 divided by the
// golden ratio, whose top bits differ for neighbouring addresses (those
// of a subnet differ in their last bytes). IPv4 is read as 4 bytes, much
// faster than the 16 of As16.
func addrHash(a netip.Addr) uint64 {
	const golden = 0x9e3779b97f4a7c15
	if a.Is4() {
		b := a.As4()
		return uint64(binary.BigEndian.Uint32(b[:])) * golden
	}
	b := a.As16()
	return (binary.BigEndian.Uint64(b[8:]) ^ binary.BigEndian.Uint64(b[:8])) * golden
}
