package dnsd

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

const (
	// maxCacheTTL caps how long a positive answer is kept.
	maxCacheTTL = time.Hour
	// failureTTL is how long a failed forward (every upstream failed) is
	// remembered, so a dead upstream is not asked again by every client.
	failureTTL = 2 * time.Second
	// evictScan is how many entries an insert into a full cache looks at
	// for an expired one before evicting one at random.
	evictScan = 8
)

// cacheKey identifies a forwarded question: the answer differs with the
// DNSSEC OK and checking disabled bits.
type cacheKey struct {
	name   string // lower case
	qtype  uint16
	qclass uint16
	do, cd bool
}

func keyOf(q *request) cacheKey {
	qq := q.r.Question[0]
	return cacheKey{
		name:   strings.ToLower(qq.Name),
		qtype:  qq.Qtype,
		qclass: qq.Qclass,
		do:     q.opt != nil && q.opt.Do(),
		cd:     q.r.CheckingDisabled,
	}
}

// String is the key's singleflight form.
func (k cacheKey) String() string {
	var flags byte
	if k.do {
		flags |= 1
	}
	if k.cd {
		flags |= 2
	}
	return k.name + string([]byte{0, byte(k.qtype >> 8), byte(k.qtype), byte(k.qclass >> 8), byte(k.qclass), flags})
}

// cacheEntry is one cached answer; msg is never changed once stored, and
// is nil for a remembered failure.
type cacheEntry struct {
	msg     *dns.Msg
	stored  time.Time
	expires time.Time

	// older is msg with its TTLs lowered for one age (whole seconds):
	// made by the first hit of that second and shared by the others, so a
	// hit copies no records (one copy per entry and second, not per hit).
	older atomic.Pointer[agedMsg]
}

// agedMsg is a cached answer as served at one age; never changed.
type agedMsg struct {
	age uint32
	msg *dns.Msg
}

// age is how many whole seconds the entry has been cached.
func (e *cacheEntry) age(now time.Time) uint32 {
	return uint32(now.Sub(e.stored) / time.Second)
}

// at returns the answer as served age seconds after it was stored: msg
// with every TTL lowered by age. The message is shared by every hit and
// must not be changed.
func (e *cacheEntry) at(age uint32) *dns.Msg {
	if age == 0 {
		return e.msg
	}
	if a := e.older.Load(); a != nil && a.age == age {
		return a.msg
	}
	// Two hits racing here both copy; either result is right.
	a := &agedMsg{age: age, msg: aged(e.msg, age)}
	e.older.Store(a)
	return a.msg
}

// cache holds forwarded answers, bounded in entries. Expired entries are
// dropped lazily: when met by an insert into a full cache, or replaced.
type cache struct {
	max     int
	negCap  time.Duration
	entries prometheus.Gauge

	mu sync.RWMutex
	m  map[cacheKey]*cacheEntry
}

func newCache(size int, negCap time.Duration, entries prometheus.Gauge) *cache {
	return &cache{max: size, negCap: negCap, entries: entries, m: make(map[cacheKey]*cacheEntry, min(size, 1024))}
}

// get returns the live entry for k, or nil.
func (c *cache) get(k cacheKey, now time.Time) *cacheEntry {
	c.mu.RLock()
	e := c.m[k]
	c.mu.RUnlock()
	if e == nil || !now.Before(e.expires) {
		return nil
	}
	return e
}

// put stores the upstream answer m for k, for as long as its records
// allow (cacheTTL); m must not be changed afterwards.
func (c *cache) put(k cacheKey, m *dns.Msg, now time.Time) {
	if ttl := cacheTTL(m, c.negCap); ttl > 0 {
		c.insert(k, &cacheEntry{msg: m, stored: now, expires: now.Add(ttl)})
	}
}

// putFailure remembers for failureTTL (at most) that k could not be
// resolved.
func (c *cache) putFailure(k cacheKey, now time.Time) {
	ttl := min(failureTTL, c.negCap)
	if ttl > 0 {
		c.insert(k, &cacheEntry{stored: now, expires: now.Add(ttl)})
	}
}

func (c *cache) insert(k cacheKey, e *cacheEntry) {
	c.mu.Lock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		c.evict(e.stored)
	}
	c.m[k] = e
	n := len(c.m)
	c.mu.Unlock()
	c.entries.Set(float64(n))
}

// evict frees one slot: an expired entry among the first few the map
// yields (in random order), or else the first of them. mu is held.
func (c *cache) evict(now time.Time) {
	var victim cacheKey
	i := 0
	for k, e := range c.m {
		if !now.Before(e.expires) {
			delete(c.m, k)
			return
		}
		if i == 0 {
			victim = k
		}
		if i++; i >= evictScan {
			break
		}
	}
	delete(c.m, victim)
}

// cacheTTL is how long m may be cached: the smallest TTL of its records
// for an answer (at most maxCacheTTL); for NXDOMAIN and NODATA the SOA's
// negative TTL (RFC 2308) or negCap without SOA, at most negCap; nothing
// for other rcodes or truncated answers.
func cacheTTL(m *dns.Msg, negCap time.Duration) time.Duration {
	if m.Truncated {
		return 0
	}
	switch {
	case m.Rcode == dns.RcodeSuccess && len(m.Answer) > 0:
		ttl := uint32(maxCacheTTL / time.Second)
		for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
			for _, rr := range sec {
				if rr.Header().Rrtype != dns.TypeOPT {
					ttl = min(ttl, rr.Header().Ttl)
				}
			}
		}
		return time.Duration(ttl) * time.Second
	case m.Rcode == dns.RcodeSuccess || m.Rcode == dns.RcodeNameError:
		ttl := negCap
		for _, rr := range m.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				ttl = time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
				break
			}
		}
		return min(ttl, negCap)
	}
	return 0
}

// aged returns m with every TTL lowered by age seconds, as a new message
// sharing nothing mutable with m.
func aged(m *dns.Msg, age uint32) *dns.Msg {
	out := m.Copy()
	for _, sec := range [][]dns.RR{out.Answer, out.Ns, out.Extra} {
		for _, rr := range sec {
			h := rr.Header()
			if h.Rrtype == dns.TypeOPT {
				continue
			}
			if h.Ttl > age {
				h.Ttl -= age
			} else {
				h.Ttl = 0
			}
		}
	}
	return out
}
