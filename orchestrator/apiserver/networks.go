package apiserver

import (
	"cmp"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

func (s *Server) listNetworks(*http.Request) (any, error) {
	out := []api.Network{}
	s.r.View(func(tx state.ReadTx) {
		eps := byNetwork(tx.Endpoints(""))
		for _, n := range tx.Networks() {
			out = append(out, buildNetwork(tx, n, eps[n.ID]))
		}
	})
	return out, nil
}

func (s *Server) getNetwork(r *http.Request) (any, error) {
	ref := r.PathValue("ref")
	var (
		out api.Network
		err error
	)
	s.r.View(func(tx state.ReadTx) {
		var n *state.Network
		if n, err = resolve(tx, ref); err == nil {
			out = buildNetwork(tx, n, tx.Endpoints(n.ID))
		}
	})
	return out, err
}

// resolve finds a network by ID, name or unique ID prefix.
func resolve(tx state.ReadTx, ref string) (*state.Network, error) {
	return lookup[state.Network]{
		noun: "network", byID: tx.Network, all: tx.Networks(),
		name:     func(n *state.Network) string { return n.Name },
		id:       func(n *state.Network) string { return n.ID },
		describe: func(ns []*state.Network) string { return describe(ns, ref) },
	}.resolve(ref)
}

// describe names networks by an ID prefix long enough to tell them apart
// from ref, and their name.
func describe(ns []*state.Network, ref string) string {
	parts := make([]string, 0, len(ns))
	for _, n := range ns {
		id := n.ID[:min(len(n.ID), max(12, len(ref)+4))]
		if n.Name != "" {
			id += " (" + n.Name + ")"
		}
		parts = append(parts, id)
	}
	return strings.Join(parts, ", ")
}

func byNetwork(eps []*state.Endpoint) map[string][]*state.Endpoint {
	m := map[string][]*state.Endpoint{}
	for _, ep := range eps {
		m[ep.NetworkID] = append(m[ep.NetworkID], ep)
	}
	return m
}

// buildNetwork turns a state network and its endpoints into the wire form.
// Hosts are every node with an engine network, a block or an endpoint.
func buildNetwork(tx state.ReadTx, n *state.Network, eps []*state.Endpoint) api.Network {
	hosts := map[string]*api.NetworkHost{}
	host := func(node string) *api.NetworkHost {
		if h, ok := hosts[node]; ok {
			return h
		}
		h := &api.NetworkHost{NodeID: node, Hostname: hostname(tx, node), Blocks: []string{}, Endpoints: []api.Endpoint{}}
		hosts[node] = h
		return h
	}
	for node, engineID := range n.Engines {
		host(node).EngineNetworkID = engineID
	}
	for block, node := range n.Blocks {
		h := host(node)
		h.Blocks = append(h.Blocks, block)
	}
	for _, ep := range eps {
		h := host(ep.Node)
		h.Endpoints = append(h.Endpoints, api.Endpoint{
			ID: ep.ID, Container: ep.Container, ContainerID: ep.ContainerID,
			IP: ep.IP, MAC: ep.MAC, HostIface: ep.HostIface,
		})
	}
	out := api.Network{
		ID: n.ID, Name: n.Name, VNI: n.VNI, Subnet: n.Subnet, IPRange: n.IPRange,
		Gateway: n.Gateway, MTU: n.MTU, Options: maps.Clone(n.Options), Created: n.CreatedAt,
		Hosts: make([]api.NetworkHost, 0, len(hosts)), Deleting: n.Deleting,
	}
	for node, msg := range n.Errors {
		if out.Errors == nil {
			out.Errors = map[string]string{}
		}
		out.Errors[hostname(tx, node)] = msg
	}
	for _, h := range hosts {
		slices.SortFunc(h.Blocks, comparePrefixes)
		slices.SortFunc(h.Endpoints, func(a, b api.Endpoint) int {
			return cmp.Or(compareAddrs(a.IP, b.IP), cmp.Compare(a.ID, b.ID))
		})
		out.Hosts = append(out.Hosts, *h)
	}
	slices.SortFunc(out.Hosts, func(a, b api.NetworkHost) int {
		return cmp.Or(cmp.Compare(a.Hostname, b.Hostname), cmp.Compare(a.NodeID, b.NodeID))
	})
	return out
}

// hostname names a node by its hostname, or by its ID when it is unknown.
func hostname(tx state.ReadTx, node string) string {
	if nd := tx.Node(node); nd != nil && nd.Hostname != "" {
		return nd.Hostname
	}
	return node
}

// compareAddrs orders IP addresses numerically; unparsable ones go last,
// in string order.
func compareAddrs(a, b string) int {
	x, errA := netip.ParseAddr(a)
	y, errB := netip.ParseAddr(b)
	switch {
	case errA == nil && errB == nil:
		return x.Compare(y)
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return cmp.Compare(a, b)
}

func comparePrefixes(a, b string) int {
	x, errA := netip.ParsePrefix(a)
	y, errB := netip.ParsePrefix(b)
	if errA != nil || errB != nil {
		return cmp.Compare(a, b)
	}
	return cmp.Or(x.Addr().Compare(y.Addr()), cmp.Compare(x.Bits(), y.Bits()))
}
