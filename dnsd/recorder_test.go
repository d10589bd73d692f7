package dnsd

import (
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// recorder is a dns.ResponseWriter that keeps what is written, parsed
// back from the wire (so every reply is known to pack and unpack).
type recorder struct {
	remote net.Addr
	msgs   []*dns.Msg
	sizes  []int // wire size of each reply
	errs   []error
}

func newRecorder(src string, tcp bool) *recorder {
	ip := net.ParseIP(src)
	if tcp {
		return &recorder{remote: &net.TCPAddr{IP: ip, Port: 40000}}
	}
	return &recorder{remote: &net.UDPAddr{IP: ip, Port: 40000}}
}

func (r *recorder) LocalAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(169, 254, 53, 53), Port: 53}
}
func (r *recorder) RemoteAddr() net.Addr { return r.remote }
func (r *recorder) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		r.errs = append(r.errs, err)
		return err
	}
	_, err = r.Write(b)
	return err
}
func (r *recorder) Write(b []byte) (int, error) {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		r.errs = append(r.errs, err)
		return 0, err
	}
	r.msgs = append(r.msgs, m)
	r.sizes = append(r.sizes, len(b))
	return len(b), nil
}
func (r *recorder) Close() error        { return nil }
func (r *recorder) TsigStatus() error   { return nil }
func (r *recorder) TsigTimersOnly(bool) {}
func (r *recorder) Hijack()             {}

// rrStrings is the sorted rdata of A, AAAA, PTR and HINFO records.
func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, rr.A.String())
		case *dns.AAAA:
			out = append(out, rr.AAAA.String())
		case *dns.PTR:
			out = append(out, rr.Ptr)
		case *dns.HINFO:
			out = append(out, "HINFO "+rr.Cpu)
		default:
			out = append(out, strings.ReplaceAll(rr.String(), "\t", " "))
		}
	}
	slices.Sort(out)
	return out
}

// query makes a query message for name and type.
func query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

// newTestServer makes a server on its own registry with snap loaded; it
// does not listen.
func newTestServer(t testing.TB, cfg Config, snap Snapshot) *Server {
	t.Helper()
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 100
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	s, err := New(cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	s.Update(snap)
	return s
}

// ask sends one query from src over UDP through ServeDNS and returns the
// reply (nil if none was written).
func ask(t testing.TB, s *Server, src, name string, qtype uint16) *dns.Msg {
	t.Helper()
	rec := newRecorder(src, false)
	s.ServeDNS(rec, query(name, qtype))
	if len(rec.errs) > 0 {
		t.Fatalf("%s %s from %s: write errors %v", name, dns.TypeToString[qtype], src, rec.errs)
	}
	if len(rec.msgs) > 1 {
		t.Fatalf("%s %s from %s: %d replies", name, dns.TypeToString[qtype], src, len(rec.msgs))
	}
	if len(rec.msgs) == 0 {
		return nil
	}
	return rec.msgs[0]
}

// Fixture networks, endpoints and services used across the tests.
var (
	netFront = Network{ID: "n-front", Name: "frontend", Subnet: netip.MustParsePrefix("10.1.0.0/24")}
	netBack  = Network{ID: "n-back", Name: "backend", Subnet: netip.MustParsePrefix("10.2.0.0/24")}
	netOther = Network{ID: "n-other", Name: "other", Subnet: netip.MustParsePrefix("10.3.0.0/24")}
)

const (
	idWeb   = "aaaaaaaaaaaa0000000000000000000000000000000000000000000000000001"
	idDB    = "bbbbbbbbbbbb0000000000000000000000000000000000000000000000000002"
	idSick  = "cccccccccccc0000000000000000000000000000000000000000000000000003"
	idLoner = "dddddddddddd0000000000000000000000000000000000000000000000000004"

	srcWeb     = "10.1.0.2" // web: frontend and backend
	srcDB      = "10.2.0.3" // db: backend
	srcSick    = "10.2.0.4" // sick: backend, out of service
	srcLoner   = "10.3.0.5" // loner: other
	srcUnknown = "10.9.9.9" // on no xoverlay network
	srcLoop    = "127.0.0.1"
	srcHost    = "192.0.2.1" // in HostAddrs
)

func ep(netID, cid, ip string, inService bool, names ...string) Endpoint {
	return Endpoint{NetworkID: netID, ContainerID: cid, IP: netip.MustParseAddr(ip), Names: names, InService: inService}
}

func task(netID, cid, ip, service, taskName string, inService bool) Endpoint {
	e := ep(netID, cid, ip, inService, taskName)
	e.Service, e.Task = service, taskName
	return e
}

func fixture() Snapshot {
	return Snapshot{
		Networks: []Network{netFront, netBack, netOther},
		Endpoints: []Endpoint{
			ep(netFront.ID, idWeb, "10.1.0.2", true, "web", "www"),
			ep(netBack.ID, idWeb, "10.2.0.2", true, "web"),
			ep(netBack.ID, idDB, "10.2.0.3", true, "db", "database"),
			ep(netBack.ID, idSick, "10.2.0.4", false, "sick"),
			ep(netOther.ID, idLoner, "10.3.0.5", true, "loner"),
			task(netFront.ID, "api1", "10.1.0.10", "api", "api-1", true),
			task(netFront.ID, "api2", "10.1.0.11", "api", "api-2", true),
			task(netFront.ID, "api3", "10.1.0.12", "api", "api-3", false),
			task(netBack.ID, "cache1", "10.2.0.20", "cache", "cache-1", true),
			task(netBack.ID, "cache2", "10.2.0.21", "cache", "cache-2", true),
			task(netOther.ID, "worker1", "10.3.0.30", "worker", "worker-1", true),
			task(netOther.ID, "novip1", "10.3.0.40", "novip", "novip-1", true),
			ep(netFront.ID, "dupc", "10.1.0.50", true, "dup"),
			task(netFront.ID, "dup1", "10.1.0.51", "dup", "dup-1", true),
			{NetworkID: netFront.ID, ContainerID: "v6", IP: netip.MustParseAddr("fd00::6"), Names: []string{"six"}, InService: true},
			{NetworkID: "n-gone", ContainerID: "ghost", IP: netip.MustParseAddr("10.8.0.8"), Names: []string{"ghost"}, InService: true},
		},
		Services: []Service{
			{Name: "api", Mode: ModeVIP, VIPs: map[string]netip.Addr{
				netFront.ID: netip.MustParseAddr("10.1.0.100"),
				netBack.ID:  netip.MustParseAddr("10.2.0.100"),
			}},
			{Name: "cache", Mode: ModeDNSRR},
			{Name: "dup", Mode: ModeDNSRR},
			{Name: "novip", Mode: ModeVIP},
		},
	}
}

func testConfig() Config {
	return Config{Addr: "127.0.0.1:0", HostAddrs: []netip.Addr{netip.MustParseAddr(srcHost)}}
}
