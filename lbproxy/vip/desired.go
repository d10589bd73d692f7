package vip

import (
	"cmp"
	"slices"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// Table is the VIPs of every network: network ID to its address-only
// virtual services, ordered by VIP, each with its backends in order.
type Table map[string][]l4.Service

// serving says whether an endpoint takes new connections: discovery's
// definition (tx.InService), and its task, if it runs one, still meant
// to run.
func serving(tx state.ReadTx, ep *state.Endpoint) bool {
	if !tx.InService(ep) {
		return false
	}
	if ep.Task == "" {
		return true
	}
	t := tx.Task(ep.Task)
	return t == nil || t.DesiredRunning()
}

// knownPorts are the ports a service declares (its --publish targets):
// the only ones the userspace and IPVS planes serve.
func knownPorts(ports []state.PortConfig) []l4.PortProto {
	var out []l4.PortProto
	for _, p := range ports {
		proto, err := l4.ParseProto(p.Protocol)
		if err != nil || p.Target == 0 {
			continue
		}
		pp := l4.PortProto{Port: p.Target, Proto: proto}
		if !slices.Contains(out, pp) {
			out = append(out, pp)
		}
	}
	slices.SortFunc(out, func(a, b l4.PortProto) int { return cmp.Or(cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Port, b.Port)) })
	return out
}

// Desired is the state of a namespace on the given networks.
func (t Table) Desired(networks []string) l4.Desired {
	var d l4.Desired
	for _, n := range networks {
		d.Services = append(d.Services, t[n]...)
	}
	return d
}

// Changed returns the networks whose VIPs or backends differ between
// old and t.
func (t Table) Changed(old Table) map[string]bool {
	out := map[string]bool{}
	for n, ss := range t {
		if !sameServices(ss, old[n]) {
			out[n] = true
		}
	}
	for n := range old {
		if _, ok := t[n]; !ok {
			out[n] = true
		}
	}
	return out
}

func sameServices(a, b []l4.Service) bool {
	return slices.EqualFunc(a, b, func(x, y l4.Service) bool {
		return x.VIP == y.VIP && x.Port == y.Port && x.Proto == y.Proto &&
			slices.Equal(x.Backends, y.Backends) && slices.Equal(x.KnownPorts, y.KnownPorts)
	})
}
