//go:build linux

package nft

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
)

func TestChainNames(t *testing.T) {
	keys := []l4.Key{
		{VIP: netip.MustParseAddr("10.0.0.5"), Proto: l4.TCP, Port: 80},
		{VIP: netip.MustParseAddr("10.0.0.5"), Proto: l4.UDP, Port: 53},
		{Proto: l4.TCP, Port: 8080},
	}
	for _, k := range keys {
		got, ok := parseChainName(chainName(k))
		if !ok || got != k {
			t.Errorf("parseChainName(%q) = %v, %v; want %v", chainName(k), got, ok, k)
		}
	}
	for _, bad := range []string{"out", "pre", "v-10.0.0.5-tcp", "v-x-tcp-80", "p-tcp-0", "p-sctp-80", "p-tcp-080", "v-::1-tcp-80"} {
		if k, ok := parseChainName(bad); ok {
			t.Errorf("parseChainName(%q) = %v, want no key", bad, k)
		}
	}
}

func TestFingerprints(t *testing.T) {
	k := l4.Key{VIP: netip.MustParseAddr("10.0.0.5"), Proto: l4.TCP, Port: 80}
	a := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.2:80")}
	b := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.3:80")}
	if fingerprint(k, a, 1) == fingerprint(k, b, 1) || fingerprint(k, a, 1) == fingerprint(k, a, 2) ||
		fingerprint(k, a, 1) == fingerprint(k, nil, 1) {
		t.Error("fingerprints of different rules collide")
	}
	if fingerprint(k, a, 1) != fingerprint(k, slices.Clone(a), 1) {
		t.Error("fingerprint not deterministic")
	}
	s := []l4.SNAT{{Prefix: netip.MustParsePrefix("10.0.0.0/24"), Source: netip.MustParseAddr("10.0.0.9")}}
	if snatFingerprint(nil, 1) == snatFingerprint(s, 1) {
		t.Error("snat fingerprints collide")
	}
}

func TestEncodings(t *testing.T) {
	k := l4.Key{VIP: netip.MustParseAddr("10.1.2.3"), Proto: l4.UDP, Port: 0x1234}
	if got, want := frontendKey(k), []byte{10, 1, 2, 3, 17, 0, 0, 0, 0x12, 0x34, 0, 0}; !bytes.Equal(got, want) {
		t.Errorf("vip key % x, want % x", got, want)
	}
	if got, want := frontendKey(l4.Key{Proto: l4.TCP, Port: 8080}), []byte{6, 0, 0, 0, 0x1f, 0x90, 0, 0}; !bytes.Equal(got, want) {
		t.Errorf("published key % x, want % x", got, want)
	}
	if got, want := backendValue(netip.MustParseAddrPort("10.0.0.1:80")), []byte{10, 0, 0, 1, 0, 80, 0, 0}; !bytes.Equal(got, want) {
		t.Errorf("backend value % x, want % x", got, want)
	}
	if len(frontendKey(k)) != int(vipKeyType.Bytes) || len(frontendKey(l4.Key{Proto: l4.TCP, Port: 1})) != int(pubKeyType.Bytes) {
		t.Error("key lengths differ from the maps' key types")
	}
}

func TestCanonicalSNAT(t *testing.T) {
	in := []l4.SNAT{
		{Prefix: netip.MustParsePrefix("10.0.0.7/8"), Source: netip.MustParseAddr("10.0.0.1")},
		{Prefix: netip.MustParsePrefix("10.1.0.0/16"), Source: netip.MustParseAddr("10.1.0.1")},
	}
	got := canonicalSNAT(in)
	if got[0].Prefix.String() != "10.1.0.0/16" || got[1].Prefix.String() != "10.0.0.0/8" {
		t.Fatalf("canonicalSNAT = %v, want the longest prefix first, masked", got)
	}
}

// attr encodes one netlink attribute.
func attr(typ uint16, payload []byte) []byte {
	b := make([]byte, 4, 4+len(payload)+3)
	binary.NativeEndian.PutUint16(b, uint16(4+len(payload)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func TestVerdictChain(t *testing.T) {
	code := attr(1, []byte{0xff, 0xff, 0xff, 0xfc}) // NFT_GOTO
	data := append(code, attr(2|0x8000, []byte("v-10.0.0.5-tcp-80\x00"))...)
	if got := verdictChain(data); got != "v-10.0.0.5-tcp-80" {
		t.Errorf("verdictChain = %q", got)
	}
	for _, bad := range [][]byte{nil, code, {0xff, 0xff, 0, 0}, data[:10]} {
		if got := verdictChain(bad); got != "" {
			t.Errorf("verdictChain(% x) = %q, want empty", bad, got)
		}
	}
}

func flow(src, dst, replySrc string) *netlink.ConntrackFlow {
	s, d, r := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst), netip.MustParseAddrPort(replySrc)
	f := &netlink.ConntrackFlow{}
	f.Forward.Protocol, f.Reverse.Protocol = 17, 17
	f.Forward.SrcIP, f.Forward.SrcPort = net.IP(s.Addr().AsSlice()), s.Port()
	f.Forward.DstIP, f.Forward.DstPort = net.IP(d.Addr().AsSlice()), d.Port()
	f.Reverse.SrcIP, f.Reverse.SrcPort = net.IP(r.Addr().AsSlice()), r.Port()
	f.Reverse.DstIP, f.Reverse.DstPort = net.IP(s.Addr().AsSlice()), s.Port()
	return f
}

func TestUDPFlowFilter(t *testing.T) {
	vip := netip.MustParseAddr("10.0.0.100")
	f := newUDPFlows()
	f.allow(l4.Key{VIP: vip, Proto: l4.UDP, Port: 53}, []netip.AddrPort{netip.MustParseAddrPort("10.0.0.2:53")})
	f.allow(l4.Key{Proto: l4.UDP, Port: 8053}, nil)
	for _, tc := range []struct {
		flow *netlink.ConntrackFlow
		want bool
	}{
		{flow("10.0.0.9:4000", "10.0.0.100:53", "10.0.0.2:53"), false},   // kept backend
		{flow("10.0.0.9:4000", "10.0.0.100:53", "10.0.0.3:53"), true},    // removed backend
		{flow("10.0.0.9:4000", "10.0.0.3:53", "10.0.0.3:53"), false},     // straight to a task, not NATed
		{flow("10.0.0.9:4000", "10.0.0.101:53", "10.0.0.3:53"), false},   // another VIP
		{flow("10.0.0.9:4000", "10.0.0.100:8053", "10.0.0.3:53"), false}, // a VIP's flow on the published port's number
		{flow("198.18.0.9:4000", "198.18.0.1:8053", "10.0.0.3:53"), true},
	} {
		if got := f.MatchConntrackFlow(tc.flow); got != tc.want {
			t.Errorf("flow %s -> %s (reply from %s): match %v, want %v", tc.flow.Forward.SrcIP, tc.flow.Forward.DstIP, tc.flow.Reverse.SrcIP, got, tc.want)
		}
	}
	tcp := flow("10.0.0.9:4000", "10.0.0.100:53", "10.0.0.3:53")
	tcp.Forward.Protocol = 6
	if f.MatchConntrackFlow(tcp) {
		t.Error("a TCP flow matched")
	}
}
