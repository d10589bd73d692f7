package cluster

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// fakePlane is a node's data plane whose index the test sets.
type fakePlane struct {
	index atomic.Uint64
	kick  chan struct{}
}

func newFakePlane() *fakePlane { return &fakePlane{kick: make(chan struct{}, 1)} }

func (p *fakePlane) AppliedIndex() uint64  { return p.index.Load() }
func (p *fakePlane) Acks() <-chan struct{} { return p.kick }

// reach sets the index and signals an acknowledgement.
func (p *fakePlane) reach(i uint64) {
	p.index.Store(i)
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func TestAcksBehind(t *testing.T) {
	var a acks
	own := func(n string) (uint64, bool) { return 9, n == "self" }
	missing, changed := a.behind(5, []string{"self", "n2", "n3"}, own)
	if !slices.Equal(missing, []string{"n2", "n3"}) {
		t.Fatalf("missing %v, want n2 n3 (self reads its own index)", missing)
	}
	a.report("n2", 5)
	select {
	case <-changed:
	default:
		t.Fatal("a report did not wake the waiters")
	}
	a.report("n3", 4)
	if missing, _ := a.behind(5, []string{"self", "n2", "n3"}, own); !slices.Equal(missing, []string{"n3"}) {
		t.Fatalf("missing %v, want n3 (behind)", missing)
	}
	a.reset()
	if missing, _ := a.behind(5, []string{"n2"}, own); !slices.Equal(missing, []string{"n2"}) {
		t.Fatalf("missing %v after a new leadership, want n2", missing)
	}
}

func TestWaitDataplane(t *testing.T) {
	n1, _, mgrToken, _ := initCluster(t)
	p1, p2 := newFakePlane(), newFakePlane()
	n1.raft.cfg.Dataplane = p1 // the leader reads its own index at every wait
	n2, err := join(t, n1, "n2", mgrToken, p2)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, index, err := n2.raft.ProposeIndex(ctx, state.CreateNetwork{ID: "net", Subnet: "10.1.0.0/24"})
	if err != nil || index == 0 {
		t.Fatalf("propose: index %d, %v", index, err)
	}
	if got := n2.raft.fsmIndex(); got < index {
		t.Fatalf("forwarded write returned before this replica applied it: fsm index %d < %d", got, index)
	}
	nodes := []string{"n1", "n2"}

	// Nobody applied it: both are missing when the wait ends.
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	missing, err := n1.raft.WaitDataplane(short, index, nodes)
	cancelShort()
	if !slices.Equal(missing, nodes) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("missing %v, err %v: want both, deadline exceeded", missing, err)
	}

	// Asked from the follower (through the leader): n2's heartbeat
	// carries its acknowledgement.
	done := make(chan error, 1)
	go func() {
		missing, err := n2.raft.WaitDataplane(ctx, index, nodes)
		if err == nil && len(missing) > 0 {
			err = errors.New("missing nodes without an error")
		}
		done <- err
	}()
	p1.reach(index)
	p2.reach(index)
	if err := <-done; err != nil {
		t.Fatalf("wait from the follower: %v", err)
	}
	// A node that never reports is named.
	short, cancelShort = context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelShort()
	missing, err = n2.raft.WaitDataplane(short, index, []string{"n1", "n2", "ghost"})
	if !slices.Equal(missing, []string{"ghost"}) || err == nil {
		t.Fatalf("missing %v, err %v: want ghost", missing, err)
	}
}
