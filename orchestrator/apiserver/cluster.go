package apiserver

import (
	"net/http"
	"strings"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

func (s *Server) clusterInit(r *http.Request) (any, error) {
	var req api.ClusterInitRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	return s.ops.ClusterInit(r.Context(), req)
}

func (s *Server) clusterJoin(r *http.Request) (any, error) {
	var req api.ClusterJoinRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	req.Token = strings.TrimSpace(req.Token)
	switch {
	case req.Token == "":
		return nil, invalid("a join token is required")
	case req.RemoteAddr == "":
		return nil, invalid("the address of a manager is required")
	}
	return s.ops.ClusterJoin(r.Context(), req)
}

func (s *Server) clusterToken(r *http.Request) (any, error) {
	role := r.PathValue("role")
	if role != api.RoleWorker && role != api.RoleManager {
		return nil, invalid("unknown role %q: use %s or %s", role, api.RoleWorker, api.RoleManager)
	}
	rotate, err := boolQuery(r, "rotate")
	if err != nil {
		return nil, err
	}
	token, err := s.ops.ClusterToken(r.Context(), role, rotate)
	if err != nil {
		return nil, err
	}
	return api.JoinToken{Role: role, Token: token}, nil
}
