package orchestrate

import (
	"context"
	"fmt"
	"log/slog"
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

// DefaultDrainDelay is the state drainer's wait, and the acknowledging
// drainer's floor for tasks DNS answered: DNS answers carry a TTL of
// 1 s (dnsd's default), so a client holds a drained address that long at
// most.
const DefaultDrainDelay = time.Second

// StateDrainer is the fallback Drainer, for a Cluster that cannot tell
// the raft index of a proposal or wait for the nodes' data planes: it
// marks the tasks draining in the cluster state (DNS and the load
// balancers of every node leave them; see state.DrainTasks), then waits
// Delay for the nodes to apply it. AckDrainer replaces the wait by the
// nodes' acknowledgements.
type StateDrainer struct {
	Cluster interface {
		Propose(ctx context.Context, cmd state.Command) (any, error)
	}
	Delay time.Duration
}

// Drain marks the tasks draining, then waits.
func (d StateDrainer) Drain(ctx context.Context, tasks []*state.Task) error {
	ids := taskIDs(tasks)
	if _, err := d.Cluster.Propose(ctx, state.DrainTasks{IDs: ids}); err != nil {
		return fmt.Errorf("mark %d tasks draining: %w", len(ids), err)
	}
	return sleep(ctx, d.Delay)
}

func taskIDs(tasks []*state.Task) []string {
	ids := make([]string, len(tasks))
	for i, t := range tasks {
		ids[i] = t.ID
	}
	return ids
}

// sleep waits d, or less when ctx ends (then its error).
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// defaultDrainer is the Drainer of Options without one: the nodes'
// acknowledgements when the cluster can tell them, else a fixed wait.
func defaultDrainer(c Cluster, opts Options, log *slog.Logger) Drainer {
	delay := opts.DrainDelay
	if delay == 0 {
		delay = DefaultDrainDelay
	}
	ip, ok1 := c.(IndexedProposer)
	aw, ok2 := c.(AckWaiter)
	if ok1 && ok2 {
		return AckDrainer{Cluster: ip, Acks: aw, Timeout: opts.DrainTimeout, DNSTTL: delay, Log: log}
	}
	return StateDrainer{Cluster: c, Delay: delay}
}
