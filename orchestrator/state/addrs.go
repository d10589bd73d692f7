package state

import (
	"fmt"
	"net/netip"
)

// BlockBits is the prefix length of the address blocks a node claims inside
// an allocation range: 16 blocks per range, each 4 to 256 addresses.
func BlockBits(rng netip.Prefix) int {
	b := min(max(rng.Bits()+4, 24), 30)
	return max(b, rng.Bits())
}

// Overlaps reports whether two prefixes share any address.
func Overlaps(a, b netip.Prefix) bool {
	return a.Contains(b.Addr()) || b.Contains(a.Addr())
}

// Usable reports whether ip may be handed to an endpoint of subnet: inside
// it and neither its network nor its broadcast address.
func Usable(subnet netip.Prefix, ip netip.Addr) bool {
	if !subnet.Contains(ip) {
		return false
	}
	return ip != subnet.Masked().Addr() && ip != Broadcast(subnet)
}

// Broadcast is the last address of p.
func Broadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := be32(a) | host
	return netip.AddrFrom4(put32(v))
}

// Subprefixes lists the prefixes of length bits inside p, in order.
func Subprefixes(p netip.Prefix, bits int) []netip.Prefix {
	if bits < p.Bits() || bits > 32 {
		return nil
	}
	n := 1 << (bits - p.Bits())
	step := uint32(1) << (32 - bits)
	base := be32(p.Masked().Addr().As4())
	out := make([]netip.Prefix, 0, n)
	for i := range n {
		out = append(out, netip.PrefixFrom(netip.AddrFrom4(put32(base+uint32(i)*step)), bits))
	}
	return out
}

// ParseSubnet parses an IPv4 CIDR and insists it is a usable subnet.
func ParseSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, fmt.Errorf("%w: subnet %q is not a CIDR like 10.1.0.0/24", ErrInvalid, s)
	}
	if !p.Addr().Is4() {
		return p, fmt.Errorf("%w: subnet %s is not IPv4; xoverlay networks are IPv4 only", ErrInvalid, s)
	}
	if p.Masked() != p {
		return p, fmt.Errorf("%w: subnet %s has host bits set; use %s", ErrInvalid, s, p.Masked())
	}
	if p.Bits() > 30 {
		return p, fmt.Errorf("%w: subnet %s is too small; use /30 or larger", ErrInvalid, s)
	}
	return p, nil
}

func be32(a [4]byte) uint32 {
	return uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
}

func put32(v uint32) [4]byte {
	return [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}
