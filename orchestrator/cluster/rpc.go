package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/pki"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// rpcErrorBody is every non-200 answer of the node RPC.
type rpcErrorBody struct {
	Class string `json:"class,omitempty"`
	Error string `json:"error"`
}

func rpcError(code int, body []byte) error {
	var e rpcErrorBody
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		return fmt.Errorf("cluster: node rpc answered %d: %s", code, strings.TrimSpace(string(body)))
	}
	return state.ClassError(e.Class, e.Error)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, rpcErrorBody{Class: state.ErrorClass(err), Error: err.Error()})
}

// errNotLeader answers 503: the caller finds the new leader and retries.
var errNotLeader = errors.New("cluster: this node is not the leader")

func (c *Raft) serveRPC() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /rpc/v1/propose", c.node(c.handlePropose))
	mux.HandleFunc("POST /rpc/v1/heartbeat", c.node(c.handleHeartbeat))
	mux.HandleFunc("POST /rpc/v1/dataplane/wait", c.node(c.handleDataplaneWait))
	mux.HandleFunc("POST /rpc/v1/member", c.manager(c.handleMember))
	mux.HandleFunc("POST /rpc/v1/cakey", c.manager(c.handleCAKey))
	mux.HandleFunc("POST /rpc/v1/join", c.handleJoin)
	mux.HandleFunc("GET /rpc/v1/logs", c.node(c.handleLogs))
	c.rpc = &http.Server{Handler: mux, ConnContext: connContext, ReadHeaderTimeout: 10 * time.Second}
	l := c.cfg.Net.RPCListener()
	c.wg.Go(func() { _ = c.rpc.Serve(l) })
}

// node admits callers with a verified certificate of this cluster.
func (c *Raft) node(h func(w http.ResponseWriter, r *http.Request, peer string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, _, ok := pki.PeerNode(tlsState(r.Context()))
		if !ok {
			writeErr(w, http.StatusUnauthorized, errors.New("cluster: a node certificate of this cluster is required"))
			return
		}
		h(w, r, id)
	}
}

// manager admits nodes the state says are managers.
func (c *Raft) manager(h func(w http.ResponseWriter, r *http.Request, peer string)) http.HandlerFunc {
	return c.node(func(w http.ResponseWriter, r *http.Request, peer string) {
		var role string
		c.cfg.Store.View(func(tx state.ReadTx) {
			if n := tx.Node(peer); n != nil {
				role = n.Role
			}
		})
		if role != state.RoleManager {
			writeErr(w, http.StatusForbidden, fmt.Errorf("cluster: node %s is not a manager", peer))
			return
		}
		h(w, r, peer)
	})
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(v); err != nil {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("cluster: bad request: %w", err))
		return false
	}
	return true
}

func (c *Raft) handlePropose(w http.ResponseWriter, r *http.Request, _ string) {
	var req proposeRequest
	if !decode(w, r, &req) {
		return
	}
	if !c.IsLeader() || len(req.Data) == 0 {
		writeErr(w, http.StatusServiceUnavailable, errNotLeader)
		return
	}
	v, index, err := c.applyIndexed(r.Context(), req.Data)
	if errors.Is(err, errRetry) {
		writeErr(w, http.StatusServiceUnavailable, errNotLeader)
		return
	}
	out := proposeResponse{Index: index}
	if err != nil {
		out.Class, out.Error = state.ErrorClass(err), err.Error()
	} else if v != nil {
		out.Result, _ = json.Marshal(v)
	}
	writeJSON(w, http.StatusOK, out)
}
