package apiserver

import (
	"net/http"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

func (s *Server) removeNode(r *http.Request) (any, error) {
	force, err := boolQuery(r, "force")
	if err != nil {
		return nil, err
	}
	id, err := s.nodeID(r)
	if err != nil {
		return nil, err
	}
	return nil, s.ops.NodeRemove(r.Context(), id, force)
}

func (s *Server) promoteNode(r *http.Request) (any, error) {
	return s.setRole(r, state.RoleManager)
}

func (s *Server) demoteNode(r *http.Request) (any, error) {
	return s.setRole(r, state.RoleWorker)
}

func (s *Server) setRole(r *http.Request, role string) (any, error) {
	id, err := s.nodeID(r)
	if err != nil {
		return nil, err
	}
	return nil, s.ops.NodeSetRole(r.Context(), id, role)
}

func (s *Server) updateNode(r *http.Request) (any, error) {
	var req api.NodeUpdateRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	switch req.Availability {
	case "", api.AvailabilityActive, api.AvailabilityDrain:
	default:
		return nil, invalid("unknown availability %q: use %s or %s",
			req.Availability, api.AvailabilityActive, api.AvailabilityDrain)
	}
	for k := range req.LabelsAdd {
		if k == "" {
			return nil, invalid("a label needs a key")
		}
	}
	id, err := s.nodeID(r)
	if err != nil {
		return nil, err
	}
	return nil, s.ops.NodeUpdate(r.Context(), id, req)
}
