package dnsd

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// maxLimited bounds the number of sources the rate limiter remembers.
const maxLimited = 1 << 16

// rateLimit answers REFUSED to a source asking more than qps queries per
// second (a token bucket per source address holding up to one second of
// queries). Host sources are never limited. The bucket map is bounded:
// when full, buckets that have refilled (idle sources) are dropped, and if
// that frees too little (a flood of spoofed sources) all are.
type rateLimit struct {
	next    handler
	limited prometheus.Counter

	rate  float64 // tokens per nanosecond
	burst float64
	start time.Time // clock origin, for monotonic readings
	now   func() time.Time

	mu      sync.Mutex
	buckets map[netip.Addr]bucket
}

type bucket struct {
	tokens float64
	last   int64 // nanoseconds since start
}

func newRateLimit(qps int, limited prometheus.Counter) *rateLimit {
	start := time.Now()
	return &rateLimit{
		limited: limited,
		rate:    float64(qps) / float64(time.Second),
		burst:   float64(qps),
		start:   start,
		now:     time.Now,
		buckets: make(map[netip.Addr]bucket),
	}
}

func (l *rateLimit) setNext(h handler) { l.next = h }

// ServeDNS implements handler.
func (l *rateLimit) ServeDNS(ctx context.Context, q *request) (int, error) {
	if q.host || l.allow(q.src) {
		return l.next.ServeDNS(ctx, q)
	}
	l.limited.Inc()
	return dns.RcodeRefused, nil
}

// allow takes a token from src's bucket if there is one.
func (l *rateLimit) allow(src netip.Addr) bool {
	now := int64(l.now().Sub(l.start))
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[src]
	if ok {
		b.tokens = min(l.burst, b.tokens+float64(now-b.last)*l.rate)
	} else {
		if len(l.buckets) >= maxLimited {
			l.prune(now)
		}
		b.tokens = l.burst
	}
	b.last = now
	if b.tokens < 1 {
		l.buckets[src] = b
		return false
	}
	b.tokens--
	l.buckets[src] = b
	return true
}

// prune drops the buckets that are full again; called with mu held.
func (l *rateLimit) prune(now int64) {
	for src, b := range l.buckets {
		if b.tokens+float64(now-b.last)*l.rate >= l.burst {
			delete(l.buckets, src)
		}
	}
	if len(l.buckets) > maxLimited*3/4 {
		clear(l.buckets)
	}
}
