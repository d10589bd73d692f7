package apiserver

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// watchView reads the state templates render, in one view of the store,
// and stamps it with its index: a digest of its content.
func (s *Server) watchView() api.WatchState {
	var v api.WatchState
	s.r.View(func(tx state.ReadTx) {
		v = buildWatchState(tx)
	})
	v.Index = watchIndex(v)
	return v
}

// buildWatchState copies the store (nothing of it is kept: the answer is
// encoded after the view ends); every list has a fixed order so the same
// state always gives the same index.
func buildWatchState(tx state.ReadTx) api.WatchState {
	v := api.WatchState{
		Nodes: []api.WatchNode{}, Networks: []api.WatchNetwork{}, Services: []api.WatchService{},
		Tasks: []api.WatchTask{}, Endpoints: []api.WatchEndpoint{},
	}
	down := map[string]bool{}
	for _, n := range tx.Nodes() {
		down[n.ID] = n.Status == state.StatusDown
		v.Nodes = append(v.Nodes, api.WatchNode{ID: n.ID, Hostname: n.Hostname, Addr: n.Addr, Role: n.Role,
			Availability: n.Availability, Status: n.Status, Labels: maps.Clone(n.Labels)})
	}
	netName := map[string]string{}
	for _, n := range tx.Networks() {
		netName[n.ID] = n.Name
		v.Networks = append(v.Networks, api.WatchNetwork{ID: n.ID, Name: n.Name, Subnet: n.Subnet, Gateway: n.Gateway})
	}
	taskName := map[string]string{}
	for _, svc := range tx.Services() {
		v.Services = append(v.Services, watchService(tx, svc, netName))
		for _, t := range tx.Tasks(svc.ID) {
			wt := api.WatchTask{ID: t.ID, Name: state.TaskName(svc.Name, t), ServiceID: svc.ID, Service: svc.Name,
				Slot: t.Slot, NodeID: t.NodeID, DesiredState: string(t.DesiredState), State: string(t.Status.State),
				ContainerID: t.Status.ContainerID}
			if t.NodeID != "" {
				wt.Node = hostname(tx, t.NodeID)
			}
			taskName[t.ID] = wt.Name
			v.Tasks = append(v.Tasks, wt)
		}
	}
	for _, ep := range tx.Endpoints("") {
		v.Endpoints = append(v.Endpoints, api.WatchEndpoint{
			ID: ep.ID, NetworkID: ep.NetworkID, Network: netName[ep.NetworkID], NodeID: ep.Node,
			Node: hostname(tx, ep.Node), IP: ep.IP, ContainerID: ep.ContainerID, Container: ep.Container,
			Aliases: slices.Clone(ep.Aliases), Service: ep.Service, TaskID: ep.Task, TaskName: taskName[ep.Task],
			Running: ep.Running, Health: ep.Health,
			// As discovery DNS decides it (agent's dnsSnapshot): the host
			// of an endpoint on a node that is down is presumed gone, and
			// drained tasks and containers (xo drain) take no traffic.
			InService: tx.InService(ep) && !down[ep.Node],
		})
	}
	slices.SortFunc(v.Endpoints, func(a, b api.WatchEndpoint) int {
		return cmp.Or(strings.Compare(a.Network, b.Network), strings.Compare(a.NetworkID, b.NetworkID),
			compareAddrs(a.IP, b.IP), strings.Compare(a.ID, b.ID))
	})
	return v
}

func watchService(tx state.ReadTx, svc *state.Service, netName map[string]string) api.WatchService {
	out := api.WatchService{ID: svc.ID, Name: svc.Name, Mode: svc.Spec.Mode, Image: svc.Spec.Image,
		EndpointMode: svc.Spec.EndpointMode, Labels: maps.Clone(svc.Spec.Labels), Replicas: replicas(tx, svc)}
	if out.Mode == "" {
		out.Mode = api.ModeReplicated
	}
	if svc.External {
		out.Mode = api.ModeExternal
	}
	for _, p := range svc.Spec.Ports {
		out.Ports = append(out.Ports, api.PortConfig{Target: p.Target, Published: p.Published,
			Protocol: p.Protocol, Mode: p.Mode})
	}
	for _, id := range slices.Sorted(maps.Keys(svc.VIPs)) {
		out.VIPs = append(out.VIPs, api.WatchVIP{NetworkID: id, Network: netName[id], Addr: svc.VIPs[id]})
	}
	slices.SortStableFunc(out.VIPs, func(a, b api.WatchVIP) int { return strings.Compare(a.Network, b.Network) })
	return out
}

// watchIndex is a digest of everything but the index: equal states have
// equal indexes, on any node and across restarts.
func watchIndex(v api.WatchState) string {
	v.Index = ""
	b, err := json.Marshal(v)
	if err != nil { // plain structs: cannot happen
		panic("apiserver: encode watch state: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}
