package harness

import (
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// UpstreamZone is the zone the fake upstream resolver answers: every name
// under it has the A record UpstreamAnswer, but names starting with "nx."
// are NXDOMAIN. Anything else is REFUSED.
const (
	UpstreamZone   = "upstream.test."
	UpstreamAnswer = "198.18.255.53"
)

// Upstream is a fake upstream resolver for the agents' DNS servers, so
// forwarded queries never leave the machine.
type Upstream struct {
	Addr    string // 198.18.0.1:PORT, reachable from every host
	queries atomic.Int64
}

// Queries is the number of queries the upstream received.
func (u *Upstream) Queries() int64 { return u.queries.Load() }

// startUpstream serves a fake resolver on the underlay gateway (the root
// namespace's address on the underlay bridge: hosts reach it, nothing else
// does), over UDP and TCP on one port, until t ends. Start runs it once
// the underlay is up and keeps it as Cluster.Upstream.
func startUpstream(t testing.TB) *Upstream {
	t.Helper()
	u := &Upstream{}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		u.queries.Add(1)
		m := new(dns.Msg)
		m.SetReply(r)
		if len(r.Question) != 1 {
			m.Rcode = dns.RcodeFormatError
			_ = w.WriteMsg(m)
			return
		}
		q := r.Question[0]
		name := strings.ToLower(q.Name)
		switch {
		case !dns.IsSubDomain(UpstreamZone, name):
			m.Rcode = dns.RcodeRefused
		case strings.HasPrefix(name, "nx."):
			m.Rcode = dns.RcodeNameError
		case q.Qtype == dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30},
				A:   net.ParseIP(UpstreamAnswer).To4(),
			})
		}
		_ = w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", net.JoinHostPort(UnderlayGateway, "0"))
	if err != nil {
		t.Fatalf("harness: fake upstream: %v", err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	l, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		t.Fatalf("harness: fake upstream on tcp port %d: %v", port, err)
	}
	u.Addr = pc.LocalAddr().String()
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: l, Handler: h}
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	t.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
	})
	return u
}
