package dnsd

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fakeUpstream is a real miekg/dns server on 127.0.0.1 (UDP and TCP,
// one port) that answers test names and counts what it is asked.
//
//	ok.test      A 192.0.2.1, TTL 60
//	zero.test    A 192.0.2.1, TTL 0
//	nx.test      NXDOMAIN, SOA TTL 10, minimum 5
//	nxnosoa.test NXDOMAIN without SOA
//	nodata.test  NOERROR without answers, SOA minimum 3000
//	big.test     100 A records (truncated over UDP)
//	fail.test    SERVFAIL
//	block*.test  like ok.test, once gate is closed
//	wrongq.test  an answer to another question
type fakeUpstream struct {
	addr     string
	servfail atomic.Bool // answer SERVFAIL to everything
	gate     chan struct{}
	seen     chan string // every question, if not full

	udp, tcp atomic.Int64
	mu       sync.Mutex
	names    map[string]int
	lastOPT  *dns.OPT
	servers  []*dns.Server
}

func startUpstream(t testing.TB) *fakeUpstream {
	t.Helper()
	u := &fakeUpstream{gate: make(chan struct{}), seen: make(chan string, 100), names: map[string]int{}}
	conns, ln, err := listen("127.0.0.1:0", 1)
	if err != nil {
		t.Fatal(err)
	}
	pc := conns[0]
	u.addr = pc.LocalAddr().String()
	u.servers = []*dns.Server{{PacketConn: pc, Handler: u}, {Listener: ln, Handler: u}}
	var started sync.WaitGroup
	for _, srv := range u.servers {
		started.Add(1)
		srv.NotifyStartedFunc = started.Done
		go func() { _ = srv.ActivateAndServe() }()
	}
	started.Wait()
	t.Cleanup(u.stop)
	return u
}

func (u *fakeUpstream) stop() {
	u.open()
	for _, srv := range u.servers {
		_ = srv.Shutdown()
	}
}

// open releases the block*.test queries.
func (u *fakeUpstream) open() {
	u.mu.Lock()
	defer u.mu.Unlock()
	select {
	case <-u.gate:
	default:
		close(u.gate)
	}
}

func (u *fakeUpstream) count(name string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.names[name]
}

func (u *fakeUpstream) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	q := r.Question[0]
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	if tcp {
		u.tcp.Add(1)
	} else {
		u.udp.Add(1)
	}
	u.mu.Lock()
	u.names[q.Name]++
	u.lastOPT = r.IsEdns0()
	u.mu.Unlock()
	select {
	case u.seen <- q.Name:
	default:
	}

	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	a := func(ttl uint32, ip net.IP) dns.RR {
		return &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: ip}
	}
	soa := func(ttl, minttl uint32) dns.RR {
		return &dns.SOA{Hdr: dns.RR_Header{Name: "test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
			Ns: "ns.test.", Mbox: "hostmaster.test.", Serial: 1, Refresh: 60, Retry: 60, Expire: 600, Minttl: minttl}
	}
	switch name := strings.ToLower(q.Name); {
	case u.servfail.Load() || name == "fail.test.":
		m.Rcode = dns.RcodeServerFailure
	case name == "ok.test.":
		m.Answer = []dns.RR{a(60, net.IPv4(192, 0, 2, 1))}
	case name == "zero.test.":
		m.Answer = []dns.RR{a(0, net.IPv4(192, 0, 2, 1))}
	case name == "nx.test.":
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{soa(10, 5)}
	case name == "nxnosoa.test.":
		m.Rcode = dns.RcodeNameError
	case name == "nodata.test.":
		m.Ns = []dns.RR{soa(3000, 3000)}
	case name == "big.test.":
		for i := range 100 {
			m.Answer = append(m.Answer, a(60, net.IPv4(192, 0, 2, byte(i))))
		}
	case strings.HasPrefix(name, "block"):
		<-u.gate
		m.Answer = []dns.RR{a(60, net.IPv4(192, 0, 2, 2))}
	case name == "wrongq.test.":
		m.Question[0].Name = "other.test."
		m.Answer = []dns.RR{a(60, net.IPv4(192, 0, 2, 3))}
	default:
		m.Rcode = dns.RcodeNameError
	}
	if !tcp {
		size := dns.MinMsgSize
		if opt := r.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
		}
		m.Truncate(size)
	}
	_ = w.WriteMsg(m)
}

// deadUpstream is a UDP socket on 127.0.0.1 that never answers.
func deadUpstream(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

// closedUpstream is a 127.0.0.1 UDP port nobody listens on: queries to it
// fail at once (ICMP port unreachable).
func closedUpstream(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// fakeClock is a settable clock for the cache.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
