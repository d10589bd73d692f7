//go:build linux

package nft

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
)

// udpFlows selects the UDP conntrack entries that go through a frontend
// to a backend it no longer has. UDP has no end, so without this a
// client that keeps sending would stay on a removed backend for ever.
type udpFlows struct {
	keep map[l4.Key]map[netip.AddrPort]bool
	// vips are addresses that are VIPs, whose flows a published port's
	// entry must not match.
	vips map[netip.Addr]bool
	// ports are the VIP:port/udp frontends, whose flows an address-only
	// entry of the same VIP must not match (the port's entry wins).
	ports map[l4.Key]bool
}

func newUDPFlows(fronts ...l4.Frontends) *udpFlows {
	f := &udpFlows{keep: map[l4.Key]map[netip.AddrPort]bool{}, vips: map[netip.Addr]bool{}, ports: map[l4.Key]bool{}}
	for _, fr := range fronts {
		for k := range fr {
			f.note(k)
		}
	}
	return f
}

func (f *udpFlows) note(k l4.Key) {
	if !k.Published() {
		f.vips[k.VIP] = true
	}
	if !k.Published() && k.Proto == l4.UDP {
		f.ports[k] = true
	}
}

// allow records that flows through k may only go to backends.
func (f *udpFlows) allow(k l4.Key, backends []netip.AddrPort) {
	f.note(k)
	f.keep[k] = backendSet(backends)
}

// MatchConntrackFlow implements netlink.CustomConntrackFilter.
func (f *udpFlows) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	if flow.Forward.Protocol != uint8(l4.UDP) {
		return false
	}
	dst, ok1 := netip.AddrFromSlice(flow.Forward.DstIP)
	backendIP, ok2 := netip.AddrFromSlice(flow.Reverse.SrcIP)
	if !ok1 || !ok2 {
		return false
	}
	dst, backendIP = dst.Unmap(), backendIP.Unmap()
	backend := netip.AddrPortFrom(backendIP, flow.Reverse.SrcPort)
	if backend == netip.AddrPortFrom(dst, flow.Forward.DstPort) {
		return false // not destination-NATed: not ours
	}
	k := l4.Key{Proto: l4.UDP, Port: flow.Forward.DstPort}
	if f.vips[dst] {
		k.VIP = dst
		if !f.ports[k] { // through the VIP's address-only entry: any port, kept
			k = l4.Key{VIP: dst}
			backend = netip.AddrPortFrom(backendIP, 0)
		}
	}
	keep, ok := f.keep[k]
	return ok && !keep[backend]
}

// flushFlows deletes the selected entries and returns how many went.
func (p *Plane) flushFlows(f *udpFlows) (int, error) {
	if f == nil || len(f.keep) == 0 {
		return 0, nil
	}
	n, err := p.ct.ConntrackDeleteFilters(netlink.ConntrackTable, netlink.FAMILY_V4, f)
	if n > 0 {
		p.log.Debug("udp flows to removed backends deleted", "flows", n)
	}
	if err != nil {
		return int(n), fmt.Errorf("nft: delete conntrack entries of removed UDP backends in %s: %w", p.ns.Path(), err)
	}
	return int(n), nil
}
