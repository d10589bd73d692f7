package state

import (
	"fmt"
	"maps"
	"net/netip"
	"sort"
	"strings"
)

func (s *Store) createNetwork(c CreateNetwork) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		if _, ok := s.data.Networks[c.ID]; ok || c.ID == "" {
			return nil, fmt.Errorf("%w: network ID %q is taken or empty", ErrConflict, c.ID)
		}
		subnet, err := w.pickSubnet(c)
		if err != nil {
			return nil, err
		}
		if c.IPRange != "" {
			r, err := netip.ParsePrefix(c.IPRange)
			if err != nil || !r.Addr().Is4() || r.Masked() != r {
				return nil, fmt.Errorf("%w: --ip-range %q is not an IPv4 CIDR like 10.1.0.128/25", ErrInvalid, c.IPRange)
			}
			if !subnet.Contains(r.Addr()) || r.Bits() < subnet.Bits() {
				return nil, fmt.Errorf("%w: --ip-range %s is not inside --subnet %s", ErrInvalid, r, subnet)
			}
		}
		n := &Network{ID: c.ID, Subnet: subnet.String(), IPRange: c.IPRange, CreatedAt: c.CreatedAt}
		s.data.Networks[n.ID] = n
		w.emit("network", "create", n.ID)
		return n.clone(), nil
	})
}

// pickSubnet validates the asked subnet against every other network, or
// carves the first free one from the default pool.
func (w *writeTx) pickSubnet(c CreateNetwork) (netip.Prefix, error) {
	if c.Subnet != "" {
		p, err := ParseSubnet(c.Subnet)
		if err != nil {
			return p, err
		}
		if other := w.overlapping(p); other != nil {
			return p, fmt.Errorf("%w: subnet %s overlaps subnet %s of network %s; choose a --subnet that does not overlap",
				ErrConflict, p, other.Subnet, displayName(other))
		}
		return p, nil
	}
	pool, err := ParseSubnet(c.DefaultPool)
	if err != nil {
		return pool, fmt.Errorf("default address pool: %w", err)
	}
	for _, p := range Subprefixes(pool, c.DefaultBits) {
		if w.overlapping(p) == nil {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("%w: the default address pool %s has no free /%d left; pass --subnet to docker network create",
		ErrConflict, pool, c.DefaultBits)
}

func (w *writeTx) overlapping(p netip.Prefix) *Network {
	for _, n := range w.s.data.Networks {
		if q, err := netip.ParsePrefix(n.Subnet); err == nil && Overlaps(p, q) {
			return n
		}
	}
	return nil
}

func displayName(n *Network) string {
	if n.Name != "" {
		return n.Name
	}
	return n.ID
}

func (s *Store) setGateway(c SetGateway) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		n, err := w.network(c.NetworkID)
		if err != nil {
			return nil, err
		}
		subnet := netip.MustParsePrefix(n.Subnet)
		ip := subnet.Addr().Next()
		if c.IP != "" {
			if ip, err = netip.ParseAddr(c.IP); err != nil {
				return nil, fmt.Errorf("%w: gateway %q is not an IP address", ErrInvalid, c.IP)
			}
		}
		if !Usable(subnet, ip) {
			return nil, fmt.Errorf("%w: gateway %s is outside subnet %s (or is its network or broadcast address); pick a --gateway inside it",
				ErrInvalid, ip, subnet)
		}
		if n.Gateway != "" && n.Gateway != ip.String() {
			return nil, fmt.Errorf("%w: network %s already has gateway %s", ErrConflict, displayName(n), n.Gateway)
		}
		if _, held := n.Reserved[ip.String()]; held || w.s.ipIndex[ipKey{n.ID, ip.String()}] != "" {
			return nil, fmt.Errorf("%w: gateway %s is already in use on network %s", ErrConflict, ip, displayName(n))
		}
		n.Gateway = ip.String()
		w.emit("network", "update", n.ID)
		return ip.String(), nil
	})
}

func (s *Store) attachEngine(c AttachEngine) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		n, err := w.network(c.NetworkID)
		if err != nil {
			return nil, err
		}
		if n.Deleting {
			return nil, fmt.Errorf("%w: network %s is being removed from every host", ErrConflict, displayName(n))
		}
		if n.VNI == 0 {
			vni, err := w.pickVNI(c.VNI)
			if err != nil {
				return nil, err
			}
			n.VNI = vni
			n.MTU = c.MTU
			n.Options = maps.Clone(c.Options)
		} else if c.VNI != 0 && c.VNI != n.VNI {
			return nil, fmt.Errorf("%w: network %s has VNI %d, not %d", ErrConflict, displayName(n), n.VNI, c.VNI)
		}
		if n.Engines == nil {
			n.Engines = map[string]string{}
		}
		n.Engines[c.Node] = c.EngineID
		if n.Aux == nil {
			n.Aux = maps.Clone(c.Aux)
		}
		delete(n.Errors, c.Node)
		w.emit("network", "update", n.ID)
		return n.clone(), nil
	})
}

func (w *writeTx) pickVNI(want uint32) (uint32, error) {
	used := map[uint32]string{}
	for _, n := range w.s.data.Networks {
		used[n.VNI] = displayName(n)
	}
	if want != 0 {
		if want > MaxVNI {
			return 0, fmt.Errorf("%w: VNI %d is larger than %d", ErrInvalid, want, MaxVNI)
		}
		if other, ok := used[want]; ok {
			return 0, fmt.Errorf("%w: VNI %d is already used by network %s; pick another xoverlay.vni", ErrConflict, want, other)
		}
		return want, nil
	}
	for v := uint32(MinVNI); v <= MaxVNI; v++ {
		if _, ok := used[v]; !ok {
			return v, nil
		}
	}
	return 0, fmt.Errorf("%w: no free VNI", ErrConflict)
}

func (s *Store) detachEngine(c DetachEngine) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		n, err := w.network(c.NetworkID)
		if err != nil {
			return nil, err
		}
		for id, ep := range s.data.Endpoints {
			if ep.NetworkID == n.ID && ep.Node == c.Node {
				w.deleteEndpoint(id)
			}
		}
		for block, node := range n.Blocks {
			if node == c.Node {
				delete(n.Blocks, block)
			}
		}
		for ip, r := range n.Reserved {
			if r.Node == c.Node {
				delete(n.Reserved, ip)
			}
		}
		delete(n.Engines, c.Node)
		if n.Released[c.Node] {
			delete(n.Released, c.Node)
			if len(n.Engines) == 0 {
				w.deleteNetwork(n)
				return nil, nil
			}
		}
		w.emit("network", "update", n.ID)
		return nil, nil
	})
}

func (s *Store) removeNetwork(c RemoveNetwork) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		n, ok := s.data.Networks[c.NetworkID]
		if !ok {
			return nil, nil
		}
		if _, held := n.Engines[c.Node]; held {
			if n.Released == nil {
				n.Released = map[string]bool{}
			}
			n.Released[c.Node] = true
			w.emit("network", "update", n.ID)
			return nil, nil
		}
		if len(n.Engines) == 0 {
			w.deleteNetwork(n)
		}
		return nil, nil
	})
}

// deleteNetwork drops a network and whatever endpoints it still has.
func (w *writeTx) deleteNetwork(n *Network) {
	for id, ep := range w.s.data.Endpoints {
		if ep.NetworkID == n.ID {
			w.deleteEndpoint(id)
		}
	}
	delete(w.s.data.Networks, n.ID)
	w.emit("network", "delete", n.ID)
	w.dropNetworkVIPs(n.ID)
}

func (w *writeTx) hostname(node string) string {
	if n, ok := w.s.data.Nodes[node]; ok && n.Hostname != "" {
		return n.Hostname
	}
	return node
}

func (s *Store) renameNetwork(c RenameNetwork) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		n, err := w.network(c.NetworkID)
		if err != nil {
			return nil, err
		}
		if n.Name != c.Name {
			n.Name = c.Name
			w.emit("network", "update", n.ID)
		}
		return nil, nil
	})
}

func (s *Store) markNetworkDeleting(c MarkNetworkDeleting) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		n, err := w.network(c.NetworkID)
		if err != nil {
			return nil, err
		}
		if busy := w.endpointHosts(n, ""); len(busy) > 0 {
			return nil, fmt.Errorf("%w: network %s still has endpoints on %s; remove those containers first",
				ErrConflict, displayName(n), strings.Join(busy, ", "))
		}
		if !n.Deleting {
			n.Deleting = true
			w.emit("network", "update", n.ID)
		}
		return nil, nil
	})
}

// endpointHosts names the hosts (other than except) with endpoints on n,
// with their containers: "h2 (web, api)".
func (w *writeTx) endpointHosts(n *Network, except string) []string {
	byHost := map[string][]string{}
	for _, ep := range w.s.data.Endpoints {
		if ep.NetworkID == n.ID && ep.Node != except {
			name := ep.Container
			if name == "" {
				name = ep.ID[:min(12, len(ep.ID))]
			}
			h := w.hostname(ep.Node)
			byHost[h] = append(byHost[h], name)
		}
	}
	var out []string
	for h, names := range byHost {
		sort.Strings(names)
		out = append(out, fmt.Sprintf("%s (%s)", h, strings.Join(names, ", ")))
	}
	sort.Strings(out)
	return out
}

func (s *Store) setNetworkError(c SetNetworkError) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		n, err := w.network(c.NetworkID)
		if err != nil {
			return nil, err
		}
		if n.Errors[c.Node] == c.Error {
			return nil, nil
		}
		if c.Error == "" {
			delete(n.Errors, c.Node)
		} else {
			if n.Errors == nil {
				n.Errors = map[string]string{}
			}
			n.Errors[c.Node] = c.Error
		}
		w.emit("network", "update", n.ID)
		return nil, nil
	})
}
