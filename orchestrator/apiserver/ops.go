package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// Ops is what the agent does for the API. IDs are resolved node/network IDs.
//
// Errors wrapping state.ErrNotFound, state.ErrConflict or state.ErrInvalid
// answer 404, 409 or 400; ErrUnavailable answers 503, which clients
// retry; anything else answers 500. The error text is the message.
type Ops interface {
	ClusterInit(ctx context.Context, req api.ClusterInitRequest) (api.ClusterInfo, error)
	ClusterJoin(ctx context.Context, req api.ClusterJoinRequest) (api.ClusterInfo, error)
	ClusterToken(ctx context.Context, role string, rotate bool) (string, error)
	LeaderID() string // "" when none is known
	NodeRemove(ctx context.Context, id string, force bool) error
	NodeSetRole(ctx context.Context, id, role string) error
	NodeUpdate(ctx context.Context, id string, req api.NodeUpdateRequest) error
	NetworkCreate(ctx context.Context, req api.NetworkCreateRequest) (networkID string, err error)
	NetworkRemove(ctx context.Context, id string) error
	// ServiceCreate stores a service with a new ID and returns the ID
	// (that of an external service of the same name, which it adopts).
	// The spec is checked against the cluster and its networks are IDs.
	ServiceCreate(ctx context.Context, spec state.ServiceSpec) (serviceID string, err error)
	// ServiceUpdate replaces a service's spec, made from its SpecVersion
	// version (0 skips the check).
	ServiceUpdate(ctx context.Context, id string, version uint64, spec state.ServiceSpec) error
	// ServiceRollback puts a service back on its previous spec, made
	// from its SpecVersion version (0 skips the check).
	ServiceRollback(ctx context.Context, id string, version uint64) error
	ServiceRemove(ctx context.Context, id string) error
	// TaskLogs calls emit with each line of a task container's logs, read
	// from the engine of its node, until they end or ctx does. A
	// container that is gone has no lines.
	TaskLogs(ctx context.Context, req LogsRequest, emit func(api.LogLine) error) error
}

// ErrUnavailable is the class of Ops errors that mean "try again soon":
// there is no raft leader, or it is changing. The API answers 503.
var ErrUnavailable = errors.New("unavailable")

// maxBody bounds request bodies.
const maxBody = 1 << 20

// withOps answers 501 when the server has no Ops.
func (s *Server) withOps(h handlerFunc) handlerFunc {
	return func(r *http.Request) (any, error) {
		if s.ops == nil {
			return nil, &classed{class: errNotImplemented, msg: "this agent does not accept cluster changes through its API"}
		}
		return h(r)
	}
}

// leaderID is the ID of the raft leader, "" when unknown or without Ops.
func (s *Server) leaderID() string {
	if s.ops == nil {
		return ""
	}
	return s.ops.LeaderID()
}

// decodeBody reads a JSON request body into v; an empty body leaves v
// as it is.
func decodeBody(r *http.Request, v any) error {
	err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(v)
	if err != nil && !errors.Is(err, io.EOF) {
		return invalid("malformed request body: %v", err)
	}
	return nil
}

// boolQuery reads a boolean query parameter: absent is false; 1, true,
// 0, false and the like are accepted.
func boolQuery(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, invalid("query parameter %s=%q: want 1 or 0", name, v)
	}
	return b, nil
}
