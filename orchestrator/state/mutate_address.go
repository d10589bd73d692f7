package state

import (
	"fmt"
	"net/netip"
)

// AllocRange is the range dynamic addresses come from: the ip-range when
// set, else the subnet.
func (n *Network) AllocRange() netip.Prefix {
	if n.IPRange != "" {
		return netip.MustParsePrefix(n.IPRange)
	}
	return netip.MustParsePrefix(n.Subnet)
}

func (s *Store) claimBlock(c ClaimBlock) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		n, err := w.network(c.NetworkID)
		if err != nil {
			return nil, err
		}
		rng := n.AllocRange()
		for _, b := range Subprefixes(rng, BlockBits(rng)) {
			if _, taken := n.Blocks[b.String()]; !taken {
				if n.Blocks == nil {
					n.Blocks = map[string]string{}
				}
				n.Blocks[b.String()] = c.Node
				w.emit("network", "update", n.ID)
				return b.String(), nil
			}
		}
		return nil, fmt.Errorf("%w: every address block of %s on network %s is claimed", ErrConflict, rng, displayName(n))
	})
}

// checkFree says why ip cannot be given to node on n, or nil. An address
// reserved by the same node counts as free for it.
func (w *writeTx) checkFree(n *Network, ip netip.Addr, node, endpoint string) error {
	subnet := netip.MustParsePrefix(n.Subnet)
	if !Usable(subnet, ip) {
		return fmt.Errorf("%w: address %s is not usable in subnet %s of network %s", ErrInvalid, ip, subnet, displayName(n))
	}
	if ip.String() == n.Gateway {
		return fmt.Errorf("%w: address %s is the gateway of network %s", ErrConflict, ip, displayName(n))
	}
	if user := w.s.ipIndex[ipKey{n.ID, ip.String()}]; user != "" && user != endpoint {
		return fmt.Errorf("%w: address %s is already in use on network %s by %s", ErrConflict, ip, displayName(n), w.describe(user))
	}
	if r, ok := n.Reserved[ip.String()]; ok && r.Service != "" {
		return fmt.Errorf("%w: address %s is the virtual IP of service %s on network %s; choose another address",
			ErrConflict, ip, w.serviceName(r.Service), displayName(n))
	}
	if r, ok := n.Reserved[ip.String()]; ok && r.Node != node {
		return fmt.Errorf("%w: address %s is already reserved on network %s by host %s", ErrConflict, ip, displayName(n), w.hostname(r.Node))
	}
	return nil
}

func (w *writeTx) describe(endpoint string) string {
	ep := w.s.data.Endpoints[endpoint]
	who := "endpoint " + endpoint[:min(12, len(endpoint))]
	if ep.Container != "" {
		who = "container " + ep.Container
	}
	return who + " on host " + w.hostname(ep.Node)
}

func (s *Store) reserveAddress(c ReserveAddress) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		n, err := w.network(c.NetworkID)
		if err != nil {
			return nil, err
		}
		ip, err := netip.ParseAddr(c.IP)
		if err != nil {
			return nil, fmt.Errorf("%w: %q is not an IP address", ErrInvalid, c.IP)
		}
		if len(n.Engines) > 0 && isAux(n, ip.String()) {
			return ip.String(), nil // another engine creating its copy of the network
		}
		if err := w.checkFree(n, ip, c.Node, ""); err != nil {
			return nil, err
		}
		if _, held := n.Reserved[ip.String()]; held {
			return nil, fmt.Errorf("%w: address %s is already reserved on network %s (an --aux-address or another container's --ip)",
				ErrConflict, ip, displayName(n))
		}
		if n.Reserved == nil {
			n.Reserved = map[string]Reservation{}
		}
		n.Reserved[ip.String()] = Reservation{Node: c.Node}
		w.emit("network", ActionReserve, n.ID)
		return ip.String(), nil
	})
}

func (s *Store) releaseAddress(c ReleaseAddress) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		n, ok := s.data.Networks[c.NetworkID]
		if !ok {
			return nil, nil
		}
		if r, ok := n.Reserved[c.IP]; ok && r.Node == c.Node {
			delete(n.Reserved, c.IP)
			w.emit("network", ActionReserve, n.ID)
		}
		if n.Gateway == c.IP && len(n.Engines) == 0 {
			n.Gateway = ""
			w.emit("network", "update", n.ID)
		}
		return nil, nil
	})
}

func (s *Store) createEndpoint(c CreateEndpoint) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		ep := c.Endpoint
		n, err := w.network(ep.NetworkID)
		if err != nil {
			return nil, err
		}
		if n.Deleting {
			return nil, fmt.Errorf("%w: network %s is being removed", ErrConflict, displayName(n))
		}
		if _, ok := n.Engines[ep.Node]; !ok {
			return nil, fmt.Errorf("%w: network %s does not exist on host %s", ErrNotFound, displayName(n), w.hostname(ep.Node))
		}
		ip, err := netip.ParseAddr(ep.IP)
		if err != nil {
			return nil, fmt.Errorf("%w: endpoint address %q is not an IP address", ErrInvalid, ep.IP)
		}
		if isAux(n, ep.IP) {
			return nil, fmt.Errorf("%w: address %s is an --aux-address of network %s", ErrConflict, ep.IP, displayName(n))
		}
		if err := w.checkFree(n, ip, ep.Node, ep.ID); err != nil {
			return nil, err
		}
		if old, ok := s.data.Endpoints[ep.ID]; ok && old.IP != ep.IP {
			return nil, fmt.Errorf("%w: endpoint %s exists with address %s", ErrConflict, ep.ID, old.IP)
		}
		delete(n.Reserved, ep.IP)
		s.data.Endpoints[ep.ID] = &ep
		s.ipIndex[ipKey{ep.NetworkID, ep.IP}] = ep.ID
		w.emit("endpoint", "create", ep.ID)
		if ep.Task == "" {
			w.memberChanged(ep.Service)
		}
		return nil, nil
	})
}

func (w *writeTx) deleteEndpoint(id string) {
	ep, ok := w.s.data.Endpoints[id]
	if !ok {
		return
	}
	delete(w.s.ipIndex, ipKey{ep.NetworkID, ep.IP})
	delete(w.s.data.Endpoints, id)
	w.emit("endpoint", "delete", id)
	if ep.Task == "" {
		w.memberChanged(ep.Service)
	}
}

func (s *Store) deleteEndpoint(c DeleteEndpoint) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		w.deleteEndpoint(c.ID)
		return nil, nil
	})
}

func (s *Store) updateEndpoint(c UpdateEndpoint) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		ep, ok := s.data.Endpoints[c.ID]
		if !ok {
			return nil, fmt.Errorf("%w: endpoint %s", ErrNotFound, c.ID)
		}
		if ep.ContainerID != c.ContainerID || ep.Container != c.Container {
			ep.ContainerID, ep.Container = c.ContainerID, c.Container
			w.emit("endpoint", "update", ep.ID)
		}
		return nil, nil
	})
}

// setEndpointStatus returns the number of endpoints it changed.
func (s *Store) setEndpointStatus(c SetEndpointStatus) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		changed := 0
		for _, u := range c.Endpoints {
			ep, ok := s.data.Endpoints[u.ID]
			if !ok {
				continue
			}
			if ep.ContainerID == u.ContainerID && ep.Container == u.Container && ep.EndpointStatus.Equal(u.Status) {
				continue
			}
			if ep.Service != u.Status.Service || (ep.Task == "") != (u.Status.Task == "") {
				if ep.Task == "" {
					w.memberChanged(ep.Service)
				}
				if u.Status.Task == "" {
					w.memberChanged(u.Status.Service)
				}
			}
			if ep.ContainerID != u.ContainerID || !u.Status.Running {
				ep.Drained = false // an xo drain lasts until its container stops
			}
			ep.ContainerID, ep.Container = u.ContainerID, u.Container
			ep.EndpointStatus = u.Status
			changed++
			w.emit("endpoint", "update", ep.ID)
		}
		return changed, nil
	})
}

func isAux(n *Network, ip string) bool {
	for _, a := range n.Aux {
		if a == ip {
			return true
		}
	}
	return false
}
