package agent

import (
	"context"
	"sync"

	"github.com/xoverlay/xoverlay/orchestrator/cluster"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// replica is what the driver, watchers and API read and write through:
// the store, and the raft member, which `cluster init` and `cluster join`
// replace while the agent keeps running (writers wait for the swap).
type replica struct {
	*state.Store
	mu sync.RWMutex
	r  *cluster.Raft
}

func (rep *replica) member() *cluster.Raft {
	rep.mu.RLock()
	defer rep.mu.RUnlock()
	return rep.r
}

// Propose commits through the current member.
func (rep *replica) Propose(ctx context.Context, cmd state.Command) (any, error) {
	rep.mu.RLock()
	defer rep.mu.RUnlock()
	return rep.r.Propose(ctx, cmd)
}

// ProposeIndex commits through the current member and tells the
// entry's raft index.
func (rep *replica) ProposeIndex(ctx context.Context, cmd state.Command) (any, uint64, error) {
	rep.mu.RLock()
	defer rep.mu.RUnlock()
	return rep.r.ProposeIndex(ctx, cmd)
}

// WaitDataplane waits until the nodes' data planes applied index (see
// cluster.Raft.WaitDataplane); it does not hold up a member swap.
func (rep *replica) WaitDataplane(ctx context.Context, index uint64, nodes []string) ([]string, error) {
	return rep.member().WaitDataplane(ctx, index, nodes)
}

// IsLeader reports whether this node leads.
func (rep *replica) IsLeader() bool { return rep.member().IsLeader() }

// WaitApplied blocks until the local FSM has applied every committed entry.
func (rep *replica) WaitApplied(ctx context.Context) error { return rep.member().WaitApplied(ctx) }

// LeaderID is the leader's node ID.
func (rep *replica) LeaderID() string { return rep.member().LeaderID() }

// swap replaces the member: close the old one, prepare, open the new one.
// Writers block meanwhile.
func (rep *replica) swap(open func(old *cluster.Raft) (*cluster.Raft, error)) error {
	rep.mu.Lock()
	defer rep.mu.Unlock()
	r, err := open(rep.r)
	if err != nil {
		return err
	}
	rep.r = r
	return nil
}

func (rep *replica) close() error {
	rep.mu.Lock()
	defer rep.mu.Unlock()
	if rep.r == nil {
		return nil
	}
	err := rep.r.Close()
	rep.r = nil
	return err
}

// leaderView is the replica with the store's commit feed, for the loops
// that act only on the leader.
type leaderView struct{ *replica }

func (l leaderView) Watch() (<-chan state.Event, func()) { return l.Store.Watch() }
