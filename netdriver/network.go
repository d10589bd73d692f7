package netdriver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/docker/go-plugins-helpers/network"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// Network is the NetworkDriver face of the driver.
type Network struct{ d *Driver }

var _ network.Driver = Network{}

// Network returns the NetworkDriver face.
func (d *Driver) Network() Network { return Network{d} }

// GetCapabilities: the engine keeps a local copy of each network, while the
// agent connects hosts itself.
func (Network) GetCapabilities() (*network.CapabilitiesResponse, error) {
	return &network.CapabilitiesResponse{Scope: "local", ConnectivityScope: "global"}, nil
}

// CreateNetwork validates the request, records this engine's copy of the
// network, then builds the bridge and VXLAN device. On any failure the
// record is undone and nothing stays in the kernel.
func (w Network) CreateNetwork(r *network.CreateNetworkRequest) error {
	d := w.d
	d.kmu.Lock()
	defer d.kmu.Unlock()
	n, opts, err := d.validateCreate(r)
	if err != nil {
		return err
	}
	aux, err := auxAddresses(r.IPv4Data[0].AuxAddresses)
	if err != nil {
		return err
	}
	v, err := d.propose(state.AttachEngine{
		NetworkID: n.ID, Node: d.cfg.Node, EngineID: r.NetworkID,
		VNI: opts.VNI, MTU: opts.MTU, Options: opts.Raw, Aux: aux,
	})
	if err != nil {
		return plain(err)
	}
	attached := v.(*state.Network)
	if err := d.kernel.EnsureBridge(d.bridgeSpec(*attached)); err != nil {
		if _, uerr := d.propose(state.DetachEngine{NetworkID: n.ID, Node: d.cfg.Node}); uerr != nil {
			d.log.Error("undo network record", "network", n.ID, "err", uerr)
		}
		return fmt.Errorf("xoverlay: create bridge for network: %w", err)
	}
	d.log.Info("network created", "network", n.ID, "engine_id", r.NetworkID, "vni", attached.VNI, "subnet", n.Subnet)
	return nil
}

// auxAddresses turns the engine's aux addresses (name -> "ip/len", or
// "ip") into name -> IP.
func auxAddresses(in map[string]any) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(in))
	for name, v := range in {
		s, _ := v.(string)
		if p, err := netip.ParsePrefix(s); err == nil {
			out[name] = p.Addr().String()
		} else if ip, err := netip.ParseAddr(s); err == nil {
			out[name] = ip.String()
		} else {
			return nil, fmt.Errorf("xoverlay: aux address %s=%v is not an IP address", name, v)
		}
	}
	return out, nil
}

func (d *Driver) validateCreate(r *network.CreateNetworkRequest) (state.Network, Options, error) {
	var n state.Network
	if len(r.IPv6Data) > 0 {
		return n, Options{}, errors.New("xoverlay: IPv6 is not supported yet; create the network without --ipv6")
	}
	if len(r.IPv4Data) != 1 {
		return n, Options{}, fmt.Errorf("xoverlay: a network takes exactly one IPv4 --subnet, got %d", len(r.IPv4Data))
	}
	data := r.IPv4Data[0]
	if data.AddressSpace != AddressSpace {
		return n, Options{}, errors.New("xoverlay: addresses must come from the xoverlay IPAM driver so they are unique across hosts; add --ipam-driver xoverlay to docker network create")
	}
	generic, err := genericOptions(r.Options)
	if err != nil {
		return n, Options{}, fmt.Errorf("xoverlay: %w", err)
	}
	opts, err := ParseOptions(generic)
	if err != nil {
		return n, Options{}, fmt.Errorf("xoverlay: %w", err)
	}
	found := false
	d.cluster.View(func(tx state.ReadTx) {
		for _, nw := range tx.Networks() {
			if nw.Subnet == data.Pool {
				n, found = *nw, true
				return
			}
		}
	})
	if !found {
		return n, opts, fmt.Errorf("xoverlay: no address pool %s in the cluster state", data.Pool)
	}
	if _, ok := n.Engines[d.cfg.Node]; ok {
		return n, opts, fmt.Errorf("xoverlay: subnet %s already belongs to network %s on this host", data.Pool, n.Name)
	}
	return n, opts, nil
}

// AllocateNetwork is a swarm-mode call; xoverlay does not use swarm mode.
func (Network) AllocateNetwork(*network.AllocateNetworkRequest) (*network.AllocateNetworkResponse, error) {
	return nil, errors.New("xoverlay: swarm-scoped allocation is not used; xoverlay networks are created with docker network create")
}

// FreeNetwork is a swarm-mode call.
func (Network) FreeNetwork(*network.FreeNetworkRequest) error { return nil }

// DeleteNetwork removes the network from every host: it marks the network
// as being removed (every other host's agent then removes its copy), then
// removes this host's kernel objects and record. On the other hosts, the
// same call only does the latter.
//
// The engine removes its copy whatever this returns: it honours no error
// of a remote driver's DeleteNetwork, it only logs it. So this host's
// devices and record always go. When the mark is refused (endpoints on
// other hosts), the network stays on the other hosts and this host's agent
// creates its copy again; the returned error only reaches the engine's log.
func (w Network) DeleteNetwork(r *network.DeleteNetworkRequest) error {
	d := w.d
	d.kmu.Lock()
	defer d.kmu.Unlock()
	n, ok := d.networkByEngine(r.NetworkID)
	if !ok {
		return nil
	}
	var errs []error
	var refused error
	if !n.Deleting {
		refused = d.markDeleting(n)
	}
	if err := d.kernel.DeleteBridge(d.bridgeSpec(n)); err != nil {
		// Reconcile removes what is left: the network is no longer this host's.
		errs = append(errs, fmt.Errorf("xoverlay: delete bridge of network %s: %w", n.Name, err))
	}
	// Gone already: another host's agent purged the record meanwhile.
	if _, err := d.propose(state.DetachEngine{NetworkID: n.ID, Node: d.cfg.Node}); err != nil && !errors.Is(err, state.ErrNotFound) {
		errs = append(errs, plain(err))
	}
	if refused != nil {
		d.log.Warn("network removed from this host only; the agent creates this host's copy again",
			"network", n.ID, "name", n.Name, "reason", refused)
		return errors.Join(append([]error{refused}, errs...)...)
	}
	if len(errs) == 0 {
		d.log.Info("network deleted", "network", n.ID, "name", n.Name)
	}
	return errors.Join(errs...)
}

// markDeleting proposes MarkNetworkDeleting. The engine calls DeleteNetwork
// only once it has removed its own containers, so this host's endpoint
// records left on the network are stale: they go first, or they would
// block the removal. Marking even when no other engine holds the network
// stops one that is creating its copy right now (its AttachEngine fails)
// from keeping the network alive on its host after it was removed here.
func (d *Driver) markDeleting(n state.Network) error {
	var stale []state.Endpoint
	d.cluster.View(func(tx state.ReadTx) {
		for _, ep := range tx.Endpoints(n.ID) {
			if ep.Node == d.cfg.Node {
				stale = append(stale, *ep)
			}
		}
	})
	for _, ep := range stale {
		d.log.Warn("dropping stale endpoint record of a network being removed", "network", n.ID, "endpoint", ep.ID, "ip", ep.IP)
		if ep.HostIface == "" {
			ep.HostIface, _ = VethNames(ep.ID)
		}
		if err := d.kernel.DeleteVeth(ep.HostIface); err != nil {
			return fmt.Errorf("xoverlay: delete veth %s of stale endpoint: %w", ep.HostIface, err)
		}
		if _, err := d.propose(state.DeleteEndpoint{ID: ep.ID}); err != nil {
			return plain(err)
		}
	}
	if _, err := d.propose(state.MarkNetworkDeleting{NetworkID: n.ID}); err != nil {
		return plain(err)
	}
	return nil
}

// CreateEndpoint records the endpoint with the address IPAM gave it.
func (w Network) CreateEndpoint(r *network.CreateEndpointRequest) (*network.CreateEndpointResponse, error) {
	d := w.d
	n, ok := d.networkByEngine(r.NetworkID)
	if !ok {
		return nil, fmt.Errorf("xoverlay: network %s is unknown to the agent", r.NetworkID)
	}
	if r.Interface == nil || r.Interface.Address == "" {
		return nil, errors.New("xoverlay: endpoint has no IPv4 address; the network must use --ipam-driver xoverlay")
	}
	pfx, err := netip.ParsePrefix(r.Interface.Address)
	if err != nil {
		return nil, fmt.Errorf("xoverlay: endpoint address %q: %w", r.Interface.Address, err)
	}
	mac := r.Interface.MacAddress
	if mac == "" {
		mac = macFor(pfx.Addr()).String()
	}
	host, _ := VethNames(r.EndpointID)
	ep := state.Endpoint{
		ID: r.EndpointID, NetworkID: n.ID, Node: d.cfg.Node, IP: pfx.Addr().String(),
		MAC: mac, HostIface: host, CreatedAt: time.Now().UTC(),
	}
	if _, err := d.propose(state.CreateEndpoint{Endpoint: ep}); err != nil {
		return nil, plain(err)
	}
	d.unpend(n.ID, pfx.Addr())
	if r.Interface.MacAddress != "" {
		return &network.CreateEndpointResponse{}, nil
	}
	return &network.CreateEndpointResponse{Interface: &network.EndpointInterface{MacAddress: mac}}, nil
}

// macFor derives a locally administered MAC from an IPv4 address, as Docker does.
func macFor(ip netip.Addr) net.HardwareAddr {
	a := ip.As4()
	return net.HardwareAddr{0x02, 0x42, a[0], a[1], a[2], a[3]}
}

// DeleteEndpoint removes the veth (if still there) and the record.
func (w Network) DeleteEndpoint(r *network.DeleteEndpointRequest) error {
	d := w.d
	d.kmu.Lock()
	defer d.kmu.Unlock()
	host, _ := VethNames(r.EndpointID)
	if err := d.kernel.DeleteVeth(host); err != nil {
		return fmt.Errorf("xoverlay: delete veth %s: %w", host, err)
	}
	if _, err := d.propose(state.DeleteEndpoint{ID: r.EndpointID}); err != nil {
		return plain(err)
	}
	return nil
}

// EndpointInfo reports what the agent knows of an endpoint.
func (w Network) EndpointInfo(r *network.InfoRequest) (*network.InfoResponse, error) {
	ep, ok := w.d.endpoint(r.EndpointID)
	if !ok {
		return nil, fmt.Errorf("xoverlay: endpoint %s not found", r.EndpointID)
	}
	return &network.InfoResponse{Value: map[string]string{"ip": ep.IP, "mac": ep.MAC, "host_iface": ep.HostIface}}, nil
}

// Join builds the veth pair and tells the engine which end to move into
// the container, and the gateway.
func (w Network) Join(r *network.JoinRequest) (*network.JoinResponse, error) {
	d := w.d
	d.kmu.Lock()
	defer d.kmu.Unlock()
	n, ok := d.networkByEngine(r.NetworkID)
	if !ok {
		return nil, fmt.Errorf("xoverlay: network %s is unknown to the agent", r.NetworkID)
	}
	ep, ok := d.endpoint(r.EndpointID)
	if !ok {
		return nil, fmt.Errorf("xoverlay: endpoint %s not found", r.EndpointID)
	}
	spec := d.bridgeSpec(n)
	if err := d.kernel.EnsureBridge(spec); err != nil {
		return nil, fmt.Errorf("xoverlay: bridge for network %s: %w", n.Name, err)
	}
	host, peer := VethNames(ep.ID)
	mac, err := net.ParseMAC(ep.MAC)
	if err != nil {
		return nil, fmt.Errorf("xoverlay: endpoint MAC %q: %w", ep.MAC, err)
	}
	if err := d.kernel.EnsureVeth(VethSpec{Host: host, Peer: peer, Bridge: spec.Bridge, MTU: spec.MTU, MAC: mac}); err != nil {
		return nil, fmt.Errorf("xoverlay: veth for endpoint: %w", err)
	}
	return &network.JoinResponse{
		InterfaceName: network.InterfaceName{SrcName: peer, DstPrefix: "eth"},
		Gateway:       n.Gateway,
	}, nil
}

// Leave removes the veth pair.
func (w Network) Leave(r *network.LeaveRequest) error {
	w.d.kmu.Lock()
	defer w.d.kmu.Unlock()
	host, _ := VethNames(r.EndpointID)
	if err := w.d.kernel.DeleteVeth(host); err != nil {
		return fmt.Errorf("xoverlay: delete veth %s: %w", host, err)
	}
	return nil
}

// DiscoverNew is unused: the agent learns of peers from the cluster state.
func (Network) DiscoverNew(*network.DiscoveryNotification) error { return nil }

// DiscoverDelete is unused.
func (Network) DiscoverDelete(*network.DiscoveryNotification) error { return nil }

// ProgramExternalConnectivity is unused: published ports belong to lbproxy.
func (Network) ProgramExternalConnectivity(*network.ProgramExternalConnectivityRequest) error {
	return nil
}

// RevokeExternalConnectivity is unused.
func (Network) RevokeExternalConnectivity(*network.RevokeExternalConnectivityRequest) error {
	return nil
}

func (d *Driver) endpoint(id string) (ep state.Endpoint, ok bool) {
	d.cluster.View(func(tx state.ReadTx) {
		if e := tx.Endpoint(id); e != nil {
			ep, ok = *e, true
		}
	})
	return ep, ok
}
