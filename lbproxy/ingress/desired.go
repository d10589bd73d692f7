package ingress

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
	"github.com/xoverlay/xoverlay/lbproxy/l7"
	"github.com/xoverlay/xoverlay/lbproxy/l7/upstream"
)

// Sandbox is the ingress container as the controller last saw it.
type Sandbox struct {
	ID    string                // container ID
	NS    string                // its network namespace
	Addrs map[string]netip.Addr // cluster network ID -> its address there
}

// HostState is the host namespace's data-plane state: each mesh port to
// the ingress container's address on the service's network (once it is
// there), each host port to the local tasks.
func (p Plan) HostState(sb Sandbox) l4.Desired {
	var d l4.Desired
	for _, m := range p.Mesh {
		if a, ok := sb.Addrs[m.Network]; ok {
			d.Published = append(d.Published, l4.Published{Port: m.Port, Proto: m.Proto,
				Backends: []netip.AddrPort{netip.AddrPortFrom(a, m.Port)}})
		}
	}
	for _, h := range p.Host {
		d.Published = append(d.Published, l4.Published{Port: h.Port, Proto: h.Proto, Backends: slices.Clone(h.Backends)})
	}
	return d
}

// IngressState is the ingress namespace's state: each mesh port to the
// service's tasks in service anywhere, the source address towards each
// network being the container's own there.
func (p Plan) IngressState(sb Sandbox) l4.Desired {
	var d l4.Desired
	for _, m := range p.Mesh {
		d.Published = append(d.Published, l4.Published{Port: m.Port, Proto: m.Proto, Backends: slices.Clone(m.Backends)})
	}
	for _, n := range p.Networks {
		if a, ok := sb.Addrs[n.ID]; ok {
			d.MeshSource = append(d.MeshSource, l4.SNAT{Prefix: n.Subnet, Source: a})
		}
	}
	return d
}

// HTTPConfigs returns the proxy's configuration of each HTTP listener
// port. A service whose routes the proxy refuses (or which claims a host
// and path an earlier service has, by name) is left out and named in
// problems, so that one bad service never takes the others down.
func (p Plan) HTTPConfigs() (cfgs map[uint16]l7.Config, problems []string) {
	cfgs = make(map[uint16]l7.Config, len(p.HTTP))
	for port, svcs := range p.HTTP {
		var cfg l7.Config
		for _, s := range svcs {
			next := l7.Config{Routes: slices.Clone(cfg.Routes), Upstreams: slices.Clone(cfg.Upstreams)}
			next.Upstreams = append(next.Upstreams, upstreamOf(s))
			hosts := s.Route.Hosts
			if len(hosts) == 0 {
				hosts = []string{""}
			}
			for _, h := range hosts {
				next.Routes = append(next.Routes, l7.Route{Host: h, Path: s.Route.Path, Upstream: s.Service})
			}
			if err := next.Validate(); err != nil {
				problems = append(problems, fmt.Sprintf("HTTP port %d: service %s is not served: %v", port, s.Service, err))
				continue
			}
			cfg = next
		}
		cfgs[port] = cfg
	}
	return cfgs, problems
}

func upstreamOf(s HTTPService) l7.Upstream {
	u := l7.Upstream{Name: s.Service, Policy: upstream.Policy(s.Route.Policy), HashKey: s.Route.HashKey}
	for _, b := range s.Backends {
		u.Servers = append(u.Servers, upstream.Server{Addr: b.String()})
	}
	return u
}
