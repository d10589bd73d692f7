package state

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
)

// Service VIPs. A service in endpoint mode vip holds one virtual IP per
// network it is on: the networks of its spec, or, for an external service,
// the networks its hand-run members are on. The FSM allocates and releases
// them inside the command that changes the service or its members, so
// every replica picks the same addresses.
//
// A VIP is an address of the network's allocation range held as a
// reservation (Network.Reserved, with Service set), so nothing else can
// take it: CreateEndpoint, ReserveAddress and SetGateway refuse it, and a
// node's IPAM skips it inside its blocks. VIPs are taken from the highest
// free addresses of blocks no node has claimed (nodes claim blocks from
// the lowest), so that no node is about to hand the address out; only when
// every block is claimed does a VIP come from inside a claimed block
// (still from the top, where a node's allocation arrives last).

// wantVIPs returns the networks (sorted IDs) on which svc should hold a
// VIP.
func (w *writeTx) wantVIPs(svc *Service) []string {
	if svc.Spec.EndpointMode == EndpointDNSRR {
		return nil
	}
	set := map[string]bool{}
	if svc.External {
		for _, ep := range w.s.data.Endpoints {
			if ep.Service == svc.Name && ep.Task == "" {
				set[ep.NetworkID] = true
			}
		}
	} else {
		for _, att := range svc.Spec.Networks {
			set[att.Target] = true
		}
	}
	out := slices.Sorted(maps.Keys(set))
	return slices.DeleteFunc(out, func(id string) bool {
		n := w.s.data.Networks[id]
		return n == nil || n.Deleting
	})
}

// syncVIPs makes svc (a new object, not yet stored) hold exactly the VIPs
// wantVIPs gives, keeping the ones it has. When a network has no free
// address, nothing changes and the error names it; with bestEffort, the
// service goes without a VIP on that network instead.
func (w *writeTx) syncVIPs(svc *Service, bestEffort bool) error {
	want := w.wantVIPs(svc)
	var add []string
	picked := map[string]netip.Addr{}
	for _, id := range want {
		if _, ok := svc.VIPs[id]; ok {
			continue
		}
		ip, err := w.pickVIP(w.s.data.Networks[id])
		switch {
		case err == nil:
			add = append(add, id)
			picked[id] = ip
		case !bestEffort:
			return fmt.Errorf("%w; the virtual IP of service %s needs one (or use --endpoint-mode dnsrr)", err, svc.Name)
		}
	}
	vips := maps.Clone(svc.VIPs)
	for _, id := range slices.Sorted(maps.Keys(vips)) {
		if ip := vips[id]; !slices.Contains(want, id) {
			w.releaseVIP(id, ip, svc.ID)
			delete(vips, id)
		}
	}
	for _, id := range add {
		if vips == nil {
			vips = map[string]string{}
		}
		ip := picked[id].String()
		n := w.s.data.Networks[id]
		if n.Reserved == nil {
			n.Reserved = map[string]Reservation{}
		}
		n.Reserved[ip] = Reservation{Service: svc.ID}
		vips[id] = ip
		w.emit("network", ActionReserve, id)
	}
	if len(vips) == 0 {
		vips = nil
	}
	svc.VIPs = vips
	return nil
}

// releaseVIPs gives back every VIP of a service being removed.
func (w *writeTx) releaseVIPs(svc *Service) {
	for _, id := range slices.Sorted(maps.Keys(svc.VIPs)) {
		w.releaseVIP(id, svc.VIPs[id], svc.ID)
	}
}

func (w *writeTx) releaseVIP(network, ip, service string) {
	n := w.s.data.Networks[network]
	if n == nil {
		return
	}
	if r, ok := n.Reserved[ip]; ok && r.Service == service {
		delete(n.Reserved, ip)
		w.emit("network", ActionReserve, network)
	}
}

// pickVIP finds the address for a new VIP on n (see the comment at the top).
func (w *writeTx) pickVIP(n *Network) (netip.Addr, error) {
	subnet, err := netip.ParsePrefix(n.Subnet)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: network %s has no valid subnet", ErrInvalid, displayName(n))
	}
	rng := n.AllocRange()
	blocks := Subprefixes(rng, BlockBits(rng))
	slices.Reverse(blocks)
	for _, claimed := range []bool{false, true} {
		for _, b := range blocks {
			if _, taken := n.Blocks[b.String()]; taken != claimed {
				continue
			}
			if ip, ok := w.freeFromTop(n, subnet, b); ok {
				return ip, nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("%w: network %s has no free address left in %s", ErrConflict, displayName(n), rng)
}

// freeFromTop returns the highest address of block b that no endpoint,
// reservation, gateway or aux address uses.
func (w *writeTx) freeFromTop(n *Network, subnet, b netip.Prefix) (netip.Addr, bool) {
	for ip := Broadcast(b); b.Contains(ip); ip = ip.Prev() {
		s := ip.String()
		if !Usable(subnet, ip) || s == n.Gateway || isAux(n, s) {
			continue
		}
		if _, held := n.Reserved[s]; held || w.s.ipIndex[ipKey{n.ID, s}] != "" {
			continue
		}
		return ip, true
	}
	return netip.Addr{}, false
}

// memberChanged records that an endpoint joined or left the members of
// the service named name; external services re-sync their VIPs when the
// write ends.
func (w *writeTx) memberChanged(name string) {
	if name == "" {
		return
	}
	if w.members == nil {
		w.members = map[string]bool{}
	}
	w.members[name] = true
}

// syncMembers re-syncs the VIPs of the external services whose members
// changed in this write. An external service that cannot get an address
// stays without a VIP on that network (DNS then answers its members).
func (w *writeTx) syncMembers() {
	for _, name := range slices.Sorted(maps.Keys(w.members)) {
		svc := w.s.data.Services[w.s.byName[name]]
		if svc == nil || !svc.External {
			continue
		}
		n := svc.clone()
		_ = w.syncVIPs(n, true)
		if maps.Equal(n.VIPs, svc.VIPs) {
			continue
		}
		w.putService(n, "update")
	}
	w.members = nil
}

// dropNetworkVIPs removes a deleted network from the VIPs of the services
// that had one on it.
func (w *writeTx) dropNetworkVIPs(network string) {
	for _, id := range slices.Sorted(maps.Keys(w.s.data.Services)) {
		svc := w.s.data.Services[id]
		if _, ok := svc.VIPs[network]; !ok {
			continue
		}
		n := svc.clone()
		n.VIPs = maps.Clone(svc.VIPs)
		delete(n.VIPs, network)
		if len(n.VIPs) == 0 {
			n.VIPs = nil
		}
		w.putService(n, "update")
	}
}

func (w *writeTx) serviceName(id string) string {
	if svc := w.s.data.Services[id]; svc != nil {
		return svc.Name
	}
	return id
}
