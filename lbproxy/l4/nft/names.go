package nft

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
)

// Objects of the table. The table is this package's alone: anything in it
// that the desired state does not explain is stale and removed.
const (
	DefaultTable = "xo-lb"

	chainOut  = "out"  // nat output: VIPs and published ports for local processes
	chainPre  = "pre"  // nat prerouting: published ports for traffic from outside
	chainPost = "post" // nat postrouting: source NAT of routing-mesh traffic

	mapVIPs      = "vips"      // ip daddr . l4proto . th dport : goto frontend chain
	mapAddrs     = "vipaddrs"  // ip daddr : goto frontend chain (address-only VIPs)
	mapPublished = "published" // l4proto . th dport : goto frontend chain

	// DefaultMeshMark is the packet-mark bit that tells postrouting a
	// connection came through a published port and needs source NAT.
	DefaultMeshMark uint32 = 0x00200000

	tagPrefix = "xo:"
)

func isBaseChain(name string) bool {
	return name == chainOut || name == chainPre || name == chainPost
}

// chainName is the frontend's chain: deterministic, so the kernel's state
// maps back to keys without a side table.
func chainName(k l4.Key) string {
	switch {
	case k.Published():
		return fmt.Sprintf("p-%s-%d", k.Proto, k.Port)
	case k.AllPorts():
		return "a-" + k.VIP.String()
	}
	return fmt.Sprintf("v-%s-%s-%d", k.VIP, k.Proto, k.Port)
}

// fingerprint identifies the rule a frontend's chain must hold. It is
// stored as the rule's comment; a rule whose comment differs (edited,
// replaced, or left by an older state) is rewritten by Reconcile.
func fingerprint(k l4.Key, backends []netip.AddrPort, mark uint32) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%#x", k, mark)
	for _, b := range backends {
		fmt.Fprintf(h, "|%s", b)
	}
	return tagPrefix + hex.EncodeToString(h.Sum(nil)[:8])
}

// snatFingerprint identifies the postrouting rules for a mesh-source list.
func snatFingerprint(snat []l4.SNAT, mark uint32) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%#x", mark)
	for _, s := range snat {
		fmt.Fprintf(&b, "|%s>%s", s.Prefix.Masked(), s.Source)
	}
	sum := sha256.Sum256([]byte(b.String()))
	return tagPrefix + "post-" + hex.EncodeToString(sum[:8])
}

// parseChainName is chainName's inverse.
func parseChainName(name string) (l4.Key, bool) {
	parts := strings.Split(name, "-")
	var k l4.Key
	if len(parts) == 2 && parts[0] == "a" {
		vip, err := netip.ParseAddr(parts[1])
		if err != nil || !vip.Is4() {
			return l4.Key{}, false
		}
		k.VIP = vip
		return k, chainName(k) == name
	}
	switch {
	case len(parts) == 3 && parts[0] == "p":
	case len(parts) == 4 && parts[0] == "v":
		vip, err := netip.ParseAddr(parts[1])
		if err != nil || !vip.Is4() {
			return l4.Key{}, false
		}
		k.VIP = vip
		parts = append(parts[:1], parts[2:]...)
	default:
		return l4.Key{}, false
	}
	proto, err := l4.ParseProto(parts[1])
	if err != nil || parts[1] == "" {
		return l4.Key{}, false
	}
	port, err := strconv.ParseUint(parts[2], 10, 16)
	if err != nil || port == 0 {
		return l4.Key{}, false
	}
	k.Proto, k.Port = proto, uint16(port)
	return k, chainName(k) == name
}
