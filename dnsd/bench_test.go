package dnsd

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// discard is a ResponseWriter that throws replies away, so benchmarks
// measure the query path and not the recorder.
type discard struct{ remote net.Addr }

func (d *discard) LocalAddr() net.Addr         { return &net.UDPAddr{IP: net.IPv4(169, 254, 53, 53), Port: 53} }
func (d *discard) RemoteAddr() net.Addr        { return d.remote }
func (d *discard) WriteMsg(m *dns.Msg) error   { _, err := m.Pack(); return err }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) Close() error                { return nil }
func (d *discard) TsigStatus() error           { return nil }
func (d *discard) TsigTimersOnly(bool)         {}
func (d *discard) Hijack()                     {}

// BenchmarkServeDNS is the per-query cost of ServeDNS from a container
// address, without the socket and miekg/dns's parsing (the same for any
// server built on it). "bare" is the fixed-answer handler of the
// benchmark's peer (contrib/bench/dnsbare), for scale.
func BenchmarkServeDNS(b *testing.B) {
	u := startUpstream(b)
	cfg := testConfig()
	cfg.Upstreams = []string{u.addr}
	s := newTestServer(b, cfg, fixture())
	w := &discard{remote: &net.UDPAddr{IP: net.ParseIP(srcWeb), Port: 40000}}
	// Warm the cache for the forwarded name.
	s.ServeDNS(w, query("ok.test.", dns.TypeA))

	bare := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1},
			A: net.IPv4(192, 0, 2, 1)}}
		_ = w.WriteMsg(m)
	})
	for _, bc := range []struct {
		name    string
		qname   string
		qtype   uint16
		handler dns.Handler
	}{
		{"bare", "db.", dns.TypeA, bare},
		{"cluster", "db.", dns.TypeA, s},
		{"cluster-2-answers", "tasks.api.", dns.TypeA, s},
		{"cluster-NAME.NET.domain", "web.backend.xo.", dns.TypeA, s},
		{"ptr", "3.0.2.10.in-addr.arpa.", dns.TypePTR, s},
		{"nxdomain", "nosuch.", dns.TypeA, s},
		{"cached-forward", "ok.test.", dns.TypeA, s},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := query(bc.qname, bc.qtype)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					bc.handler.ServeDNS(w, req)
				}
			})
		})
	}
}

// BenchmarkUpdate is the cost of building and swapping the index for a
// snapshot of 10,000 endpoints.
func BenchmarkUpdate(b *testing.B) {
	snap := bigSnapshot(10000)
	s := newTestServer(b, testConfig(), Snapshot{})
	b.ReportAllocs()
	for b.Loop() {
		s.Update(snap)
	}
}
