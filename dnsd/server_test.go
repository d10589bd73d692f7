package dnsd

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// startServer starts a server on 127.0.0.1:0 and shuts it down at the end
// of the test.
func startServer(t *testing.T, cfg Config, snap Snapshot) *Server {
	t.Helper()
	s := newTestServer(t, cfg, snap)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s
}

func TestServerUDPAndTCP(t *testing.T) {
	s, _ := startBigServer(t)
	addr := s.Addr()
	if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
		t.Fatalf("Addr %q", addr)
	}

	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			c := &dns.Client{Net: network, Timeout: 2 * time.Second}
			tests := []struct {
				name    string
				qtype   uint16
				rcode   int
				answers int
			}{
				{"web.", dns.TypeA, dns.RcodeSuccess, 2}, // loopback: the host view
				{"db.backend.xo.", dns.TypeA, dns.RcodeSuccess, 1},
				{"nosuch.", dns.TypeA, dns.RcodeNameError, 0},
				{"2.0.1.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, 1},
				{"ok.test.", dns.TypeA, dns.RcodeSuccess, 1}, // forwarded
				{"many.", dns.TypeA, dns.RcodeSuccess, 100},  // truncated over UDP
			}
			for _, tc := range tests {
				m := query(tc.name, tc.qtype)
				r, _, err := c.Exchange(m, addr)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				if r.Id != m.Id || r.Rcode != tc.rcode {
					t.Fatalf("%s: id %d rcode %s", tc.name, r.Id, dns.RcodeToString[r.Rcode])
				}
				want := tc.answers
				if network == "udp" && r.Truncated {
					want = len(r.Answer)
				}
				if len(r.Answer) != want {
					t.Fatalf("%s: %d answers, want %d", tc.name, len(r.Answer), want)
				}
				if tc.name == "many." && (network == "udp") != r.Truncated {
					t.Fatalf("%s over %s: TC %v", tc.name, network, r.Truncated)
				}
			}
		})
	}

	// Malformed packets get no answer or FORMERR, and the server lives on.
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, junk := range [][]byte{{1, 2, 3}, make([]byte, 12), []byte("0123456789abcdefghijklmnopqrstuvwxyz")} {
		if _, err := conn.Write(junk); err != nil {
			t.Fatal(err)
		}
	}
	if r, _, err := new(dns.Client).Exchange(query("db.", dns.TypeA), addr); err != nil || r.Rcode != dns.RcodeSuccess {
		t.Fatalf("after junk: %v %v", r, err)
	}
}

func TestServerLifecycle(t *testing.T) {
	s := newTestServer(t, testConfig(), fixture())
	if s.Addr() != "" {
		t.Fatal("Addr before Start")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil {
		t.Fatal("second Start: no error")
	}
	addr := s.Addr()

	// The same address again: bind error from Start.
	cfg := testConfig()
	cfg.Addr = addr
	other := newTestServer(t, cfg, Snapshot{})
	if err := other.Start(); err == nil || !strings.HasPrefix(err.Error(), "dnsd: ") {
		t.Fatalf("Start on a used address: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := s.Start(); err == nil {
		t.Fatal("Start after Shutdown: no error")
	}
	c := &dns.Client{Net: "tcp", Timeout: 300 * time.Millisecond}
	if _, _, err := c.Exchange(query("db.", dns.TypeA), addr); err == nil {
		t.Fatal("answered after Shutdown")
	}
	// Never started: Shutdown is fine.
	if err := newTestServer(t, testConfig(), Snapshot{}).Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestShutdownAbortsForwards(t *testing.T) {
	cfg, u := blockingUpstreamConfig(t)
	s := newTestServer(t, cfg, fixture())
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(query("block.test.", dns.TypeA), s.Addr())
		if err == nil && r.Rcode != dns.RcodeServerFailure {
			err = fmt.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
		}
		errc <- err
	}()
	<-u.seen
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("Shutdown took %s with a forward in flight", el)
	}
	if err := <-errc; err != nil {
		t.Fatalf("the aborted query: %v, want SERVFAIL before the socket closes", err)
	}
	if got := testutil.ToFloat64(s.m.forwarded[fwdError]) + testutil.ToFloat64(s.m.forwarded[fwdTimeout]); got != 1 {
		t.Fatalf("aborted forwards counted %v, want 1", got)
	}
}
