package dnsd

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestCacheEntryAt: a hit serves the answer with its TTLs lowered by
// the entry's age, shares one copy within a second, never changes the
// stored answer, and leaves OPT records alone.
func TestCacheEntryAt(t *testing.T) {
	m := new(dns.Msg)
	m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "x.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30},
		A: net.IPv4(192, 0, 2, 1)}}
	m.Ns = []dns.RR{&dns.NS{Hdr: dns.RR_Header{Name: "x.", Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 2}, Ns: "ns.x."}}
	m.SetEdns0(ednsSize, false)
	stored := time.Unix(1_000_000, 0)
	e := &cacheEntry{msg: m, stored: stored, expires: stored.Add(30 * time.Second)}

	if got := e.at(e.age(stored.Add(999 * time.Millisecond))); got != m {
		t.Fatalf("age 0: got a copy, want the stored answer")
	}
	five := e.at(e.age(stored.Add(5500 * time.Millisecond)))
	if five == m {
		t.Fatal("age 5: got the stored answer, want a copy")
	}
	if ttl := five.Answer[0].Header().Ttl; ttl != 25 {
		t.Errorf("age 5: answer TTL %d, want 25", ttl)
	}
	if ttl := five.Ns[0].Header().Ttl; ttl != 0 {
		t.Errorf("age 5: authority TTL %d, want 0 (never below)", ttl)
	}
	if opt := five.IsEdns0(); opt == nil || opt.UDPSize() != ednsSize {
		t.Errorf("age 5: OPT record %v, want it unchanged", opt)
	}
	if again := e.at(5); again != five {
		t.Error("age 5 again: a new copy, want the shared one")
	}
	if six := e.at(6); six == five || six.Answer[0].Header().Ttl != 24 {
		t.Errorf("age 6: %v, want a new copy with TTL 24", six.Answer[0])
	}
	if ttl := m.Answer[0].Header().Ttl; ttl != 30 {
		t.Errorf("stored answer's TTL changed to %d", ttl)
	}
}
