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
		return nil, fmt.Errorf("xoverlay: unknown IPAM option %q; the xoverlay IPAM driver takes no --ipam-opt", k)
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
			write = held || n.Gateway == ip.String()
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
