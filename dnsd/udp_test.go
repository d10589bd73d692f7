package dnsd

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testHandler answers every name with A 192.0.2.1, "many." with 100 A
// records; "hold." waits (inline) for a value on release, or its close;
// "later." detaches and answers once release is closed.
type testHandler struct {
	held    chan struct{} // a "hold." or "later." query arrived
	release chan struct{}
	late    sync.WaitGroup // detached answers
}

func newTestHandler() *testHandler {
	return &testHandler{held: make(chan struct{}, 100), release: make(chan struct{}, 10)}
}

func (h *testHandler) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	a := func(i byte) dns.RR {
		return &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1},
			A: net.IPv4(192, 0, 2, i)}
	}
	switch r.Question[0].Name {
	case "many.":
		for i := range 100 {
			m.Answer = append(m.Answer, a(byte(i)))
		}
	case "hold.":
		h.held <- struct{}{}
		<-h.release
		m.Answer = []dns.RR{a(1)}
	case "later.":
		dw := w.(Detacher).Detach()
		h.late.Go(func() {
			<-h.release
			m.Answer = []dns.RR{a(byte(len(r.Question[0].Name)))} // r is still ours
			_ = dw.WriteMsg(m)
		})
		h.held <- struct{}{} // after late.Go, for late.Wait
		return
	default:
		m.Answer = []dns.RR{a(1)}
	}
	_ = w.WriteMsg(m)
}

// serveUDP serves h on 127.0.0.1 with workers goroutines until the end of
// the test; edit runs before Serve.
func serveUDP(t *testing.T, addr string, workers int, h dns.Handler, edit func(*UDPServer)) *UDPServer {
	t.Helper()
	s, err := ListenUDP(addr, workers, h)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(s)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve() }()
	t.Cleanup(func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-errc; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

// dial is a UDP client connected to addr: it only receives what comes
// from addr itself.
func dial(t *testing.T, addr net.Addr) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, addr.(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, c *net.UDPConn, m *dns.Msg) {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// recv reads one reply (its size too), or nil after wait.
func recv(t *testing.T, c *net.UDPConn, wait time.Duration) (*dns.Msg, int) {
	t.Helper()
	buf := make([]byte, 65536)
	_ = c.SetReadDeadline(time.Now().Add(wait))
	n, err := c.Read(buf)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.ECONNREFUSED) {
		return nil, 0 // none, or nobody listens
	}
	if err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	if err := m.Unpack(buf[:n]); err != nil {
		t.Fatalf("reply does not unpack: %v", err)
	}
	return m, n
}

// Each worker reads a socket of its own (SO_REUSEPORT) and the kernel
// keeps a client on one of them. A query that holds its worker holds
// only that socket: clients on the other one are answered meanwhile, and
// the backlog of the held one is read in full batches afterwards.
func TestUDPServerBatches(t *testing.T) {
	h := newTestHandler()
	var mu sync.Mutex
	var batches []batchRead // in the order read
	s := serveUDP(t, "127.0.0.1:0", 2, h, func(s *UDPServer) {
		s.onBatch = func(worker, n int) {
			mu.Lock()
			batches = append(batches, batchRead{worker, n})
			mu.Unlock()
		}
	})
	ask := func(c *net.UDPConn, id uint16, name string) {
		m := query(name, dns.TypeA)
		m.Id = id
		send(t, c, m)
	}
	replies := func(c *net.UDPConn, n int) map[uint16]bool {
		seen := map[uint16]bool{}
		for range n {
			r, _ := recv(t, c, 5*time.Second)
			if r == nil || seen[r.Id] || len(r.Answer) != 1 {
				t.Fatalf("reply %v after %d of %d", r, len(seen), n)
			}
			seen[r.Id] = true
		}
		return seen
	}
	taken := func() []batchRead {
		mu.Lock()
		defer mu.Unlock()
		b := batches
		batches = nil
		return b
	}

	// A light load: one query at a time, each read alone, all by the
	// worker of the client's socket.
	c := dial(t, s.LocalAddr())
	for i := range 20 {
		ask(c, uint16(i), "q.")
		replies(c, 1)
	}
	light := taken()
	if len(light) != 20 {
		t.Fatalf("one query at a time: batches %v", light)
	}
	held := light[0].worker
	for _, b := range light {
		if b.n != 1 || b.worker != held {
			t.Fatalf("one query at a time from one client: batches %v", light)
		}
	}
	// A client the kernel gives the other socket.
	var other *net.UDPConn
	for i := 0; i < 200 && other == nil; i++ {
		d := dial(t, s.LocalAddr())
		ask(d, 1, "q.")
		replies(d, 1)
		if b := taken(); len(b) == 1 && b[0].worker != held {
			other = d
		}
	}
	if other == nil {
		t.Fatalf("200 clients all read by worker %d: the sockets do not share the address", held)
	}

	// A backlog: c's worker holds at "hold." while c sends a full batch
	// and more; other is answered meanwhile.
	ask(c, 0, "hold.")
	<-h.held
	for i := 1; i <= udpBatch+10; i++ {
		ask(c, uint16(i), "q.")
	}
	for i := range 10 {
		ask(other, uint16(500+i), "q.")
	}
	if got := replies(other, 10); len(got) != 10 {
		t.Fatalf("the other socket while one is held: %d replies", len(got))
	}
	h.release <- struct{}{}
	if got := replies(c, udpBatch+11); len(got) != udpBatch+11 {
		t.Fatalf("the held socket: %d replies", len(got))
	}
	full := false
	for _, b := range taken() {
		full = full || b.worker == held && b.n == udpBatch
	}
	if !full {
		t.Fatal("the held socket's backlog was not read in a full batch")
	}
}

type batchRead struct{ worker, n int }

func TestUDPServerTruncates(t *testing.T) {
	s := serveUDP(t, "127.0.0.1:0", 1, newTestHandler(), nil)
	c := dial(t, s.LocalAddr())
	for _, tc := range []struct {
		edns      uint16 // 0: no EDNS0
		limit     int
		truncated bool
	}{{0, 512, true}, {1232, 1232, true}, {4096, 4096, false}} {
		m := query("many.", dns.TypeA)
		if tc.edns > 0 {
			m.SetEdns0(tc.edns, false)
		}
		send(t, c, m)
		r, size := recv(t, c, 5*time.Second)
		if r == nil {
			t.Fatalf("EDNS %d: no reply", tc.edns)
		}
		if size > tc.limit || r.Truncated != tc.truncated || (tc.truncated == (len(r.Answer) == 100)) {
			t.Fatalf("EDNS %d: %d bytes, TC %v, %d answers", tc.edns, size, r.Truncated, len(r.Answer))
		}
	}
}

// TestUDPServerDetach: a detached query does not hold up its batch, and
// its request message stays intact until it is answered.
func TestUDPServerDetach(t *testing.T) {
	h := newTestHandler()
	s := serveUDP(t, "127.0.0.1:0", 1, h, nil)
	c := dial(t, s.LocalAddr())
	send(t, c, query("later.", dns.TypeA))
	<-h.held
	for range 3 * udpBatch {
		send(t, c, query("other-name-to-reuse-the-message.", dns.TypeA))
		if r, _ := recv(t, c, 5*time.Second); r == nil || r.Question[0].Name == "later." {
			t.Fatalf("reply %v, want the other name's", r)
		}
	}
	close(h.release)
	r, _ := recv(t, c, 5*time.Second)
	if r == nil || r.Question[0].Name != "later." || len(r.Answer) != 1 || !r.Answer[0].(*dns.A).A.Equal(net.IPv4(192, 0, 2, 6)) {
		t.Fatalf("detached reply %v", r)
	}
	h.late.Wait()
}

// TestUDPServerShutdown: Shutdown waits for the batch being answered and
// for detached queries, and sends their replies, or gives up when ctx
// ends; then nothing is answered.
func TestUDPServerShutdown(t *testing.T) {
	h := newTestHandler()
	s, err := ListenUDP("127.0.0.1:0", 1, h)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	c := dial(t, s.LocalAddr())
	send(t, c, query("hold.", dns.TypeA))
	<-h.held

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a handler holding: %v", err)
	}
	close(h.release)
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := s.Serve(); err != nil {
		t.Fatalf("Serve after Shutdown: %v", err)
	}

	// Graceful: the query being answered, inline or detached, is.
	shutdownWaitsFor(t, "hold.")
	shutdownWaitsFor(t, "later.")
}

// shutdownWaitsFor checks that Shutdown waits for the query name, being
// answered, and that its answer is sent; then nothing is answered.
func shutdownWaitsFor(t *testing.T, name string) {
	h := newTestHandler()
	s := serveUDP(t, "127.0.0.1:0", 2, h, nil)
	c := dial(t, s.LocalAddr())
	send(t, c, query(name, dns.TypeA))
	<-h.held
	stopped := make(chan error, 1)
	go func() { stopped <- s.Shutdown(context.Background()) }()
	select {
	case err := <-stopped:
		t.Fatalf("%s: Shutdown returned (%v) with the query being answered", name, err)
	case <-time.After(50 * time.Millisecond):
	}
	close(h.release)
	if r, _ := recv(t, c, 5*time.Second); r == nil || r.Question[0].Name != name {
		t.Fatalf("%s answered with %v", name, r)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	h.late.Wait()
	send(t, c, query("db.", dns.TypeA))
	if r, _ := recv(t, c, 200*time.Millisecond); r != nil {
		t.Fatalf("answered after Shutdown: %v", r)
	}
}

// TestUDPServerAddresses: IPv6; and on 0.0.0.0 (dual stack) a reply
// leaves from the address the query was sent to (127.0.0.2 here: a
// connected client drops replies from elsewhere).
func TestUDPServerAddresses(t *testing.T) {
	ips := []net.IP{net.IPv4(127, 0, 0, 2), net.IPv4(127, 0, 0, 1)}
	if ln, err := net.ListenPacket("udp", "[::1]:0"); err == nil {
		ln.Close()
		ips = append(ips, net.IPv6loopback)
		s := serveUDP(t, "[::1]:0", 1, newTestHandler(), nil)
		c := dial(t, s.LocalAddr())
		send(t, c, query("db.", dns.TypeA))
		if r, _ := recv(t, c, 5*time.Second); r == nil {
			t.Fatalf("no reply from %s", s.LocalAddr())
		}
	}
	s := serveUDP(t, "0.0.0.0:0", 1, newTestHandler(), nil)
	port := s.LocalAddr().(*net.UDPAddr).Port
	for _, ip := range ips {
		c := dial(t, &net.UDPAddr{IP: ip, Port: port})
		send(t, c, query("db.", dns.TypeA))
		if r, _ := recv(t, c, 5*time.Second); r == nil {
			t.Fatalf("no reply from %s", ip)
		}
	}
}
