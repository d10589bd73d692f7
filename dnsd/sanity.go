package dnsd

import (
	"context"

	"github.com/miekg/dns"
)

// sanity refuses what the server does not answer before any lookup:
// responses (dropped), opcodes other than QUERY (NOTIMP), anything but one
// question (FORMERR), EDNS versions other than 0 (BADVERS), classes other
// than IN (REFUSED), zone transfers (REFUSED) and meta types asked as
// questions (FORMERR).
type sanity struct{ next handler }

func (s *sanity) setNext(h handler) { s.next = h }

// ServeDNS implements handler.
func (s *sanity) ServeDNS(ctx context.Context, q *request) (int, error) {
	r := q.r
	switch {
	case r.Response:
		return rcodeDrop, nil
	case r.Opcode != dns.OpcodeQuery:
		return dns.RcodeNotImplemented, nil
	case len(r.Question) != 1 || len(r.Answer) != 0 || len(r.Ns) != 0:
		return dns.RcodeFormatError, nil
	case !dns.IsFqdn(r.Question[0].Name):
		return dns.RcodeFormatError, nil
	case q.opt != nil && q.opt.Version() != 0:
		m := q.newReply(dns.RcodeBadVers)
		return dns.RcodeBadVers, q.WriteMsg(m)
	case r.Question[0].Qclass != dns.ClassINET:
		return dns.RcodeRefused, nil
	}
	switch q.qtype {
	case dns.TypeAXFR, dns.TypeIXFR:
		return dns.RcodeRefused, nil
	case dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY, dns.TypeNone, dns.TypeReserved:
		return dns.RcodeFormatError, nil
	}
	return s.next.ServeDNS(ctx, q)
}

// minimalANY answers ANY for names outside the cluster the way RFC 8482
// suggests, with one synthesised HINFO record, instead of forwarding a
// query that is mostly used for amplification. ANY for a cluster name
// never gets here: the cluster stage answers it with the name's
// addresses.
type minimalANY struct{ next handler }

func (a *minimalANY) setNext(h handler) { a.next = h }

// rfc8482TTL is the TTL of the synthesised HINFO record.
const rfc8482TTL = 3600

// ServeDNS implements handler.
func (a *minimalANY) ServeDNS(ctx context.Context, q *request) (int, error) {
	if q.qtype != dns.TypeANY {
		return a.next.ServeDNS(ctx, q)
	}
	m := q.newReply(dns.RcodeSuccess)
	m.Answer = append(q.rrs[:0], &dns.HINFO{
		Hdr: dns.RR_Header{Name: q.r.Question[0].Name, Rrtype: dns.TypeHINFO, Class: dns.ClassINET, Ttl: rfc8482TTL},
		Cpu: "RFC8482",
	})
	return dns.RcodeSuccess, q.WriteMsg(m)
}
