package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/hashicorp/raft"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// errRetry marks a forwarding failure worth retrying: no leader known,
// the leader stepped down or did not answer.
var errRetry = errors.New("cluster: leader unavailable")

// Propose commits one command, here when this node leads or through the
// leader otherwise, retrying across leader changes until ctx ends. It
// returns what the FSM answered.
func (c *Raft) Propose(ctx context.Context, cmd state.Command) (any, error) {
	v, _, err := c.ProposeIndex(ctx, cmd)
	return v, err
}

// ProposeIndex is Propose that also returns the raft index of the
// entry: once a node's data plane reports that index (WaitDataplane),
// it applied the change. The index is 0 when the commit failed.
func (c *Raft) ProposeIndex(ctx context.Context, cmd state.Command) (any, uint64, error) {
	data, err := state.Encode(cmd)
	if err != nil {
		return nil, 0, err
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeoutOf(ctx))
	defer cancel()
	for {
		v, index, err := c.proposeOnce(ctx, data)
		if !errors.Is(err, errRetry) {
			if err == nil || state.ErrorClass(err) != "" {
				c.applyMs.Observe(time.Since(start).Seconds())
			} else {
				c.errs.Inc()
			}
			return v, index, err
		}
		select {
		case <-ctx.Done():
			c.errs.Inc()
			return nil, 0, fmt.Errorf("cluster: commit %T: %w (%w)", cmd, ErrNoLeader, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Raft) proposeOnce(ctx context.Context, data []byte) (any, uint64, error) {
	if c.IsLeader() {
		return c.applyIndexed(ctx, data)
	}
	if c.client == nil {
		return nil, 0, errRetry // single-node mode: leadership is a moment away
	}
	return c.forward(ctx, data)
}

// applyIndexed applies on the leader and also returns the entry's index.
// Losing leadership mid-way leaves the outcome unknown, so it is
// reported, not retried.
func (c *Raft) applyIndexed(ctx context.Context, data []byte) (any, uint64, error) {
	f := c.raft.Apply(data, timeoutOf(ctx))
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) {
			return nil, 0, errRetry
		}
		return nil, 0, fmt.Errorf("cluster: commit: %w", err)
	}
	c.nudge()
	res, _ := f.Response().(state.Result)
	return res.Value, f.Index(), res.Err
}

type proposeRequest struct {
	Data []byte `json:"data"`
}

type proposeResponse struct {
	Index  uint64          `json:"index"` // the entry's raft index
	Result json.RawMessage `json:"result,omitempty"`
	Class  string          `json:"class,omitempty"`
	Error  string          `json:"error,omitempty"`
}

func (c *Raft) forward(ctx context.Context, data []byte) (any, uint64, error) {
	var out proposeResponse
	if err := c.callLeader(ctx, "/rpc/v1/propose", proposeRequest{Data: data}, &out); err != nil {
		return nil, 0, err
	}
	// Read your writes: return only once this replica has applied the
	// entry, so the caller's next read here sees it.
	if err := c.waitIndex(ctx, out.Index); err != nil {
		return nil, 0, err
	}
	if out.Error != "" {
		return nil, out.Index, state.ClassError(out.Class, out.Error)
	}
	v, err := state.DecodeResult(state.CommandType(data[0]), out.Result)
	return v, out.Index, err
}

// waitIndex blocks until the local FSM has applied index.
func (c *Raft) waitIndex(ctx context.Context, index uint64) error {
	for c.fsmIndex() < index {
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: committed entry %d not applied here yet: %w", index, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// leaderAddr is the leader's cluster address from the raft configuration.
func (c *Raft) leaderAddr() (string, error) {
	addr, id := c.raft.LeaderWithID()
	if id == "" {
		return "", errRetry
	}
	f := c.raft.GetConfiguration()
	if f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			if s.ID == id {
				return string(s.Address), nil
			}
		}
	}
	return string(addr), nil
}

// callLeader posts a JSON request to the leader's node RPC.
func (c *Raft) callLeader(ctx context.Context, path string, in, out any) error {
	addr, err := c.leaderAddr()
	if err != nil {
		return err
	}
	return c.call(ctx, addr, path, in, out)
}

// call posts JSON to a node's RPC. Unavailability is errRetry.
func (c *Raft) call(ctx context.Context, addr, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("cluster: encode %s: %w", path, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("cluster: %s: %w", path, err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		c.log.Debug("node rpc failed", "addr", addr, "path", path, "err", err)
		return errRetry
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	switch {
	case resp.StatusCode == http.StatusServiceUnavailable:
		return errRetry
	case resp.StatusCode != http.StatusOK:
		return rpcError(resp.StatusCode, b)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("cluster: decode %s answer: %w", path, err)
	}
	return nil
}
