package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// testCommitTimeout is the CommitTimeout of the members startMember
// opens (0: the default).
var testCommitTimeout time.Duration

// With a CommitTimeout of an hour, followers can learn of commits only
// from the leader's barriers: every commit, the leader's own and the
// forwarded ones, must still reach them.
func TestCommitsReachFollowersThroughBarriers(t *testing.T) {
	testCommitTimeout = time.Hour
	t.Cleanup(func() { testCommitTimeout = 0 })
	n1, _, mgrToken, wrkToken := initCluster(t)
	n2, err := join(t, n1, "n2", mgrToken)
	if err != nil {
		t.Fatal(err)
	}
	n3, err := join(t, n1, "n3", wrkToken)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The leader's own commit.
	if _, err := n1.raft.Propose(ctx, state.CreateNetwork{ID: "a", Subnet: "10.1.0.0/24"}); err != nil {
		t.Fatal(err)
	}
	seen := func(id string) func() error {
		return func() error {
			for _, n := range []*testNode{n1, n2, n3} {
				var ok bool
				n.store.View(func(tx state.ReadTx) { ok = tx.Network(id) != nil })
				if !ok {
					return fmt.Errorf("%s lacks network %s", n.id, id)
				}
			}
			return nil
		}
	}
	eventually(t, 10*time.Second, seen("a"))
	// A forwarded one returns only once the forwarding replica applied
	// it, so without barriers it would wait for the hour.
	if _, err := n3.raft.Propose(ctx, state.CreateNetwork{ID: "b", Subnet: "10.2.0.0/24"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, seen("b"))
	if got := testutil.ToFloat64(n1.raft.nudges); got < 2 {
		t.Fatalf("leader appended %v commit barriers, want at least 2", got)
	}
	if got := testutil.ToFloat64(n2.raft.nudges); got != 0 {
		t.Fatalf("a follower appended %v commit barriers", got)
	}
}
