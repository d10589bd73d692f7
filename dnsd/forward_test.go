package dnsd

import (
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// forwardServer is a test server forwarding to upstreams, its cache on a
// fake clock.
func forwardServer(t *testing.T, edit func(*Config), upstreams ...string) (*Server, *fakeClock) {
	t.Helper()
	cfg := testConfig()
	cfg.Upstreams = upstreams
	cfg.ForwardTimeout = time.Second
	cfg.CacheSize = 100
	if edit != nil {
		edit(&cfg)
	}
	s := newTestServer(t, cfg, fixture())
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	s.fwd.now = clock.Now
	return s, clock
}

func firstA(t *testing.T, r *dns.Msg) *dns.A {
	t.Helper()
	if r == nil || len(r.Answer) == 0 {
		t.Fatalf("no answer: %v", r)
	}
	a, ok := r.Answer[0].(*dns.A)
	if !ok {
		t.Fatalf("answer %v", r.Answer[0])
	}
	return a
}

func TestForwardCache(t *testing.T) {
	u := startUpstream(t)
	s, _ := forwardServer(t, nil, u.addr)

	rec := newRecorder(srcWeb, false)
	req := query("ok.test.", dns.TypeA)
	s.ServeDNS(rec, req)
	r := rec.msgs[0]
	if r.Rcode != dns.RcodeSuccess || firstA(t, r).A.String() != "192.0.2.1" || r.Authoritative {
		t.Fatalf("reply %v", r)
	}
	if r.Id != req.Id {
		t.Fatalf("reply id %d, query id %d", r.Id, req.Id)
	}
	if r.IsEdns0() != nil {
		t.Fatal("OPT in a reply to a query without EDNS0")
	}
	// Another case, another client: from the cache, the question as asked.
	r = ask(t, s, srcLoner, "Ok.TEST.", dns.TypeA)
	if firstA(t, r).A.String() != "192.0.2.1" || r.Question[0].Name != "Ok.TEST." {
		t.Fatalf("cached reply %v", r)
	}
	if n := u.count("ok.test."); n != 1 {
		t.Fatalf("upstream asked %d times, want 1", n)
	}
	if h, m := testutil.ToFloat64(s.m.cacheHits), testutil.ToFloat64(s.m.cacheMisses); h != 1 || m != 1 {
		t.Fatalf("cache hits %v misses %v, want 1 and 1", h, m)
	}
	if got := testutil.ToFloat64(s.m.forwarded[fwdOK]); got != 1 {
		t.Fatalf("forwarded ok %v", got)
	}
	if got := testutil.ToFloat64(s.m.cacheEntries); got != 1 {
		t.Fatalf("cache entries %v", got)
	}
	// Another type is another entry.
	ask(t, s, srcWeb, "ok.test.", dns.TypeAAAA)
	if n := u.count("ok.test."); n != 2 {
		t.Fatalf("upstream asked %d times, want 2", n)
	}
}

func TestForwardTTLDecrement(t *testing.T) {
	u := startUpstream(t)
	s, clock := forwardServer(t, nil, u.addr)
	if ttl := firstA(t, ask(t, s, srcWeb, "ok.test.", dns.TypeA)).Hdr.Ttl; ttl != 60 {
		t.Fatalf("TTL %d, want 60", ttl)
	}
	clock.Add(3500 * time.Millisecond)
	if ttl := firstA(t, ask(t, s, srcWeb, "ok.test.", dns.TypeA)).Hdr.Ttl; ttl != 57 {
		t.Fatalf("TTL after 3.5s %d, want 57", ttl)
	}
	clock.Add(57 * time.Second) // expired
	if ttl := firstA(t, ask(t, s, srcWeb, "ok.test.", dns.TypeA)).Hdr.Ttl; ttl != 60 {
		t.Fatalf("TTL after expiry %d, want 60", ttl)
	}
	if n := u.count("ok.test."); n != 2 {
		t.Fatalf("upstream asked %d times, want 2", n)
	}
	// TTL 0 is never cached.
	ask(t, s, srcWeb, "zero.test.", dns.TypeA)
	ask(t, s, srcWeb, "zero.test.", dns.TypeA)
	if n := u.count("zero.test."); n != 2 {
		t.Fatalf("zero TTL: upstream asked %d times, want 2", n)
	}
}

func TestForwardNegativeCache(t *testing.T) {
	u := startUpstream(t)
	s, clock := forwardServer(t, func(c *Config) { c.NegativeTTL = 10 * time.Second }, u.addr)
	tests := []struct {
		name  string
		rcode int
		ttl   time.Duration // how long it stays cached
	}{
		{"nx.test.", dns.RcodeNameError, 5 * time.Second},         // SOA minimum
		{"nxnosoa.test.", dns.RcodeNameError, 10 * time.Second},   // NegativeTTL
		{"nodata.test.", dns.RcodeSuccess, 10 * time.Second},      // SOA capped by NegativeTTL
		{"fail.test.", dns.RcodeServerFailure, failureTTL},        // failures briefly
		{"wrongq.test.", dns.RcodeServerFailure, failureTTL},      // answer to another question
		{"unknown.test.", dns.RcodeNameError, 10 * time.Second},   // no SOA
		{"fail.test.", dns.RcodeServerFailure, failureTTL},        // again, after expiry
		{"nodata.test.", dns.RcodeSuccess, 10 * time.Second},      // again
		{"nx.test.", dns.RcodeNameError, 5 * time.Second},         // again
		{"nxnosoa.test.", dns.RcodeNameError, 10 * time.Second},   // again
		{"unknown.test.", dns.RcodeNameError, 10 * time.Second},   // again
		{"wrongq.test.", dns.RcodeServerFailure, 2 * time.Second}, // again
	}
	for i, tc := range tests {
		before := u.count(tc.name)
		for range 2 {
			r := ask(t, s, srcWeb, tc.name, dns.TypeA)
			if r.Rcode != tc.rcode || len(r.Answer) != 0 {
				t.Fatalf("%d %s: %s %v, want %s", i, tc.name, dns.RcodeToString[r.Rcode], r.Answer, dns.RcodeToString[tc.rcode])
			}
		}
		if n := u.count(tc.name) - before; n != 1 {
			t.Fatalf("%d %s: upstream asked %d times, want 1", i, tc.name, n)
		}
		clock.Add(tc.ttl - time.Millisecond)
		ask(t, s, srcWeb, tc.name, dns.TypeA)
		if n := u.count(tc.name) - before; n != 1 {
			t.Fatalf("%d %s: expired before %s", i, tc.name, tc.ttl)
		}
		clock.Add(2 * time.Millisecond)
		before = u.count(tc.name)
		ask(t, s, srcWeb, tc.name, dns.TypeA)
		if n := u.count(tc.name) - before; n != 1 {
			t.Fatalf("%d %s: still cached after %s", i, tc.name, tc.ttl)
		}
		clock.Add(time.Hour) // forget everything
	}
}

func TestForwardUpstreamDown(t *testing.T) {
	s, clock := forwardServer(t, func(c *Config) { c.ForwardTimeout = 300 * time.Millisecond }, deadUpstream(t))
	start := time.Now()
	r := ask(t, s, srcWeb, "ok.test.", dns.TypeA)
	if el := time.Since(start); el > 2*time.Second || el < 250*time.Millisecond {
		t.Fatalf("SERVFAIL after %s, want about the 300ms deadline", el)
	}
	if r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %s", dns.RcodeToString[r.Rcode])
	}
	if got := testutil.ToFloat64(s.m.forwarded[fwdTimeout]); got != 1 {
		t.Fatalf("forwarded timeout %v", got)
	}
	// The failure is remembered briefly: the next answer is immediate.
	start = time.Now()
	if r := ask(t, s, srcWeb, "ok.test.", dns.TypeA); r.Rcode != dns.RcodeServerFailure || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("second query: %s after %s", dns.RcodeToString[r.Rcode], time.Since(start))
	}
	clock.Add(failureTTL)
	start = time.Now()
	ask(t, s, srcWeb, "ok.test.", dns.TypeA)
	if time.Since(start) < 250*time.Millisecond {
		t.Fatal("failure cached longer than failureTTL")
	}
}

func TestForwardFailover(t *testing.T) {
	good := startUpstream(t)
	broken := startUpstream(t)
	broken.servfail.Store(true)
	for _, tc := range []struct {
		what    string
		first   string
		minTime time.Duration
	}{
		{"timeout", deadUpstream(t), 400 * time.Millisecond}, // half the 1s deadline
		{"refused port", closedUpstream(t), 0},
		{"servfail", broken.addr, 0},
	} {
		t.Run(tc.what, func(t *testing.T) {
			s, _ := forwardServer(t, nil, tc.first, good.addr)
			before := good.count("ok.test.")
			start := time.Now()
			r := ask(t, s, srcWeb, "ok.test.", dns.TypeA)
			if firstA(t, r).A.String() != "192.0.2.1" {
				t.Fatalf("reply %v", r)
			}
			if el := time.Since(start); el < tc.minTime || el > 1500*time.Millisecond {
				t.Fatalf("answered after %s", el)
			}
			if good.count("ok.test.") != before+1 {
				t.Fatal("second upstream not asked")
			}
		})
	}
}

func TestForwardBusy(t *testing.T) {
	u := startUpstream(t)
	s, _ := forwardServer(t, func(c *Config) { c.MaxConcurrent = 1; c.ForwardTimeout = 5 * time.Second }, u.addr)
	done := make(chan *dns.Msg)
	go func() {
		rec := newRecorder(srcWeb, false)
		s.ServeDNS(rec, query("block.test.", dns.TypeA))
		done <- rec.msgs[0]
	}()
	if name := <-u.seen; name != "block.test." {
		t.Fatalf("upstream saw %s", name)
	}
	start := time.Now()
	r := ask(t, s, srcWeb, "ok.test.", dns.TypeA)
	if r.Rcode != dns.RcodeServerFailure || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("over the limit: %s after %s, want SERVFAIL at once", dns.RcodeToString[r.Rcode], time.Since(start))
	}
	if got := testutil.ToFloat64(s.m.forwarded[fwdBusy]); got != 1 {
		t.Fatalf("busy %v", got)
	}
	u.open()
	if r := <-done; r.Rcode != dns.RcodeSuccess {
		t.Fatalf("blocked query: %s", dns.RcodeToString[r.Rcode])
	}
	// Busy is not remembered.
	if r := ask(t, s, srcWeb, "ok.test.", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("after the limit: %s", dns.RcodeToString[r.Rcode])
	}
}

func TestForwardCoalesces(t *testing.T) {
	u := startUpstream(t)
	s, _ := forwardServer(t, func(c *Config) { c.ForwardTimeout = 5 * time.Second }, u.addr)
	const n = 20
	var wg sync.WaitGroup
	replies := make(chan *dns.Msg, n)
	for range n {
		wg.Go(func() {
			rec := newRecorder(srcWeb, false)
			s.ServeDNS(rec, query("block-same.test.", dns.TypeA))
			replies <- rec.msgs[0]
		})
	}
	<-u.seen
	time.Sleep(200 * time.Millisecond) // the others join the query in flight
	u.open()
	wg.Wait()
	close(replies)
	for r := range replies {
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("reply %v", r)
		}
	}
	if c := u.count("block-same.test."); c != 1 {
		t.Fatalf("upstream asked %d times for %d identical queries, want 1", c, n)
	}
}

func TestForwardTruncatedRetriesTCP(t *testing.T) {
	u := startUpstream(t)
	s, _ := forwardServer(t, nil, u.addr)
	rec := newRecorder(srcWeb, true)
	s.ServeDNS(rec, query("big.test.", dns.TypeA))
	if r := rec.msgs[0]; len(r.Answer) != 100 || r.Truncated {
		t.Fatalf("%d answers, TC %v; want all 100", len(r.Answer), r.Truncated)
	}
	if udp, tcp := u.udp.Load(), u.tcp.Load(); udp != 1 || tcp != 1 {
		t.Fatalf("upstream: %d UDP and %d TCP queries, want 1 and 1", udp, tcp)
	}
	// A UDP client gets the cached answer truncated to its size.
	rec = newRecorder(srcWeb, false)
	s.ServeDNS(rec, query("big.test.", dns.TypeA))
	if r := rec.msgs[0]; !r.Truncated || rec.sizes[0] > 512 {
		t.Fatalf("UDP reply TC %v, %d bytes", r.Truncated, rec.sizes[0])
	}
	if u.udp.Load()+u.tcp.Load() != 2 {
		t.Fatal("not answered from the cache")
	}
}

func TestForwardEDNS(t *testing.T) {
	u := startUpstream(t)
	s, _ := forwardServer(t, nil, u.addr)
	rec := newRecorder(srcWeb, false)
	m := query("ok.test.", dns.TypeA)
	m.SetEdns0(4096, true)
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
	s.ServeDNS(rec, m)
	u.mu.Lock()
	up := u.lastOPT
	u.mu.Unlock()
	if up == nil || !up.Do() || up.UDPSize() != ednsSize || len(up.Option) != 0 {
		t.Fatalf("upstream OPT %v: want DO, size %d, no client options", up, ednsSize)
	}
	opt := rec.msgs[0].IsEdns0()
	if opt == nil || !opt.Do() || opt.UDPSize() != ednsSize {
		t.Fatalf("reply OPT %v", opt)
	}
	// Without EDNS0 the client gets no OPT, and the DO bit makes another entry.
	r := ask(t, s, srcWeb, "ok.test.", dns.TypeA)
	if r.IsEdns0() != nil {
		t.Fatal("OPT in the reply to a query without EDNS0")
	}
	if n := u.count("ok.test."); n != 2 {
		t.Fatalf("upstream asked %d times, want 2 (DO and not)", n)
	}
}

func TestForwardNoCache(t *testing.T) {
	u := startUpstream(t)
	cfg := testConfig()
	cfg.Upstreams = []string{u.addr}
	s, err := New(cfg, nil, nil) // CacheSize 0: no cache
	if err != nil {
		t.Fatal(err)
	}
	ask(t, s, srcWeb, "ok.test.", dns.TypeA)
	ask(t, s, srcWeb, "ok.test.", dns.TypeA)
	if n := u.count("ok.test."); n != 2 {
		t.Fatalf("upstream asked %d times, want 2", n)
	}
}

func TestCacheBounded(t *testing.T) {
	c := newCache(10, time.Minute, testGauge())
	now := time.Unix(1000, 0)
	for i := range 100 {
		m := new(dns.Msg)
		m.SetQuestion(string(rune('a'+i%26))+".test.", dns.TypeA)
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "x.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}}}
		c.put(cacheKey{name: m.Question[0].Name, qtype: uint16(i)}, m, now)
	}
	if n := len(c.m); n > 10 {
		t.Fatalf("%d entries, bound 10", n)
	}
}

func testGauge() prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{Name: "test_gauge"})
}
