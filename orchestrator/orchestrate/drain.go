package orchestrate

import (
	"context"
	"fmt"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// Drainer takes the tasks a rolling update retires out of service before
// they are stopped. Drain returns once every node stopped sending them
// new requests (or says which did not); the orchestrator then stops them
// with their grace period. It is called on its own goroutine, again for
// the same tasks after a leader change, and must return when ctx ends.
type Drainer interface {
	Drain(ctx context.Context, tasks []*state.Task) error
}

// DefaultDrainDelay is how long the default drainer waits after taking
// tasks out of service: DNS answers carry a TTL of 1 s, so a client
// holds a drained address that long at most.
const DefaultDrainDelay = time.Second

// StateDrainer is the default Drainer: it marks the tasks draining in
// the cluster state (DNS and the load balancers of every node leave
// them; see state.DrainTasks), then waits Delay for the nodes to apply
// it. It needs nothing of the nodes: a drainer that waits for each
// node's acknowledgement can replace the wait.
type StateDrainer struct {
	Cluster interface {
		Propose(ctx context.Context, cmd state.Command) (any, error)
	}
	Delay time.Duration
}

// Drain marks the tasks draining, then waits.
func (d StateDrainer) Drain(ctx context.Context, tasks []*state.Task) error {
	ids := make([]string, len(tasks))
	for i, t := range tasks {
		ids[i] = t.ID
	}
	if _, err := d.Cluster.Propose(ctx, state.DrainTasks{IDs: ids}); err != nil {
		return fmt.Errorf("mark %d tasks draining: %w", len(ids), err)
	}
	if d.Delay <= 0 {
		return nil
	}
	t := time.NewTimer(d.Delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
