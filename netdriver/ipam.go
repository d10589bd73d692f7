package netdriver

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/docker/go-plugins-helpers/ipam"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// IPAM is the IpamDriver face of the driver.
type IPAM struct{ d *Driver }

var _ ipam.Ipam = IPAM{}

// IPAM returns the IpamDriver face.
func (d *Driver) IPAM() IPAM { return IPAM{d} }

const gatewayRequest = "com.docker.network.gateway"

// IPAMOptNetwork is the IPAM option (--ipam-opt) with which the agent asks
// for the pool of an existing network, to create its engine's copy. Only
// the agent sets it.
const IPAMOptNetwork = "xoverlay.network"

// GetCapabilities answers that no MAC is needed to allocate.
func (IPAM) GetCapabilities() (*ipam.CapabilitiesResponse, error) {
	return &ipam.CapabilitiesResponse{}, nil
}

// GetDefaultAddressSpaces names xoverlay's single address space.
func (IPAM) GetDefaultAddressSpaces() (*ipam.AddressSpacesResponse, error) {
	return &ipam.AddressSpacesResponse{LocalDefaultAddressSpace: AddressSpace, GlobalDefaultAddressSpace: AddressSpace}, nil
}

// RequestPool records a new network's subnet in the cluster state, where
// overlaps with any network on any host are refused.
func (a IPAM) RequestPool(r *ipam.RequestPoolRequest) (*ipam.RequestPoolResponse, error) {
	if r.V6 {
		return nil, fmt.Errorf("xoverlay: IPv6 is not supported yet; create the network without --ipv6 and IPv6 subnets")
	}
	for k := range r.Options {
		if k != IPAMOptNetwork {
			return nil, fmt.Errorf("xoverlay: unknown IPAM option %q; the xoverlay IPAM driver takes no --ipam-opt", k)
		}
	}
	if id, ok := r.Options[IPAMOptNetwork]; ok {
		return a.attachPool(id, r)
	}
	id := newID()
	v, err := a.d.propose(state.CreateNetwork{
		ID: id, Subnet: r.Pool, IPRange: r.SubPool,
		DefaultPool: a.d.cfg.DefaultPool, DefaultBits: a.d.cfg.DefaultBits, CreatedAt: time.Now().UTC(),
	})
	if err != nil {
		return nil, plain(err)
	}
	n := v.(*state.Network)
	return &ipam.RequestPoolResponse{PoolID: n.ID, Pool: n.Subnet}, nil
}

// attachPool answers a pool request for an existing network: the agent
// creating this engine's copy of a network another engine created. Nothing
// is written; the pool is the network's.
func (a IPAM) attachPool(id string, r *ipam.RequestPoolRequest) (*ipam.RequestPoolResponse, error) {
	n, ok := a.d.network(id)
	switch {
	case !ok:
		return nil, fmt.Errorf("xoverlay: network %s is not in the cluster state", id)
	case n.Deleting:
		return nil, fmt.Errorf("xoverlay: network %s is being removed from every host", displayName(n))
	case n.VNI == 0 || len(n.Engines) == 0:
		return nil, fmt.Errorf("xoverlay: network %s is not created on any host yet", displayName(n))
	case r.Pool != n.Subnet:
		return nil, fmt.Errorf("xoverlay: network %s has subnet %s, not %q", displayName(n), n.Subnet, r.Pool)
	case r.SubPool != n.IPRange:
		return nil, fmt.Errorf("xoverlay: network %s has ip-range %q, not %q", displayName(n), n.IPRange, r.SubPool)
	}
	return &ipam.RequestPoolResponse{PoolID: n.ID, Pool: n.Subnet}, nil
}

func displayName(n state.Network) string {
	if n.Name != "" {
		return n.Name
	}
	return n.ID
}

// ReleasePool forgets a network once its engine removed it.
func (a IPAM) ReleasePool(r *ipam.ReleasePoolRequest) error {
	a.d.forget(r.PoolID)
	if _, err := a.d.propose(state.RemoveNetwork{NetworkID: r.PoolID, Node: a.d.cfg.Node}); err != nil {
		return plain(err)
	}
	return nil
}

// RequestAddress hands out the gateway, a requested address, or the next
// free address of this node's blocks.
func (a IPAM) RequestAddress(r *ipam.RequestAddressRequest) (*ipam.RequestAddressResponse, error) {
	n, ok := a.d.network(r.PoolID)
	if !ok {
		return nil, fmt.Errorf("xoverlay: address pool %s not found (was the agent's state reset?)", r.PoolID)
	}
	bits := netip.MustParsePrefix(n.Subnet).Bits()
	var ip string
	switch {
	case settled(n, r.Address, r.Options["RequestAddressType"] == gatewayRequest):
		ip = r.Address // another engine's copy of the network: nothing to write
	case r.Options["RequestAddressType"] == gatewayRequest:
		v, err := a.d.propose(state.SetGateway{NetworkID: n.ID, IP: r.Address})
		if err != nil {
			return nil, plain(err)
		}
		ip = v.(string)
	case r.Address != "":
		if _, err := a.d.propose(state.ReserveAddress{NetworkID: n.ID, IP: r.Address, Node: a.d.cfg.Node}); err != nil {
			return nil, plain(err)
		}
		ip = r.Address
	default:
		addr, err := a.d.allocate(n.ID)
		if err != nil {
			return nil, err
		}
		ip = addr.String()
	}
	return &ipam.RequestAddressResponse{Address: fmt.Sprintf("%s/%d", ip, bits)}, nil
}

// settled reports whether ip is already the network's gateway (or one of
// its aux addresses) for good: once an engine holds the network, neither
// changes, so the local replica answers and no write is needed.
func settled(n state.Network, ip string, gateway bool) bool {
	if ip == "" || len(n.Engines) == 0 {
		return false
	}
	if gateway {
		return n.Gateway == ip
	}
	for _, aux := range n.Aux {
		if aux == ip {
			return true
		}
	}
	return false
}

// ReleaseAddress returns an address. Only reservations and the gateway
// need a cluster write; endpoint addresses go with their endpoint.
func (a IPAM) ReleaseAddress(r *ipam.ReleaseAddressRequest) error {
	ip, err := netip.ParseAddr(r.Address)
	if err != nil {
		return fmt.Errorf("xoverlay: release %q: not an IP address", r.Address)
	}
	a.d.unpend(r.PoolID, ip)
	var write bool
	a.d.cluster.View(func(tx state.ReadTx) {
		if n := tx.Network(r.PoolID); n != nil {
			_, held := n.Reserved[ip.String()]
			_, mine := n.Engines[a.d.cfg.Node]
			// An aux address stays reserved while this engine holds the
			// network; the engine's DetachEngine drops it.
			keep := mine && settled(*n, ip.String(), false)
			write = (held && !keep) || n.Gateway == ip.String()
		}
	})
	if !write {
		return nil
	}
	if _, err := a.d.propose(state.ReleaseAddress{NetworkID: r.PoolID, IP: ip.String(), Node: a.d.cfg.Node}); err != nil {
		return plain(err)
	}
	return nil
}

func (d *Driver) network(id string) (n state.Network, ok bool) {
	d.cluster.View(func(tx state.ReadTx) {
		if nw := tx.Network(id); nw != nil {
			n, ok = *nw, true
		}
	})
	return n, ok
}
