package dnsd

import (
	"bytes"
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestUDPServerLikeMiekg sends packets that are no plain query to
// UDPServer and to miekg/dns's dns.Server, both with dnsd's accept
// function: the replies (or their absence) are the same bytes, and the
// same packets are reported invalid.
func TestUDPServerLikeMiekg(t *testing.T) {
	pack := func(edit func(*dns.Msg)) []byte {
		m := query("db.", dns.TypeA)
		m.Id = 4242
		m.RecursionDesired = true
		edit(m)
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	valid := pack(func(*dns.Msg) {})
	packets := map[string][]byte{
		"short":         {1, 2, 3},
		"zero header":   make([]byte, 12),
		"garbage":       []byte("0123456789abcdefghijklmnopqrstuvwxyz"),
		"response":      pack(func(m *dns.Msg) { m.Response = true }),
		"update":        pack(func(m *dns.Msg) { m.Opcode = dns.OpcodeUpdate }),
		"notify":        pack(func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify }),
		"two questions": pack(func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }),
		"cut question":  valid[:len(valid)-2],
		"cut name":      valid[:14],
		"cut EDNS":      pack(func(m *dns.Msg) { m.SetEdns0(1232, true) })[:len(valid)+5],
		"answer records": pack(func(m *dns.Msg) {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "db.", Rrtype: dns.TypeA, Class: dns.ClassINET}, A: net.IPv4(1, 2, 3, 4)}}
		}),
		"valid":      valid,
		"valid EDNS": pack(func(m *dns.Msg) { m.SetEdns0(1232, true) }),
	}

	h := newTestHandler()
	var invalidNew, invalidOld atomic.Int64
	fast := serveUDP(t, "127.0.0.1:0", 1, h, func(s *UDPServer) {
		s.MsgAcceptFunc = acceptQuery
		s.MsgInvalidFunc = func([]byte, error) { invalidNew.Add(1) }
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	old := &dns.Server{PacketConn: pc, Handler: h, UDPSize: maxUDPReply, MsgAcceptFunc: acceptQuery,
		MsgInvalidFunc: func([]byte, error) { invalidOld.Add(1) }, NotifyStartedFunc: func() { close(started) }}
	go func() { _ = old.ActivateAndServe() }()
	t.Cleanup(func() { _ = old.Shutdown() })
	<-started

	reply := func(addr net.Addr, b []byte) []byte {
		c := dial(t, addr)
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 65536)
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := c.Read(buf)
		if err != nil {
			return nil // none
		}
		return buf[:n]
	}
	for name, b := range packets {
		got, want := reply(fast.LocalAddr(), b), reply(pc.LocalAddr(), b)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: UDPServer replies %x, dns.Server %x", name, got, want)
		}
		if name == "zero header" && len(got) == 0 {
			t.Errorf("%s: no FORMERR", name)
		}
	}
	if n, o := invalidNew.Load(), invalidOld.Load(); n != o || n == 0 {
		t.Errorf("invalid packets: UDPServer %d, dns.Server %d", n, o)
	}
}

// TestServerForwardsWithoutBlocking: queries waiting for an upstream do
// not hold up the others, which are answered at once; theirs come when
// the upstream answers.
func TestServerForwardsWithoutBlocking(t *testing.T) {
	cfg, u := blockingUpstreamConfig(t)
	s := startServer(t, cfg, fixture())
	addr, err := net.ResolveUDPAddr("udp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, addr)
	blocked := 2 * runtime.GOMAXPROCS(0) // more than there are workers
	for i := range blocked {
		m := query(fmt.Sprintf("block%d.test.", i), dns.TypeA)
		m.Id = uint16(i)
		send(t, c, m)
		<-u.seen
	}
	for i := range 3 {
		m := query("db.", dns.TypeA)
		m.Id = uint16(1000 + i)
		send(t, c, m)
		r, _ := recv(t, c, 5*time.Second)
		if r == nil || r.Id != m.Id || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("cluster name while forwards wait: %v", r)
		}
	}
	u.open()
	for range blocked {
		r, _ := recv(t, c, 5*time.Second)
		if r == nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 ||
			r.Question[0].Name != fmt.Sprintf("block%d.test.", r.Id) {
			t.Fatalf("forwarded reply %v", r)
		}
	}
	// Counted once each (just after the reply is sent).
	waitCount(t, "NOERROR A answers", s.m.queries[typeIndex(dns.TypeA)][rcodeIndex(dns.RcodeSuccess)], blocked+3)
	if got := testutil.ToFloat64(s.m.forwarded[fwdOK]); got != float64(blocked) {
		t.Fatalf("forwarded ok: %v, want %d", got, blocked)
	}
}

// TestServerUDPMalformed: over the socket, malformed packets are counted
// and answered as before; a truncated reply keeps the client's EDNS0
// size; a cached forwarded name is answered in the batch.
func TestServerUDPMalformed(t *testing.T) {
	s, u := startBigServer(t)
	addr, err := net.ResolveUDPAddr("udp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, addr)
	valid, _ := query("db.", dns.TypeA).Pack()
	for _, junk := range [][]byte{{1, 2, 3}, valid[:14]} {
		if _, err := c.Write(junk); err != nil {
			t.Fatal(err)
		}
	}
	r, _ := recv(t, c, 5*time.Second) // FORMERR for the cut name
	if r == nil || r.Rcode != dns.RcodeFormatError {
		t.Fatalf("cut name: %v", r)
	}
	waitCount(t, "malformed", s.m.malformed, 2) // the other worker may count the short one later

	m := query("many.", dns.TypeA)
	m.SetEdns0(1232, false)
	send(t, c, m)
	r, size := recv(t, c, 5*time.Second)
	if r == nil || !r.Truncated || size > 1232 || size < 1000 || r.IsEdns0() == nil {
		t.Fatalf("many. with EDNS0 1232: %d bytes, %v", size, r)
	}
	for range 2 {
		send(t, c, query("ok.test.", dns.TypeA))
		if r, _ := recv(t, c, 5*time.Second); r == nil || len(r.Answer) != 1 {
			t.Fatalf("ok.test.: %v", r)
		}
	}
	if got := u.count("ok.test."); got != 1 {
		t.Fatalf("upstream asked %d times, want 1", got)
	}
}

// waitCount waits a little for the counter c to reach want (it counts
// just after a reply is sent) and fails unless it is exactly want.
func waitCount(t *testing.T, what string, c prometheus.Collector, want int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); testutil.ToFloat64(c) < float64(want) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if got := testutil.ToFloat64(c); got != float64(want) {
		t.Fatalf("%s counted: %v, want %d", what, got, want)
	}
}

// startBigServer starts a server forwarding to a fake upstream, on the
// fixture and 100 more endpoints ("many." has 100 addresses).
func startBigServer(t *testing.T) (*Server, *fakeUpstream) {
	t.Helper()
	u := startUpstream(t)
	cfg := testConfig()
	cfg.Upstreams = []string{u.addr}
	snap := fixture()
	big := bigSnapshot(100)
	snap.Networks = append(snap.Networks, big.Networks...)
	snap.Endpoints = append(snap.Endpoints, big.Endpoints...)
	return startServer(t, cfg, snap), u
}

// blockingUpstreamConfig is the test configuration with a fake upstream
// and a forward timeout long enough for its block*.test names to wait
// until it opens.
func blockingUpstreamConfig(t *testing.T) (Config, *fakeUpstream) {
	t.Helper()
	u := startUpstream(t)
	cfg := testConfig()
	cfg.Upstreams = []string{u.addr}
	cfg.ForwardTimeout = 10 * time.Second
	return cfg, u
}
