package cluster

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/raft"

	"github.com/xoverlay/xoverlay/orchestrator/pki"
)

// Member is one server of the raft configuration.
type Member struct {
	ID    string
	Addr  string
	Voter bool
}

// Members lists the raft configuration.
func (c *Raft) Members() ([]Member, error) {
	f := c.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("cluster: configuration: %w", err)
	}
	var out []Member
	for _, s := range f.Configuration().Servers {
		out = append(out, Member{ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	return out, nil
}

type memberRequest struct {
	Op   string `json:"op"` // "add-nonvoter", "remove"
	ID   string `json:"id"`
	Addr string `json:"addr,omitempty"`
}

// AddNonvoter adds a server that receives the log without voting.
func (c *Raft) AddNonvoter(ctx context.Context, id, addr string) error {
	return c.member(ctx, memberRequest{Op: "add-nonvoter", ID: id, Addr: addr})
}

// RemoveMember drops a server from the raft configuration.
func (c *Raft) RemoveMember(ctx context.Context, id string) error {
	return c.member(ctx, memberRequest{Op: "remove", ID: id})
}

// member runs a configuration change on the leader, forwarding if needed.
func (c *Raft) member(ctx context.Context, req memberRequest) error {
	if c.IsLeader() {
		return c.applyMember(req)
	}
	if c.client == nil {
		return errNotLeader
	}
	for {
		err := c.callLeader(ctx, "/rpc/v1/member", req, nil)
		if err != errRetry {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: %s %s: %w", req.Op, req.ID, ErrNoLeader)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Raft) applyMember(req memberRequest) error {
	id := raft.ServerID(req.ID)
	var f raft.IndexFuture
	switch req.Op {
	case "add-nonvoter":
		f = c.raft.AddNonvoter(id, raft.ServerAddress(req.Addr), 0, 0)
	case "add-voter":
		f = c.raft.AddVoter(id, raft.ServerAddress(req.Addr), 0, 0)
	case "demote":
		f = c.raft.DemoteVoter(id, 0, 0)
	case "remove":
		f = c.raft.RemoveServer(id, 0, 0)
	default:
		return fmt.Errorf("cluster: unknown membership change %q", req.Op)
	}
	if err := f.Error(); err != nil {
		return fmt.Errorf("cluster: %s %s: %w", req.Op, req.ID, err)
	}
	c.nudge()
	return nil
}

func (c *Raft) handleMember(w http.ResponseWriter, r *http.Request, _ string) {
	var req memberRequest
	if !decode(w, r, &req) {
		return
	}
	if !c.IsLeader() {
		writeErr(w, http.StatusServiceUnavailable, errNotLeader)
		return
	}
	if err := c.applyMember(req); err != nil {
		writeErr(w, http.StatusConflict, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

type caKeyResponse struct {
	Key []byte `json:"key"`
}

// FetchCAKey gets the CA key from the leader; for a node just promoted to
// manager.
func (c *Raft) FetchCAKey(ctx context.Context) ([]byte, error) {
	var out caKeyResponse
	for {
		err := c.callLeader(ctx, "/rpc/v1/cakey", struct{}{}, &out)
		if err != errRetry {
			return out.Key, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("cluster: fetch CA key: %w", ErrNoLeader)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Raft) handleCAKey(w http.ResponseWriter, _ *http.Request, _ string) {
	key := c.tlsMaterial().CAKey
	if key == nil {
		writeErr(w, http.StatusServiceUnavailable, errNotLeader)
		return
	}
	b, err := pki.KeyPEM(key)
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, caKeyResponse{Key: b})
}
