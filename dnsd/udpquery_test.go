package dnsd

import (
	"reflect"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// queryPackets are queries of every shape: the plain one unpackQuery
// takes, and those it leaves to miekg/dns.
func queryPackets(t testing.TB) [][]byte {
	var out [][]byte
	pack := func(m *dns.Msg) {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	for _, name := range []string{".", "db.", "App01.xodns.xo.", "tasks.api.", "x_y-z.test.", "3.0.2.10.in-addr.arpa.",
		"a\\.b.test.", "sp\\ ace.", "\\255x.", strings.Repeat("a", 63) + ".", strings.Repeat("abcdefg.", 31)} {
		q := query(name, dns.TypeA)
		q.Id, q.CheckingDisabled, q.AuthenticatedData, q.Zero = 0xbeef, true, true, true
		pack(q)
		q.SetEdns0(1232, true)
		pack(q)
	}
	two := query("db.", dns.TypeA)
	two.Question = append(two.Question, two.Question[0])
	pack(two)
	resp := query("db.", dns.TypeAAAA)
	resp.Response, resp.Opcode, resp.Rcode = true, dns.OpcodeNotify, dns.RcodeRefused
	pack(resp)
	plain := out[2]
	out = append(out, plain[:len(plain)-1], append(append([]byte(nil), plain...), 0), plain[:12])
	// A compression pointer in the question name.
	ptr := append([]byte(nil), plain[:12]...)
	ptr = append(ptr, 0xC0, 12, 0, 1, 0, 1)
	return append(out, ptr)
}

// TestUnpackQuery: unpackQuery's message is the one m.Unpack makes,
// and the plain queries allocate nothing once their name was seen.
func TestUnpackQuery(t *testing.T) {
	var in internNames
	for _, p := range queryPackets(t) {
		checkUnpackQuery(t, &in, p)
	}
	p := queryPackets(t)[4]
	var m dns.Msg
	var q [1]dns.Question
	if n := testing.AllocsPerRun(100, func() {
		m = dns.Msg{}
		_ = in.unpackQuery(&m, p, &q)
	}); n != 0 {
		t.Errorf("plain query: %.1f allocations, want 0", n)
	}
	if m.Question[0].Name != "App01.xodns.xo." {
		t.Errorf("name %q, want the case as asked", m.Question[0].Name)
	}
}

// FuzzUnpackQuery: for any packet, unpackQuery agrees with m.Unpack.
func FuzzUnpackQuery(f *testing.F) {
	for _, p := range queryPackets(f) {
		f.Add(p)
	}
	var in internNames
	f.Fuzz(func(t *testing.T, p []byte) { checkUnpackQuery(t, &in, p) })
}

func checkUnpackQuery(t *testing.T, in *internNames, p []byte) {
	t.Helper()
	var want, got dns.Msg
	var q [1]dns.Question
	werr := want.Unpack(p)
	gerr := in.unpackQuery(&got, p, &q)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%x: error %v, m.Unpack's %v", p, gerr, werr)
	}
	if werr == nil && !reflect.DeepEqual(&got, &want) {
		t.Fatalf("%x: unpacked\n%v\nm.Unpack:\n%v", p, &got, &want)
	}
}
