package dnsd

import (
	"testing"

	"github.com/miekg/dns"
)

// FuzzServeDNS runs arbitrary messages through the whole query path (no
// upstreams, so nothing leaves the process): it must not panic, must
// answer at most once, and every reply must pack (the recorder parses the
// wire form back).
func FuzzServeDNS(f *testing.F) {
	seed := func(name string, qtype uint16, edit func(*dns.Msg)) {
		m := query(name, qtype)
		if edit != nil {
			edit(m)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(0))
		f.Add(b, uint8(1))
	}
	seed("db.", dns.TypeA, nil)
	seed("web.backend.xo.", dns.TypeA, nil)
	seed("tasks.api.", dns.TypeA, nil)
	seed("api-1.api.", dns.TypeAAAA, nil)
	seed("many.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(1232, true) })
	seed("2.0.1.10.in-addr.arpa.", dns.TypePTR, nil)
	seed("example.com.", dns.TypeANY, nil)
	seed("example.com.", dns.TypeMX, nil)
	seed(".", dns.TypeNS, nil)
	seed("version.bind.", dns.TypeTXT, func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS })
	seed("db.", dns.TypeA, func(m *dns.Msg) { m.Opcode = dns.OpcodeUpdate })
	seed("db.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(512, false); m.IsEdns0().SetVersion(3) })
	seed("db.", dns.TypeA, func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) })
	seed("xo.", dns.TypeAXFR, nil)
	f.Add([]byte{}, uint8(0))
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, uint8(2))

	snap := fixture()
	big := bigSnapshot(60)
	snap.Networks = append(snap.Networks, big.Networks...)
	snap.Endpoints = append(snap.Endpoints, big.Endpoints...)
	s := newTestServer(f, testConfig(), snap)
	sources := []string{srcWeb, srcLoop, srcUnknown, srcDB}

	f.Fuzz(func(t *testing.T, data []byte, src uint8) {
		m := new(dns.Msg)
		if err := m.Unpack(data); err != nil {
			return
		}
		rec := newRecorder(sources[int(src)%len(sources)], src&4 != 0)
		s.ServeDNS(rec, m)
		if len(rec.errs) > 0 {
			t.Fatalf("reply does not pack/unpack: %v\nquery: %v", rec.errs, m)
		}
		if len(rec.msgs) > 1 {
			t.Fatalf("%d replies", len(rec.msgs))
		}
		if len(rec.msgs) == 1 {
			r := rec.msgs[0]
			if r.Id != m.Id || !r.Response {
				t.Fatalf("reply id %d response %v to query id %d", r.Id, r.Response, m.Id)
			}
			if src&4 == 0 && rec.sizes[0] > maxUDPReply {
				t.Fatalf("UDP reply of %d bytes", rec.sizes[0])
			}
		}
	})
}
