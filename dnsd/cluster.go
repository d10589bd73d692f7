package dnsd

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// records is the record source the cluster stage answers from, in the
// manner of libnetwork's DNSBackend. Names are normalised (lower case, no
// trailing dot, no cluster domain). The index built from a Snapshot
// implements it; each query uses one records value throughout, so an
// Update in the middle of a query never mixes two snapshots.
type records interface {
	// Scope is what a query from src may see.
	Scope(src netip.Addr) scope
	// IsCluster tells whether name is answered here, never forwarded.
	IsCluster(name string) bool
	// InSubnet tells whether ip is in a network of the cluster.
	InSubnet(ip netip.Addr) bool
	// ResolveName appends the addresses of name visible in sc to dst.
	ResolveName(name string, sc scope, dst []netip.Addr) []netip.Addr
	// ResolveIP returns the PTR target of ip if it is visible in sc.
	ResolveIP(ip netip.Addr, sc scope) (string, bool)
}

// cluster answers cluster names authoritatively (AA bit): their A and
// AAAA records, PTR records of endpoint addresses, NXDOMAIN for names
// that do not exist or that the asker may not see, NODATA for other
// types. Names outside the cluster go to the next stage.
type cluster struct {
	next      handler
	load      func() records
	domain    string // lower case, no dots around it
	dotDomain string // "." + domain
	ttl       uint32
}

func newCluster(domain string, ttl uint32, load func() records) *cluster {
	d := strings.ToLower(strings.Trim(domain, "."))
	return &cluster{load: load, domain: d, dotDomain: "." + d, ttl: ttl}
}

func (c *cluster) setNext(h handler) { c.next = h }

// ServeDNS implements handler.
func (c *cluster) ServeDNS(ctx context.Context, q *request) (int, error) {
	name := strings.ToLower(strings.TrimSuffix(q.r.Question[0].Name, "."))
	if name == "" {
		return c.next.ServeDNS(ctx, q) // the root
	}
	src := c.load()
	if isReverse(name) {
		ip, ok := parseReverse(name)
		if !ok || !src.InSubnet(ip) {
			return c.next.ServeDNS(ctx, q)
		}
		q.source = srcCluster
		return c.answerPTR(q, src, ip)
	}
	apex := name == c.domain
	under := false
	if rest, ok := strings.CutSuffix(name, c.dotDomain); ok {
		name, under = rest, true
	}
	if !apex && !under && !src.IsCluster(name) {
		return c.next.ServeDNS(ctx, q)
	}
	q.source = srcCluster
	if apex {
		return c.write(q, q.newReply(dns.RcodeSuccess))
	}
	q.addrs = src.ResolveName(name, c.scope(q, src), q.addrs[:0])
	if len(q.addrs) == 0 {
		return c.write(q, q.newReply(dns.RcodeNameError))
	}
	m := q.newReply(dns.RcodeSuccess)
	switch q.qtype {
	case dns.TypeA, dns.TypeAAAA, dns.TypeANY:
		m.Answer = c.addressRRs(q)
	}
	return c.write(q, m)
}

// scope is what the asker of q sees: everything for host sources.
func (c *cluster) scope(q *request, src records) scope {
	if q.host {
		return scope{all: true}
	}
	return src.Scope(q.src)
}

func (c *cluster) write(q *request, m *dns.Msg) (int, error) {
	m.Authoritative = true
	return m.Rcode, q.WriteMsg(m)
}

// addressRRs turns q.addrs into A and/or AAAA records, as q's type asks,
// starting at a random one so that clients taking the first address
// spread over all. Everything lives in q's scratch space.
func (c *cluster) addressRRs(q *request) []dns.RR {
	addrs := q.addrs
	n := len(addrs)
	off := 0
	if n > 1 {
		off = rand.IntN(n)
	}
	wantA := q.qtype == dns.TypeA || q.qtype == dns.TypeANY
	wantAAAA := q.qtype == dns.TypeAAAA || q.qtype == dns.TypeANY
	q.as = slices.Grow(q.as[:0], n)
	q.aaaas = slices.Grow(q.aaaas[:0], n)
	q.rrs = slices.Grow(q.rrs[:0], n)
	q.ips = slices.Grow(q.ips[:0], 16*n)
	name := q.r.Question[0].Name
	for i := range n {
		ip := addrs[(off+i)%n]
		switch {
		case ip.Is4() && wantA:
			b := ip.As4()
			start := len(q.ips)
			q.ips = append(q.ips, b[:]...)
			q.as = append(q.as, dns.A{
				Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: c.ttl},
				A:   q.ips[start:len(q.ips):len(q.ips)],
			})
			q.rrs = append(q.rrs, &q.as[len(q.as)-1])
		case ip.Is6() && wantAAAA:
			b := ip.As16()
			start := len(q.ips)
			q.ips = append(q.ips, b[:]...)
			q.aaaas = append(q.aaaas, dns.AAAA{
				Hdr:  dns.RR_Header{Name: name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: c.ttl},
				AAAA: q.ips[start:len(q.ips):len(q.ips)],
			})
			q.rrs = append(q.rrs, &q.aaaas[len(q.aaaas)-1])
		}
	}
	return q.rrs
}

// answerPTR answers a reverse name inside a cluster subnet.
func (c *cluster) answerPTR(q *request, src records, ip netip.Addr) (int, error) {
	target, ok := src.ResolveIP(ip, c.scope(q, src))
	if !ok {
		return c.write(q, q.newReply(dns.RcodeNameError))
	}
	m := q.newReply(dns.RcodeSuccess)
	if q.qtype == dns.TypePTR || q.qtype == dns.TypeANY {
		q.ptr = dns.PTR{
			Hdr: dns.RR_Header{Name: q.r.Question[0].Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: c.ttl},
			Ptr: target,
		}
		q.rrs = append(q.rrs[:0], &q.ptr)
		m.Answer = q.rrs
	}
	return c.write(q, m)
}
