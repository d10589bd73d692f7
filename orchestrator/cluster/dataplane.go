package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// Dataplane is what the heartbeats report of this node's data plane
// (the agent's DNS server, VIP and routing-mesh controllers).
type Dataplane interface {
	// AppliedIndex is the raft index of the state every component of
	// the data plane reflects.
	AppliedIndex() uint64
	// Acks is signalled when AppliedIndex moves past a change that
	// drains: the leader is told at once, not at the next heartbeat.
	Acks() <-chan struct{}
}

// ackEvery is the shortest interval between two heartbeats sent for
// acknowledgements.
const ackEvery = 20 * time.Millisecond

// acks is the leader's memory of the data-plane index each node last
// reported; waiters are woken at every report.
type acks struct {
	mu      sync.Mutex
	index   map[string]uint64
	changed chan struct{} // closed and replaced at every report
}

func (a *acks) report(node string, index uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.index == nil {
		a.index = map[string]uint64{}
	}
	a.index[node] = index
	a.wakeLocked()
}

// reset forgets every report: a new leadership hears them afresh.
func (a *acks) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.index = nil
	a.wakeLocked()
}

// poke wakes the waiters (this node's own index moved).
func (a *acks) poke() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.wakeLocked()
}

func (a *acks) wakeLocked() {
	if a.changed != nil {
		close(a.changed)
		a.changed = nil
	}
}

// behind returns the nodes whose index is below index (self's is read
// by own), and a channel closed at the next report.
func (a *acks) behind(index uint64, nodes []string, own func(string) (uint64, bool)) ([]string, <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, n := range nodes {
		i, ok := own(n)
		if !ok {
			i = a.index[n]
		}
		if i < index {
			out = append(out, n)
		}
	}
	if a.changed == nil {
		a.changed = make(chan struct{})
	}
	return out, a.changed
}

// fsmIndex is the raft index of the last entry the local FSM applied.
func (c *Raft) fsmIndex() uint64 {
	if c.cfg.Store == nil {
		return c.raft.AppliedIndex()
	}
	var i uint64
	c.cfg.Store.View(func(tx state.ReadTx) { i = tx.Index() })
	return i
}

// dataplaneIndex is this node's data-plane index, 0 without one.
func (c *Raft) dataplaneIndex() uint64 {
	if c.cfg.Dataplane == nil {
		return 0
	}
	return c.cfg.Dataplane.AppliedIndex()
}

// WaitDataplane waits until the data plane of each of nodes (IDs)
// applied the state at index: their heartbeats said so to the leader,
// which keeps the last report of every node in memory. It asks the
// leader from any node. It returns the nodes that had not when ctx
// ended, with ctx's error; nil, nil once all had.
func (c *Raft) WaitDataplane(ctx context.Context, index uint64, nodes []string) ([]string, error) {
	missing := slices.Clone(nodes)
	for {
		var err error
		if c.IsLeader() || c.client == nil {
			missing, err = c.waitLocal(ctx, index, nodes)
		} else {
			missing, err = c.waitRemote(ctx, index, nodes, missing)
		}
		if !errors.Is(err, errRetry) {
			return missing, err
		}
		select {
		case <-ctx.Done():
			return missing, fmt.Errorf("cluster: wait for the data plane of %d nodes: %w", len(missing), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitLocal waits on the leader (or alone); errRetry when this node
// stops leading.
func (c *Raft) waitLocal(ctx context.Context, index uint64, nodes []string) ([]string, error) {
	own := func(n string) (uint64, bool) {
		if n == c.cfg.NodeID && c.cfg.Dataplane != nil {
			return c.cfg.Dataplane.AppliedIndex(), true
		}
		return 0, false
	}
	// This node's own index is read, not reported: poll it.
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for {
		missing, changed := c.acks.behind(index, nodes, own)
		if len(missing) == 0 {
			return nil, nil
		}
		if c.client != nil && !c.IsLeader() {
			return missing, errRetry
		}
		select {
		case <-ctx.Done():
			return missing, fmt.Errorf("cluster: wait for the data plane of %d nodes: %w", len(missing), ctx.Err())
		case <-changed:
		case <-poll.C:
		}
	}
}

type dataplaneWaitRequest struct {
	Index  uint64   `json:"index"`
	Nodes  []string `json:"nodes"`
	WaitMs int64    `json:"wait_ms"`
}

type dataplaneWaitResponse struct {
	Missing []string `json:"missing,omitempty"`
}

// maxRemoteWait bounds one wait request to the leader.
const maxRemoteWait = 10 * time.Second

// waitRemote asks the leader to wait; errRetry when there is none.
func (c *Raft) waitRemote(ctx context.Context, index uint64, nodes, missing []string) ([]string, error) {
	wait := maxRemoteWait
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)-50*time.Millisecond)
	}
	if wait <= 0 {
		return missing, fmt.Errorf("cluster: wait for the data plane of %d nodes: %w", len(missing), context.DeadlineExceeded)
	}
	var out dataplaneWaitResponse
	req := dataplaneWaitRequest{Index: index, Nodes: nodes, WaitMs: wait.Milliseconds()}
	if err := c.callLeader(ctx, "/rpc/v1/dataplane/wait", req, &out); err != nil {
		if ctx.Err() != nil {
			return missing, fmt.Errorf("cluster: wait for the data plane of %d nodes: %w", len(missing), ctx.Err())
		}
		return missing, err
	}
	if len(out.Missing) == 0 {
		return nil, nil
	}
	if ctx.Err() == nil && wait == maxRemoteWait {
		return out.Missing, errRetry // a long wait in slices: ask again
	}
	return out.Missing, fmt.Errorf("cluster: wait for the data plane of %d nodes: %w", len(out.Missing), context.DeadlineExceeded)
}

func (c *Raft) handleDataplaneWait(w http.ResponseWriter, r *http.Request, _ string) {
	var req dataplaneWaitRequest
	if !decode(w, r, &req) {
		return
	}
	if !c.IsLeader() {
		writeErr(w, http.StatusServiceUnavailable, errNotLeader)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), min(time.Duration(req.WaitMs)*time.Millisecond, maxRemoteWait))
	defer cancel()
	missing, err := c.waitLocal(ctx, req.Index, req.Nodes)
	if errors.Is(err, errRetry) {
		writeErr(w, http.StatusServiceUnavailable, errNotLeader)
		return
	}
	writeJSON(w, http.StatusOK, dataplaneWaitResponse{Missing: missing})
}

// lastCommandIndex is the index of the last command entry at or before
// upTo: the last entry the FSM applies (raft hands it no no-op, and no
// membership change). 0 when the log holds none that recent: the entries
// before are in a snapshot, which the FSM restored before raft counted
// them applied.
func (c *Raft) lastCommandIndex(upTo uint64) uint64 {
	var l raft.Log
	for i := upTo; i > 0 && upTo-i < 1024; i-- {
		if err := c.wal.GetLog(i, &l); err != nil {
			return 0
		}
		if l.Type == raft.LogCommand {
			return i
		}
	}
	return 0
}
