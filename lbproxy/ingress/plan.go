package ingress

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// Plan is what one node serves, computed from one view of the state.
type Plan struct {
	// Networks are the networks the ingress container must be on,
	// sorted by ID; none: no ingress container.
	Networks []Network
	// Mesh are the routing-mesh ports, served on every node.
	Mesh []MeshPort
	// Host are the mode=host ports with a task in service on this node.
	Host []HostPort
	// HTTP maps each HTTP listener port to the services behind it.
	HTTP map[uint16][]HTTPService
	// Problems are services the node cannot serve as asked, with why.
	Problems []string
}

// Network is an xoverlay network as this node's engine knows it.
type Network struct {
	ID       string // the cluster's
	Name     string
	EngineID string // this engine's network ID
	Subnet   netip.Prefix
}

// MeshPort is a published port of the routing mesh.
type MeshPort struct {
	Port     uint16
	Proto    l4.Proto
	Service  string
	Network  string           // ID of the network the ingress container reaches the tasks on
	Backends []netip.AddrPort // the tasks in service, at the target port
}

// HostPort is a mode=host port: local tasks only.
type HostPort struct {
	Port     uint16
	Proto    l4.Proto
	Service  string
	Backends []netip.AddrPort
}

// HTTPService is a service behind an HTTP listener.
type HTTPService struct {
	Service  string
	Network  string // ID of the network the proxy dials the tasks on
	Route    state.HTTPRoute
	Backends []netip.AddrPort
}

// Empty reports whether the node serves nothing.
func (p Plan) Empty() bool { return len(p.Mesh) == 0 && len(p.Host) == 0 && len(p.HTTP) == 0 }

// Compute builds node's plan from one view of the state.
func Compute(tx state.ReadTx, node string) Plan {
	p := Plan{HTTP: map[uint16][]HTTPService{}}
	nets := map[string]Network{}
	svcs := tx.Services()
	slices.SortFunc(svcs, func(a, b *state.Service) int { return cmp.Compare(a.Name, b.Name) })
	idx := backends(tx)
	mesh := map[l4.PortProto]bool{}
	host := map[l4.PortProto]bool{}
	for _, svc := range svcs {
		if svc.External {
			continue
		}
		routes, err := svc.Spec.HTTPRoutes()
		if err != nil {
			p.Problems = append(p.Problems, fmt.Sprintf("service %s: %v", svc.Name, err))
			routes = nil
		}
		ports := published(svc.Spec)
		if len(ports) == 0 && len(routes) == 0 {
			continue
		}
		nw, ok := serviceNetwork(tx, svc, node)
		if !ok {
			p.Problems = append(p.Problems, fmt.Sprintf("service %s: none of its networks is on this node's engine yet", svc.Name))
			continue
		}
		eps := idx[svcNet{svc.Name, nw.ID}]
		for _, port := range ports {
			proto, err := l4.ParseProto(port.Protocol)
			if err != nil {
				continue
			}
			key := l4.PortProto{Port: port.Published, Proto: proto}
			switch port.Mode {
			case state.PublishIngress:
				if mesh[key] || host[key] {
					p.Problems = append(p.Problems, fmt.Sprintf("service %s: port %d/%s is published twice; it stays with the first service", svc.Name, key.Port, key.Proto))
					continue
				}
				mesh[key] = true
				nets[nw.ID] = nw
				p.Mesh = append(p.Mesh, MeshPort{Port: key.Port, Proto: proto, Service: svc.Name, Network: nw.ID,
					Backends: at(eps, port.Target, "")})
			case state.PublishHost:
				local := at(eps, port.Target, node)
				if len(local) == 0 || host[key] || mesh[key] {
					continue
				}
				host[key] = true
				p.Host = append(p.Host, HostPort{Port: key.Port, Proto: proto, Service: svc.Name, Backends: local})
			}
		}
		for _, r := range routes {
			nets[nw.ID] = nw
			p.HTTP[r.Port] = append(p.HTTP[r.Port], HTTPService{Service: svc.Name, Network: nw.ID, Route: r,
				Backends: at(eps, r.Target, "")})
		}
	}
	for _, n := range nets {
		p.Networks = append(p.Networks, n)
	}
	slices.SortFunc(p.Networks, func(a, b Network) int { return cmp.Compare(a.ID, b.ID) })
	if len(p.HTTP) == 0 {
		p.HTTP = nil
	}
	return p
}

// published are a spec's ports with a published port, defaults applied.
func published(spec state.ServiceSpec) []state.PortConfig {
	var out []state.PortConfig
	for _, p := range spec.WithDefaults().Ports {
		if p.Published != 0 && p.Mode != state.PublishHTTP {
			out = append(out, p)
		}
	}
	return out
}

// serviceNetwork is the first of the service's networks that this
// node's engine has: where the ingress container meets the tasks.
func serviceNetwork(tx state.ReadTx, svc *state.Service, node string) (Network, bool) {
	for _, att := range svc.Spec.Networks {
		n := tx.Network(att.Target)
		if n == nil || n.Deleting || n.Engines[node] == "" {
			continue
		}
		subnet, err := netip.ParsePrefix(n.Subnet)
		if err != nil || !subnet.Addr().Is4() {
			continue
		}
		return Network{ID: n.ID, Name: n.Name, EngineID: n.Engines[node], Subnet: subnet.Masked()}, true
	}
	return Network{}, false
}

// endpoint is a backend's address and node.
type endpoint struct {
	addr netip.Addr
	node string
}

type svcNet struct{ service, network string }

// backends indexes the endpoints that take traffic (tx.InService:
// running, healthy, node up, task meant to run) by service and network.
func backends(tx state.ReadTx) map[svcNet][]endpoint {
	out := map[svcNet][]endpoint{}
	for _, ep := range tx.Endpoints("") {
		if ep.Service == "" || !tx.InService(ep) {
			continue
		}
		if a, err := netip.ParseAddr(ep.IP); err == nil && a.Is4() {
			k := svcNet{ep.Service, ep.NetworkID}
			out[k] = append(out[k], endpoint{addr: a, node: ep.Node})
		}
	}
	return out
}

// at returns the endpoints (of node only, if node is not empty) at port,
// sorted, without duplicates.
func at(eps []endpoint, port uint16, node string) []netip.AddrPort {
	out := []netip.AddrPort{}
	for _, e := range eps {
		if node == "" || e.node == node {
			out = append(out, netip.AddrPortFrom(e.addr, port))
		}
	}
	slices.SortFunc(out, netip.AddrPort.Compare)
	return slices.Compact(out)
}
