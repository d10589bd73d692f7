package cluster

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// heartbeats is the leader's memory of when each node was last heard.
type heartbeats struct {
	mu     sync.Mutex
	last   map[string]time.Time
	since  time.Time // when this node became leader
	leader bool
}

func (h *heartbeats) seen(id string, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.last == nil {
		h.last = map[string]time.Time{}
	}
	h.last[id] = at
}

// lastSeen is the last heartbeat, or leadership start for nodes not heard
// from since (every node gets a full grace period after a leader change).
func (h *heartbeats) lastSeen(id string) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t, ok := h.last[id]; ok && t.After(h.since) {
		return t
	}
	return h.since
}

// leading records leadership changes; true when leadership just began.
func (h *heartbeats) leading(now time.Time, leader bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	began := leader && !h.leader
	if began {
		h.since = now
	}
	h.leader = leader
	return began
}

// heartbeatRequest is what a node's heartbeat tells the leader.
type heartbeatRequest struct {
	// Index is the node's data-plane index (Dataplane.AppliedIndex); 0
	// from nodes without one (and from agents older than it).
	Index uint64 `json:"index,omitempty"`
}

func (c *Raft) handleHeartbeat(w http.ResponseWriter, r *http.Request, peer string) {
	var req heartbeatRequest
	if !decode(w, r, &req) {
		return
	}
	if !c.IsLeader() {
		writeErr(w, http.StatusServiceUnavailable, errNotLeader)
		return
	}
	c.hb.seen(peer, time.Now())
	if req.Index > 0 {
		c.acks.report(peer, req.Index)
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// heartbeatLoop tells the leader this node is alive, and how far its
// data plane is, every HeartbeatEvery; and at once (at most every
// ackEvery) when the data plane applied a change that drains, so the
// leader hears the acknowledgement in milliseconds.
func (c *Raft) heartbeatLoop() {
	t := time.NewTicker(c.cfg.HeartbeatEvery)
	defer t.Stop()
	var kick <-chan struct{}
	if c.cfg.Dataplane != nil {
		kick = c.cfg.Dataplane.Acks()
	}
	var last time.Time
	var soon <-chan time.Time // an acknowledgement held back by the rate limit
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		case <-kick:
			if c.IsLeader() {
				c.acks.poke() // the leader reads its own index
				continue
			}
			if wait := ackEvery - time.Since(last); wait > 0 {
				if soon == nil {
					soon = time.After(wait)
				}
				continue
			}
		case <-soon:
		}
		soon, last = nil, time.Now()
		c.beat()
	}
}

// beat sends one heartbeat (on the leader: records its own).
func (c *Raft) beat() {
	if c.IsLeader() {
		c.hb.seen(c.cfg.NodeID, time.Now())
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.HeartbeatEvery)
	defer cancel()
	if err := c.callLeader(ctx, "/rpc/v1/heartbeat", heartbeatRequest{Index: c.dataplaneIndex()}, nil); err != nil {
		c.log.Debug("heartbeat", "err", err)
	}
}

// statusLoop, on the leader, turns heartbeats into node status (ready,
// suspect, down) and keeps raft suffrage in step with the roles in state.
func (c *Raft) statusLoop() {
	t := time.NewTicker(c.cfg.HeartbeatEvery / 2)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		now := time.Now()
		began := c.hb.leading(now, c.IsLeader())
		if began {
			c.acks.reset() // reports made to an earlier leadership may be stale
		}
		if !began && !c.IsLeader() {
			continue
		}
		c.updateStatuses(now)
		c.reconcileSuffrage()
	}
}

// nodeStatus is the verdict for a node last heard at last.
func nodeStatus(now, last time.Time, suspect, down time.Duration) (string, string) {
	age := now.Sub(last)
	switch {
	case age < suspect:
		return state.StatusReady, ""
	case age < down:
		return state.StatusSuspect, fmt.Sprintf("no heartbeat for %s", age.Round(100*time.Millisecond))
	default:
		return state.StatusDown, fmt.Sprintf("no heartbeat for %s", age.Round(time.Second))
	}
}

func (c *Raft) updateStatuses(now time.Time) {
	var cmds []state.SetNodeStatus
	c.cfg.Store.View(func(tx state.ReadTx) {
		for _, n := range tx.Nodes() {
			st, msg := state.StatusReady, ""
			if n.ID != c.cfg.NodeID {
				st, msg = nodeStatus(now, c.hb.lastSeen(n.ID), c.cfg.SuspectAfter, c.cfg.DownAfter)
			}
			// Suspect's message changes every tick; only state changes are written.
			if n.Status != st {
				cmds = append(cmds, state.SetNodeStatus{ID: n.ID, Status: st, Msg: msg, At: now.UTC()})
			}
		}
	})
	for _, cmd := range cmds {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if _, err := c.Propose(ctx, cmd); err != nil {
			c.log.Warn("record node status", "node", cmd.ID, "status", cmd.Status, "err", err)
		} else if cmd.Status != state.StatusSuspect {
			c.log.Info("node status", "node", cmd.ID, "status", cmd.Status, "msg", cmd.Msg)
		}
		cancel()
	}
}

// reconcileSuffrage makes ready managers voters and workers non-voters.
func (c *Raft) reconcileSuffrage() {
	members, err := c.Members()
	if err != nil {
		return
	}
	voter := map[string]bool{}
	for _, m := range members {
		voter[m.ID] = m.Voter
	}
	var changes []memberRequest
	c.cfg.Store.View(func(tx state.ReadTx) {
		for _, n := range tx.Nodes() {
			isVoter, inConfig := voter[n.ID]
			switch {
			case !inConfig || n.ID == c.cfg.NodeID:
			case n.Role == state.RoleManager && !isVoter && n.Status == state.StatusReady && n.RaftAddr != "":
				changes = append(changes, memberRequest{Op: "add-voter", ID: n.ID, Addr: n.RaftAddr})
			case n.Role == state.RoleWorker && isVoter:
				changes = append(changes, memberRequest{Op: "demote", ID: n.ID})
			}
		}
	})
	for _, ch := range changes {
		if err := c.applyMember(ch); err != nil {
			c.log.Warn("raft suffrage", "op", ch.Op, "node", ch.ID, "err", err)
		} else {
			c.log.Info("raft suffrage", "op", ch.Op, "node", ch.ID)
		}
	}
}
