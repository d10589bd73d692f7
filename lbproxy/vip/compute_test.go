package vip

import (
	"net/netip"
	"slices"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// The controller keeps its table with the tracker, commit by commit;
// Compute, a whole pass over the state, is the reference the tests hold
// the tracker to.

// Compute builds the table from one view of the state in one pass.
func Compute(tx state.ReadTx) Table {
	type key struct{ network, service string }
	backends := map[key][]netip.AddrPort{}
	tx.EachEndpoint(func(ep *state.Endpoint) bool {
		if ep.Service == "" || !serving(tx, ep) {
			return true
		}
		if ip, err := netip.ParseAddr(ep.IP); err == nil && ip.Is4() {
			k := key{ep.NetworkID, ep.Service}
			backends[k] = append(backends[k], netip.AddrPortFrom(ip, 0))
		}
		return true
	})
	t := Table{}
	for _, svc := range tx.Services() {
		if svc.Spec.EndpointMode == state.EndpointDNSRR {
			continue
		}
		known := knownPorts(svc.Spec.Ports)
		for netID, v := range svc.VIPs {
			vip, err := netip.ParseAddr(v)
			if err != nil || !vip.Is4() {
				continue
			}
			bs := backends[key{netID, svc.Name}]
			slices.SortFunc(bs, netip.AddrPort.Compare)
			bs = slices.Compact(bs)
			t[netID] = append(t[netID], l4.Service{VIP: vip, Backends: bs, KnownPorts: known})
		}
	}
	for _, ss := range t {
		slices.SortFunc(ss, func(a, b l4.Service) int { return a.VIP.Compare(b.VIP) })
	}
	return t
}
