package apiserver

import (
	"cmp"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

func (s *Server) listNodes(*http.Request) (any, error) {
	v := s.nodeView()
	out := []api.Node{}
	s.r.View(func(tx state.ReadTx) {
		for _, n := range tx.Nodes() {
			out = append(out, v.build(n))
		}
	})
	slices.SortFunc(out, func(a, b api.Node) int {
		return cmp.Or(cmp.Compare(a.Hostname, b.Hostname), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

func (s *Server) getNode(r *http.Request) (any, error) {
	v := s.nodeView()
	var (
		out api.Node
		err error
	)
	s.r.View(func(tx state.ReadTx) {
		var n *state.Node
		if n, err = resolveNode(tx, r.PathValue("ref")); err == nil {
			out = v.build(n)
		}
	})
	return out, err
}

// nodeID resolves the request's {ref} to a node ID.
func (s *Server) nodeID(r *http.Request) (string, error) {
	var (
		id  string
		err error
	)
	s.r.View(func(tx state.ReadTx) {
		var n *state.Node
		if n, err = resolveNode(tx, r.PathValue("ref")); err == nil {
			id = n.ID
		}
	})
	return id, err
}

// resolveNode finds a node by ID, hostname or unique ID prefix.
func resolveNode(tx state.ReadTx, ref string) (*state.Node, error) {
	return lookup[state.Node]{
		noun: "node", byID: tx.Node, all: tx.Nodes(),
		name:     func(n *state.Node) string { return n.Hostname },
		id:       func(n *state.Node) string { return n.ID },
		describe: describeNodes,
	}.resolve(ref)
}

// describeNodes names nodes by ID and hostname, sorted by ID.
func describeNodes(ns []*state.Node) string {
	parts := make([]string, 0, len(ns))
	for _, n := range ns {
		parts = append(parts, n.ID+" ("+n.Hostname+")")
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// nodeView holds what a node's wire form needs beyond the store, read
// once per request outside the store's lock.
type nodeView struct {
	self, leader string
}

func (s *Server) nodeView() nodeView {
	return nodeView{self: s.info().NodeID, leader: s.leaderID()}
}

func (v nodeView) build(n *state.Node) api.Node {
	labels := maps.Clone(n.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	return api.Node{
		ID: n.ID, Hostname: n.Hostname, Addr: n.Addr, RaftAddr: n.RaftAddr,
		Role: n.Role, Availability: n.Availability,
		Status: n.Status, StatusMsg: n.StatusMsg, StatusAt: n.StatusAt,
		ManagerStatus: v.managerStatus(n),
		Labels:        labels,
		Capabilities: api.NodeCapabilities{
			Kernel: n.Capabilities.Kernel, Engine: n.Capabilities.Engine,
			IPVS: n.Capabilities.IPVS, NFTables: n.Capabilities.NFTables, DataPlane: n.Capabilities.DataPlane,
		},
		JoinedAt: n.JoinedAt,
		Self:     n.ID == v.self,
	}
}

func (v nodeView) managerStatus(n *state.Node) string {
	switch {
	case n.Role != state.RoleManager:
		return ""
	case n.ID == v.leader:
		return api.ManagerLeader
	case n.Status == state.StatusDown:
		return api.ManagerUnreachable
	default:
		return api.ManagerReachable
	}
}
