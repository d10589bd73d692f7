package dnsd

import (
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestRecordSelection(t *testing.T) {
	s := newTestServer(t, testConfig(), fixture())
	const (
		A    = dns.TypeA
		AAAA = dns.TypeAAAA
		PTR  = dns.TypePTR
		ANY  = dns.TypeANY
		MX   = dns.TypeMX
		OK   = dns.RcodeSuccess
		NX   = dns.RcodeNameError
		FAIL = dns.RcodeServerFailure
	)
	tests := []struct {
		what  string
		src   string
		name  string
		qtype uint16
		rcode int
		want  []string
		notAA bool // forwarded or refused: not authoritative
	}{
		// Scoping by the asker's networks.
		{"same network", srcWeb, "db.", A, OK, []string{"10.2.0.3"}, false},
		{"one of two networks", srcDB, "web.", A, OK, []string{"10.2.0.2"}, false},
		{"multi-network container sees both", srcWeb, "web.", A, OK, []string{"10.1.0.2", "10.2.0.2"}, false},
		{"other network hidden", srcLoner, "db.", A, NX, nil, false},
		{"unknown source sees nothing", srcUnknown, "db.", A, NX, nil, false},
		{"loopback sees all", srcLoop, "loner.", A, OK, []string{"10.3.0.5"}, false},
		{"host address sees all", srcHost, "loner.", A, OK, []string{"10.3.0.5"}, false},
		{"host sees every network of a name", srcLoop, "web.", A, OK, []string{"10.1.0.2", "10.2.0.2"}, false},
		{"out of service never answered", srcWeb, "sick.", A, NX, nil, false},
		{"out of service still scopes", srcSick, "db.", A, OK, []string{"10.2.0.3"}, false},
		{"endpoint of unknown network ignored", srcLoop, "ghost.", A, NX, nil, false},
		// Aliases, short IDs, NAME.NET, the domain.
		{"alias", srcWeb, "www.", A, OK, []string{"10.1.0.2"}, false},
		{"alias on a network the asker is not on", srcDB, "www.", A, NX, nil, false},
		{"second alias", srcDB, "database.", A, OK, []string{"10.2.0.3"}, false},
		{"short container ID", srcWeb, "bbbbbbbbbbbb.", A, OK, []string{"10.2.0.3"}, false},
		{"full container ID is no name", srcWeb, "bbbbbbbbbbbb0.", A, NX, nil, false},
		{"NAME.NET", srcWeb, "web.backend.", A, OK, []string{"10.2.0.2"}, false},
		{"NAME.NET other net", srcWeb, "web.frontend.", A, OK, []string{"10.1.0.2"}, false},
		{"NAME.NET not visible", srcDB, "web.frontend.", A, NX, nil, false},
		{"NAME.NET wrong net", srcWeb, "db.frontend.", A, NX, nil, false},
		{"domain", srcWeb, "db.xo.", A, OK, []string{"10.2.0.3"}, false},
		{"NAME.NET.domain", srcWeb, "web.backend.xo.", A, OK, []string{"10.2.0.2"}, false},
		{"case-insensitive", srcWeb, "WeB.BackEnd.Xo.", A, OK, []string{"10.2.0.2"}, false},
		{"domain apex", srcWeb, "xo.", A, OK, nil, false},
		// Services.
		{"vip service", srcWeb, "api.", A, OK, []string{"10.1.0.100", "10.2.0.100"}, false},
		{"vip on the visible network only", srcDB, "api.", A, OK, []string{"10.2.0.100"}, false},
		{"vip service not visible", srcLoner, "api.", A, NX, nil, false},
		{"tasks.SERVICE", srcWeb, "tasks.api.", A, OK, []string{"10.1.0.10", "10.1.0.11"}, false},
		{"tasks.SERVICE not visible", srcDB, "tasks.api.", A, NX, nil, false},
		{"TASK.SERVICE", srcWeb, "api-1.api.", A, OK, []string{"10.1.0.10"}, false},
		{"TASK.SERVICE out of service", srcWeb, "api-3.api.", A, NX, nil, false},
		{"task container name", srcWeb, "api-2.", A, OK, []string{"10.1.0.11"}, false},
		{"dnsrr service", srcDB, "cache.", A, OK, []string{"10.2.0.20", "10.2.0.21"}, false},
		{"dnsrr NAME.NET", srcDB, "cache.backend.xo.", A, OK, []string{"10.2.0.20", "10.2.0.21"}, false},
		{"implicit service", srcLoner, "worker.", A, OK, []string{"10.3.0.30"}, false},
		{"implicit tasks.", srcLoner, "tasks.worker.", A, OK, []string{"10.3.0.30"}, false},
		{"implicit TASK.SERVICE", srcLoner, "worker-1.worker.", A, OK, []string{"10.3.0.30"}, false},
		{"vip mode without VIP answers tasks", srcLoop, "novip.", A, OK, []string{"10.3.0.40"}, false},
		{"container name before service", srcWeb, "dup.", A, OK, []string{"10.1.0.50"}, false},
		{"unknown task of a service", srcWeb, "nope.api.", A, NX, nil, false},
		// PTR.
		{"PTR", srcWeb, "2.0.1.10.in-addr.arpa.", PTR, OK, []string{"web.frontend."}, false},
		{"PTR other net", srcWeb, "3.0.2.10.in-addr.arpa.", PTR, OK, []string{"db.backend."}, false},
		{"PTR not visible", srcDB, "2.0.1.10.in-addr.arpa.", PTR, NX, nil, false},
		{"PTR of a VIP", srcWeb, "100.0.1.10.in-addr.arpa.", PTR, OK, []string{"api.frontend."}, false},
		{"PTR free address in a subnet", srcWeb, "99.0.1.10.in-addr.arpa.", PTR, NX, nil, false},
		{"PTR out of service", srcLoop, "4.0.2.10.in-addr.arpa.", PTR, NX, nil, false},
		{"PTR A query", srcWeb, "2.0.1.10.in-addr.arpa.", A, OK, nil, false},
		{"PTR v6 outside the (v4) subnets", srcLoop, "6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", PTR, FAIL, nil, true},
		{"PTR outside every subnet forwarded", srcWeb, "1.1.168.192.in-addr.arpa.", PTR, FAIL, nil, true},
		// Types.
		{"AAAA NODATA", srcWeb, "db.", AAAA, OK, nil, false},
		{"MX NODATA", srcWeb, "db.", MX, OK, nil, false},
		{"AAAA of a v6 endpoint", srcWeb, "six.", AAAA, OK, []string{"fd00::6"}, false},
		{"A of a v6 endpoint", srcWeb, "six.", A, OK, nil, false},
		{"ANY cluster name", srcWeb, "db.", ANY, OK, []string{"10.2.0.3"}, false},
		{"ANY missing cluster name", srcWeb, "nosuch.", ANY, NX, nil, false},
		{"ANY outside name", srcWeb, "example.com.", ANY, OK, []string{"HINFO RFC8482"}, true},
		// Cluster names that do not exist, and the rest.
		{"single label", srcWeb, "nosuch.", A, NX, nil, false},
		{"ends in a network", srcWeb, "nosuch.backend.", A, NX, nil, false},
		{"ends in a network not visible", srcDB, "nosuch.other.", A, NX, nil, false},
		{"ends in a service", srcWeb, "foo.bar.api.", A, NX, nil, false},
		{"under the domain", srcWeb, "a.b.xo.", A, NX, nil, false},
		{"outside the cluster, no upstream", srcWeb, "example.com.", A, FAIL, nil, true},
		{"root, no upstream", srcWeb, ".", dns.TypeNS, FAIL, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.what, func(t *testing.T) {
			r := ask(t, s, tc.src, tc.name, tc.qtype)
			if r == nil {
				t.Fatal("no reply")
			}
			if r.Rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
			}
			if got := rrStrings(r.Answer); !slices.Equal(got, tc.want) {
				t.Fatalf("answers %v, want %v", got, tc.want)
			}
			if r.Authoritative == tc.notAA {
				t.Errorf("AA %v, want %v", r.Authoritative, !tc.notAA)
			}
			if len(r.Question) != 1 || r.Question[0].Name != tc.name {
				t.Errorf("question %v, want %s", r.Question, tc.name)
			}
			for _, rr := range r.Answer {
				if rr.Header().Rrtype != dns.TypeHINFO && rr.Header().Name != tc.name {
					t.Errorf("owner %q, want the name asked %q", rr.Header().Name, tc.name)
				}
			}
		})
	}
}

func TestTTL(t *testing.T) {
	for _, ttl := range []time.Duration{0, time.Second, 1500 * time.Millisecond, 300 * time.Second} {
		cfg := testConfig()
		cfg.TTL = ttl
		s, err := New(cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.Update(fixture())
		for _, q := range []struct {
			name  string
			qtype uint16
		}{{"web.", dns.TypeA}, {"2.0.1.10.in-addr.arpa.", dns.TypePTR}} {
			r := ask(t, s, srcWeb, q.name, q.qtype)
			want := uint32(ttl / time.Second)
			for _, rr := range r.Answer {
				if rr.Header().Ttl != want {
					t.Errorf("TTL %s: %s has TTL %d, want %d", ttl, q.name, rr.Header().Ttl, want)
				}
			}
			if len(r.Answer) == 0 {
				t.Errorf("TTL %s: %s: no answer", ttl, q.name)
			}
		}
	}
}

func TestAnswersRotate(t *testing.T) {
	s := newTestServer(t, testConfig(), fixture())
	first := map[string]int{}
	for range 200 {
		r := ask(t, s, srcWeb, "tasks.api.", dns.TypeA)
		if len(r.Answer) != 2 {
			t.Fatalf("answers %v", r.Answer)
		}
		first[r.Answer[0].(*dns.A).A.String()]++
	}
	if len(first) != 2 {
		t.Fatalf("first answers %v: the order never changes", first)
	}
}

func TestUpdateSwapsIndex(t *testing.T) {
	s := newTestServer(t, testConfig(), Snapshot{})
	if r := ask(t, s, srcLoop, "db.", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Fatalf("empty index: %s", dns.RcodeToString[r.Rcode])
	}
	s.Update(fixture())
	if r := ask(t, s, srcLoop, "db.", dns.TypeA); len(r.Answer) != 1 {
		t.Fatalf("after Update: %v", r)
	}
	snap := fixture()
	snap.Endpoints[2].InService = false // db unhealthy
	s.Update(snap)
	if r := ask(t, s, srcLoop, "db.", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Fatalf("after db left service: %v", r)
	}
}

func TestUpdateConcurrentWithQueries(t *testing.T) {
	s := newTestServer(t, testConfig(), fixture())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			snap := fixture()
			snap.Endpoints[2].InService = i%2 == 0
			s.Update(snap)
		}
	}()
	for {
		select {
		case <-done:
			return
		default:
			r := ask(t, s, srcWeb, "db.", dns.TypeA)
			if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
				t.Fatalf("rcode %s", dns.RcodeToString[r.Rcode])
			}
		}
	}
}
