package dnsd

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestBadInput(t *testing.T) {
	s := newTestServer(t, testConfig(), fixture())
	withOpcode := func(op int) *dns.Msg {
		m := query("db.", dns.TypeA)
		m.Opcode = op
		return m
	}
	tests := []struct {
		what  string
		msg   func() *dns.Msg
		rcode int // -1: no reply
	}{
		{"notify", func() *dns.Msg { return withOpcode(dns.OpcodeNotify) }, dns.RcodeNotImplemented},
		{"update", func() *dns.Msg { return withOpcode(dns.OpcodeUpdate) }, dns.RcodeNotImplemented},
		{"status", func() *dns.Msg { return withOpcode(dns.OpcodeStatus) }, dns.RcodeNotImplemented},
		{"no question", func() *dns.Msg { m := query("db.", dns.TypeA); m.Question = nil; return m }, dns.RcodeFormatError},
		{"two questions", func() *dns.Msg {
			m := query("db.", dns.TypeA)
			m.Question = append(m.Question, m.Question[0])
			return m
		}, dns.RcodeFormatError},
		{"answer in a query", func() *dns.Msg {
			m := query("db.", dns.TypeA)
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "db.", Rrtype: dns.TypeA, Class: dns.ClassINET}, A: net.IPv4(1, 2, 3, 4)}}
			return m
		}, dns.RcodeFormatError},
		{"not fully qualified", func() *dns.Msg { m := query("db.", dns.TypeA); m.Question[0].Name = "db"; return m }, dns.RcodeFormatError},
		{"chaos class", func() *dns.Msg {
			m := query("version.bind.", dns.TypeTXT)
			m.Question[0].Qclass = dns.ClassCHAOS
			return m
		}, dns.RcodeRefused},
		{"class ANY", func() *dns.Msg { m := query("db.", dns.TypeA); m.Question[0].Qclass = dns.ClassANY; return m }, dns.RcodeRefused},
		{"axfr", func() *dns.Msg { return query("xo.", dns.TypeAXFR) }, dns.RcodeRefused},
		{"ixfr", func() *dns.Msg { return query("xo.", dns.TypeIXFR) }, dns.RcodeRefused},
		{"OPT as question", func() *dns.Msg { return query("db.", dns.TypeOPT) }, dns.RcodeFormatError},
		{"EDNS version 1", func() *dns.Msg {
			m := query("db.", dns.TypeA)
			m.SetEdns0(1232, false)
			m.IsEdns0().SetVersion(1)
			return m
		}, dns.RcodeBadVers},
		{"a response", func() *dns.Msg { m := query("db.", dns.TypeA); m.Response = true; return m }, -1},
	}
	for _, tc := range tests {
		t.Run(tc.what, func(t *testing.T) {
			rec := newRecorder(srcWeb, false)
			req := tc.msg()
			s.ServeDNS(rec, req)
			if len(rec.errs) > 0 {
				t.Fatalf("write errors: %v", rec.errs)
			}
			if tc.rcode < 0 {
				if len(rec.msgs) != 0 {
					t.Fatalf("want no reply, got %v", rec.msgs)
				}
				return
			}
			if len(rec.msgs) != 1 {
				t.Fatalf("%d replies", len(rec.msgs))
			}
			r := rec.msgs[0]
			if r.Rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
			}
			if r.Id != req.Id || !r.Response {
				t.Errorf("id %d response %v, want id %d and a response", r.Id, r.Response, req.Id)
			}
			if len(r.Answer) != 0 {
				t.Errorf("answers %v", r.Answer)
			}
		})
	}
}

func TestAcceptQuery(t *testing.T) {
	tests := []struct {
		h    dns.Header
		want dns.MsgAcceptAction
	}{
		{dns.Header{Qdcount: 1}, dns.MsgAccept},
		{dns.Header{Qdcount: 1, Arcount: 1}, dns.MsgAccept},
		{dns.Header{Bits: 1 << 15, Qdcount: 1}, dns.MsgIgnore},
		{dns.Header{Bits: uint16(dns.OpcodeNotify) << 11, Qdcount: 1}, dns.MsgRejectNotImplemented},
		{dns.Header{Qdcount: 0}, dns.MsgReject},
		{dns.Header{Qdcount: 2}, dns.MsgReject},
		{dns.Header{Qdcount: 1, Ancount: 1}, dns.MsgReject},
		{dns.Header{Qdcount: 1, Nscount: 1}, dns.MsgReject},
		{dns.Header{Qdcount: 1, Arcount: 3}, dns.MsgReject},
	}
	for _, tc := range tests {
		if got := acceptQuery(tc.h); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc.h, got, tc.want)
		}
	}
}

func TestEDNSReply(t *testing.T) {
	s := newTestServer(t, testConfig(), fixture())
	rec := newRecorder(srcWeb, false)
	m := query("db.", dns.TypeA)
	m.SetEdns0(4096, true)
	s.ServeDNS(rec, m)
	opt := rec.msgs[0].IsEdns0()
	if opt == nil || opt.UDPSize() != ednsSize || !opt.Do() {
		t.Fatalf("OPT %v, want size %d and DO", opt, ednsSize)
	}
	rec = newRecorder(srcWeb, false)
	s.ServeDNS(rec, query("db.", dns.TypeA))
	if rec.msgs[0].IsEdns0() != nil {
		t.Fatal("OPT in the reply to a query without one")
	}
}

// bigSnapshot has one service with n tasks on one network.
func bigSnapshot(n int) Snapshot {
	snap := Snapshot{Networks: []Network{{ID: "n", Name: "big", Subnet: netip.MustParsePrefix("10.50.0.0/16")}}}
	for i := range n {
		ip := netip.AddrFrom4([4]byte{10, 50, byte(i / 250), byte(1 + i%250)})
		snap.Endpoints = append(snap.Endpoints, Endpoint{NetworkID: "n", ContainerID: ip.String(), IP: ip,
			Service: "many", Task: "t" + ip.String(), InService: true})
	}
	return snap
}

func TestTruncation(t *testing.T) {
	s := newTestServer(t, testConfig(), bigSnapshot(100))
	tests := []struct {
		what    string
		tcp     bool
		edns    uint16
		wantTC  bool
		maxSize int
	}{
		{"udp 512", false, 0, true, 512},
		{"udp edns 1232", false, 1232, true, 1232},
		{"udp edns 4096 fits", false, 4096, false, 4096},
		{"udp edns below 512 means 512", false, 100, true, 512},
		{"tcp takes everything", true, 0, false, 65535},
	}
	for _, tc := range tests {
		t.Run(tc.what, func(t *testing.T) {
			rec := newRecorder(srcLoop, tc.tcp)
			m := query("many.", dns.TypeA)
			if tc.edns > 0 {
				m.SetEdns0(tc.edns, false)
			}
			s.ServeDNS(rec, m)
			r := rec.msgs[0]
			if r.Truncated != tc.wantTC {
				t.Fatalf("TC %v, want %v (%d answers)", r.Truncated, tc.wantTC, len(r.Answer))
			}
			if l := rec.sizes[0]; l > tc.maxSize {
				t.Fatalf("reply of %d bytes, limit %d", l, tc.maxSize)
			}
			if !tc.wantTC && len(r.Answer) != 100 {
				t.Fatalf("%d answers, want 100", len(r.Answer))
			}
		})
	}
}

type panicStage struct{}

func (panicStage) ServeDNS(context.Context, *request) (int, error) { panic("boom") }

func TestPanicRecovered(t *testing.T) {
	s := newTestServer(t, testConfig(), fixture())
	s.chain = panicStage{}
	r := ask(t, s, srcWeb, "db.", dns.TypeA)
	if r == nil || r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("reply %v, want SERVFAIL", r)
	}
	if got := testutil.ToFloat64(s.m.panics); got != 1 {
		t.Fatalf("panics %v, want 1", got)
	}
}

func TestQueryMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := New(testConfig(), nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	s.Update(fixture())
	ask(t, s, srcWeb, "db.", dns.TypeA)
	ask(t, s, srcWeb, "nosuch.", dns.TypeA)
	ask(t, s, srcWeb, "db.", dns.TypeAAAA)
	ask(t, s, srcWeb, "db.", dns.TypeTXT)
	if got := testutil.ToFloat64(s.m.queries[0][dns.RcodeSuccess]); got != 1 {
		t.Errorf("A NOERROR %v", got)
	}
	if got := testutil.ToFloat64(s.m.queries[0][dns.RcodeNameError]); got != 1 {
		t.Errorf("A NXDOMAIN %v", got)
	}
	if got := testutil.ToFloat64(s.m.queries[1][dns.RcodeSuccess]); got != 1 {
		t.Errorf("AAAA NOERROR %v", got)
	}
	if got := testutil.ToFloat64(s.m.queries[5][dns.RcodeSuccess]); got != 1 {
		t.Errorf("other NOERROR %v", got)
	}
	if got := testutil.ToFloat64(s.m.records); got == 0 {
		t.Error("records gauge 0")
	}
	if got := testutil.ToFloat64(s.m.updates); got != 1 {
		t.Errorf("index updates %v", got)
	}
	n, err := testutil.GatherAndCount(reg, "xo_dns_query_duration_seconds", "xo_dns_queries_total",
		"xo_dns_forwarded_total", "xo_dns_cache_entries", "xo_dns_panics_total")
	if err != nil || n == 0 {
		t.Errorf("gathered %d series, %v", n, err)
	}
	if _, err := New(testConfig(), nil, reg); err == nil {
		t.Error("a second server on the same registry: no error")
	}
}
