package dnsd

import (
	"net/netip"
	"strings"
)

const (
	suffixV4 = ".in-addr.arpa"
	suffixV6 = ".ip6.arpa"
)

// isReverse tells whether a normalised name is under in-addr.arpa or
// ip6.arpa.
func isReverse(name string) bool {
	return strings.HasSuffix(name, suffixV4) || strings.HasSuffix(name, suffixV6)
}

// parseReverse turns a full reverse name ("4.3.2.1.in-addr.arpa", or 32
// nibbles under ip6.arpa) into its address, without allocating. Partial
// names (a /24's "2.0.10.in-addr.arpa") are not addresses.
func parseReverse(name string) (netip.Addr, bool) {
	if s, ok := strings.CutSuffix(name, suffixV4); ok {
		return parseReverse4(s)
	}
	if s, ok := strings.CutSuffix(name, suffixV6); ok {
		return parseReverse6(s)
	}
	return netip.Addr{}, false
}

func parseReverse4(s string) (netip.Addr, bool) {
	var b [4]byte
	for i := 3; i >= 0; i-- {
		label := s
		if i > 0 {
			dot := strings.IndexByte(s, '.')
			if dot < 0 {
				return netip.Addr{}, false
			}
			label, s = s[:dot], s[dot+1:]
		}
		v, ok := octet(label)
		if !ok {
			return netip.Addr{}, false
		}
		b[i] = v
	}
	return netip.AddrFrom4(b), true
}

// octet parses a decimal 0..255 without leading zeros.
func octet(s string) (byte, bool) {
	if len(s) == 0 || len(s) > 3 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	v := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	if v > 255 {
		return 0, false
	}
	return byte(v), true
}

func parseReverse6(s string) (netip.Addr, bool) {
	// 32 nibbles, each one character and a dot except the last.
	if len(s) != 63 {
		return netip.Addr{}, false
	}
	var b [16]byte
	for i := 0; i < 32; i++ {
		c := s[2*i]
		if i < 31 && s[2*i+1] != '.' {
			return netip.Addr{}, false
		}
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		default:
			return netip.Addr{}, false
		}
		// The first nibble in the name is the last of the address.
		pos := 31 - i
		if pos%2 == 0 {
			b[pos/2] |= v << 4
		} else {
			b[pos/2] |= v
		}
	}
	return netip.AddrFrom16(b), true
}
