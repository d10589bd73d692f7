// Package statetest gives tests an in-process cluster: a real store whose
// proposals the FSM applies at once, as a single-node raft would after
// commit. For tests only.
package statetest

import (
	"context"
	"sync"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// Local is an in-process cluster that records the commands it applied.
type Local struct {
	*state.Store
	fsm *state.FSM

	mu     sync.Mutex
	writes []state.Command
}

// New returns an empty in-process cluster.
func New() *Local {
	s := state.NewStore()
	return &Local{Store: s, fsm: state.NewFSM(s)}
}

// Propose applies cmd and returns what the FSM answered.
func (c *Local) Propose(_ context.Context, cmd state.Command) (any, error) {
	b, err := state.Encode(cmd)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.writes = append(c.writes, cmd)
	c.mu.Unlock()
	return c.fsm.ApplyBytes(b)
}

// Writes returns the commands proposed so far.
func (c *Local) Writes() []state.Command {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]state.Command(nil), c.writes...)
}

// TakeWrites returns the commands proposed since the last call and forgets them.
func (c *Local) TakeWrites() []state.Command {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.writes
	c.writes = nil
	return w
}
