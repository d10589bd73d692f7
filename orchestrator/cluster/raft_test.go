package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

func open(t *testing.T, dir string) (*Raft, *state.Store) {
	t.Helper()
	store := state.NewStore()
	r, err := Open(Config{Dir: dir, NodeID: "node1", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, state.NewFSM(store))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.WaitApplied(ctx); err != nil {
		t.Fatal(err)
	}
	return r, store
}

// TestCommittedWritesSurviveRestart: what Propose acknowledged is on disk
// and replays into a fresh store after a restart.
func TestCommittedWritesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	r, _ := open(t, dir)
	ctx := context.Background()
	for i := range 20 {
		cmd := state.CreateNetwork{ID: fmt.Sprintf("n%d", i), Subnet: fmt.Sprintf("10.%d.0.0/24", i)}
		if _, err := r.Propose(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	// An FSM rejection comes back as the proposal's error, not a commit failure.
	if _, err := r.Propose(ctx, state.CreateNetwork{ID: "dup", Subnet: "10.3.0.0/24"}); err == nil {
		t.Fatal("overlapping subnet committed")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	r2, store := open(t, dir)
	defer r2.Close()
	_, nets, _ := store.Counts()
	if nets != 20 {
		t.Fatalf("after restart %d networks, want 20", nets)
	}
	if !r2.IsLeader() {
		t.Fatal("single node is not leader after restart")
	}
	if _, err := r2.Propose(ctx, state.CreateNetwork{ID: "n0", Subnet: "10.99.0.0/24"}); err == nil {
		t.Fatal("ID reused after restart")
	}
}
