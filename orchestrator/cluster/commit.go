package cluster

import (
	"errors"
	"time"

	"github.com/hashicorp/raft"
)

// DefaultCommitTimeout is raft's CommitTimeout unless Config says
// otherwise: hashicorp/raft's own default.
const DefaultCommitTimeout = 50 * time.Millisecond

// nudgeTimeout bounds how long a nudge waits to enter the leader's queue.
const nudgeTimeout = 2 * time.Second

// nudgeQuiet is how long the leader waits after a commit for another
// entry before it appends a barrier: an entry appended meanwhile carries
// the commit index to the followers just as well.
const nudgeQuiet = time.Millisecond

// A follower learns that an entry is committed from the leader's next
// AppendEntries. hashicorp/raft sends one at once when there are new
// entries, but to announce a commit alone it waits CommitTimeout, and it
// sends that message to every follower every CommitTimeout whether
// anything was committed or not. A short CommitTimeout therefore buys
// followers fresh state at a steady cost on an idle cluster (with 5 ms,
// the leader of three spent about an eighth of a CPU on nothing).
//
// So CommitTimeout stays long and the leader, after commits, appends a
// barrier instead: the AppendEntries that carries it also carries the
// new commit index, so followers apply the commits within one round trip.
// The barrier is needed only when the log goes quiet: under a stream of
// writes every new entry carries the commit index of the ones before, so
// the leader appends one only when no entry followed the commit within
// nudgeQuiet. Commits that come while a barrier is on its way are
// announced by the next one: at most one barrier is in flight.

// nudge asks for a barrier after a commit; it never blocks.
func (c *Raft) nudge() {
	select {
	case c.kick <- struct{}{}:
	default: // one is pending: it announces this commit too
	}
}

// nudgeLoop appends the barriers nudge asks for, one at a time, while
// this node leads; until Close.
func (c *Raft) nudgeLoop() {
	quiet := time.NewTimer(time.Hour)
	quiet.Stop()
	defer quiet.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		}
		last := c.raft.LastIndex()
		quiet.Reset(nudgeQuiet)
		select {
		case <-c.stop:
			return
		case <-quiet.C:
		}
		if !c.IsLeader() || c.raft.LastIndex() != last {
			// Not leading, or a newer entry went out with the commit
			// index; its own commit asks for a barrier in turn.
			c.skipped.Inc()
			continue
		}
		err := c.raft.Barrier(nudgeTimeout).Error()
		switch {
		case err == nil:
			c.nudges.Inc()
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrRaftShutdown):
		default:
			c.log.Debug("commit barrier", "err", err)
		}
	}
}
