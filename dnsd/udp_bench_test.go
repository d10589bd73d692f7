//go:build linux

package dnsd

import (
	"net"
	"testing"
	"time"
	"unsafe"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// BenchmarkUDPPath is the per-query cost of UDPServer's path without the
// socket: the datagram unpacked, the handler, the reply packed into the
// batch, for the bench's mix (a name that exists, one that does not, a
// cached forwarded one) from a host source, dnsd against the fixed-answer
// handler of contrib/bench/dnsbare.
func BenchmarkUDPPath(b *testing.B) {
	u := startUpstream(b)
	cfg := testConfig()
	cfg.Upstreams = []string{u.addr}
	s := newTestServer(b, cfg, fixture())
	// The forwarded name into the cache.
	s.ServeDNS(&discard{remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}}, query("ok.test.", dns.TypeA))
	bare := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1},
			A: net.IPv4(192, 0, 2, 1)}}
		_ = w.WriteMsg(m)
	})
	var mix [][]byte
	for _, name := range []string{"db.", "nosuch.", "ok.test."} {
		p, err := query(name, dns.TypeA).Pack()
		if err != nil {
			b.Fatal(err)
		}
		mix = append(mix, p)
	}
	for _, bc := range []struct {
		name string
		h    dns.Handler
	}{{"bare", bare}, {"dnsd", s}} {
		b.Run(bc.name, func(b *testing.B) {
			srv := &UDPServer{handler: bc.h, stamp: bc.h == dns.Handler(s)}
			wk := &worker{s: srv, out: make([]*udpWriter, 0, 1)}
			w := &udpWriter{wk: wk, pack: make([]byte, 0, dns.MinMsgSize)}
			sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(&w.from.sa))
			sa4.Family, sa4.Addr = unix.AF_INET, [4]byte{127, 0, 0, 1}
			w.from.len = unix.SizeofSockaddrInet4
			b.ReportAllocs()
			wk.readAt = time.Now() // once per batch in the server
			i := 0
			for b.Loop() {
				wk.out = wk.out[:0]
				w.serve(srv, mix[i%len(mix)])
				if len(wk.out) != 1 {
					b.Fatalf("query %d: no reply", i)
				}
				i++
			}
		})
	}
}
