package orchestrate

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// IndexedProposer commits commands and tells their raft index
// (cluster.Raft.ProposeIndex), over a replica it reads.
type IndexedProposer interface {
	ProposeIndex(ctx context.Context, cmd state.Command) (any, uint64, error)
	View(fn func(state.ReadTx))
}

// AckWaiter waits until the data planes of nodes applied the state at
// index; it returns the nodes that had not when ctx ended
// (cluster.Raft.WaitDataplane).
type AckWaiter interface {
	WaitDataplane(ctx context.Context, index uint64, nodes []string) (missing []string, err error)
}

// DefaultDrainTimeout is how long a drain waits for the nodes'
// acknowledgements before it goes ahead without them.
const DefaultDrainTimeout = 5 * time.Second

// AckDrainer is the default Drainer: it commits the drain (DNS and
// every node's VIPs, routing mesh and HTTP pools leave the tasks), then
// waits until every node that is not down acknowledged it: its DNS
// server, VIP and routing-mesh controllers applied the state at the
// drain's raft index. A node that is down does not block; one that is
// suspect (or never answers) does, until Timeout, after which the drain
// goes ahead and its error names the nodes that did not acknowledge.
//
// Acknowledgements cover every client that reaches a task through a
// node's VIP, published ports or HTTP proxy: from then on, no new
// connection or request goes to it. They do not cover DNS clients that
// resolved the task's address (tasks.SERVICE, TASK.SERVICE, a hand-run
// container's name, a dnsrr service's name) just before: such a client
// holds the answer for its TTL and would reach a stopped task. So a
// drain of a task that DNS answered (in service until the drain) waits
// DNSTTL more after the last acknowledgement, as the fixed wait of
// StateDrainer did; a task no DNS server answered (never healthy, or
// drained already) is stopped as soon as the nodes acknowledged.
type AckDrainer struct {
	Cluster IndexedProposer
	Acks    AckWaiter
	Timeout time.Duration // default DefaultDrainTimeout
	DNSTTL  time.Duration // the DNS answers' TTL; 0: none (no floor)
	Log     *slog.Logger  // default: none
}

// DrainOutcome is what one drain did.
type DrainOutcome struct {
	Index   uint64   // the drain's raft index
	Changed int      // what the drain command answered: endpoints or tasks taken out
	Nodes   []string // the hostnames of the nodes asked (not down)
	Missing []string // those that did not acknowledge within the timeout
	Timeout time.Duration
	AckedIn time.Duration // from the commit to the last acknowledgement (or the timeout)
}

// Err is nil when every node acknowledged, else a NotAcknowledged.
func (o DrainOutcome) Err() error {
	if len(o.Missing) == 0 {
		return nil
	}
	return &NotAcknowledged{Nodes: o.Missing, Timeout: o.Timeout}
}

// NotAcknowledged says which nodes did not acknowledge a drain in time.
type NotAcknowledged struct {
	Nodes   []string // hostnames
	Timeout time.Duration
}

func (e *NotAcknowledged) Error() string {
	noun := "node"
	if len(e.Nodes) > 1 {
		noun = "nodes"
	}
	return fmt.Sprintf("drain: %s %s did not acknowledge within %s", noun, strings.Join(e.Nodes, ", "), e.Timeout)
}

// Drain takes the tasks out of service and waits for the nodes.
func (d AckDrainer) Drain(ctx context.Context, tasks []*state.Task) error {
	ids := taskIDs(tasks)
	var floor time.Duration
	d.Cluster.View(func(tx state.ReadTx) {
		floor = d.DNSFloor(tx, func(ep *state.Endpoint) bool { return ep.Task != "" && slices.Contains(ids, ep.Task) })
	})
	out, err := d.Apply(ctx, state.DrainTasks{IDs: ids}, floor)
	if err != nil {
		return err
	}
	return out.Err()
}

// answered says whether DNS answers one of the endpoints that match:
// it is in service.
func answered(tx state.ReadTx, match func(*state.Endpoint) bool) bool {
	found := false
	tx.EachEndpoint(func(ep *state.Endpoint) bool {
		found = match(ep) && tx.InService(ep)
		return !found
	})
	return found
}

// DNSFloor is the wait after the acknowledgements of a drain of the
// endpoints that match: DNSTTL when DNS answers one of them, else 0.
func (d AckDrainer) DNSFloor(tx state.ReadTx, match func(*state.Endpoint) bool) time.Duration {
	if answered(tx, match) {
		return d.DNSTTL
	}
	return 0
}

// Apply commits cmd, a command that takes endpoints out of service,
// waits until every node that is not down acknowledged it (at most
// Timeout), then floor more. A timeout is no error: the outcome names
// the nodes missing.
func (d AckDrainer) Apply(ctx context.Context, cmd state.Command, floor time.Duration) (DrainOutcome, error) {
	out := DrainOutcome{Timeout: d.Timeout}
	if out.Timeout <= 0 {
		out.Timeout = DefaultDrainTimeout
	}
	v, index, err := d.Cluster.ProposeIndex(ctx, cmd)
	if err != nil {
		return out, fmt.Errorf("drain: %w", err)
	}
	out.Index = index
	out.Changed, _ = v.(int)
	ids, names := d.upNodes()
	for _, id := range ids {
		out.Nodes = append(out.Nodes, names[id])
	}
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, out.Timeout)
	missing, err := d.Acks.WaitDataplane(wctx, index, ids)
	cancel()
	out.AckedIn = time.Since(start)
	switch {
	case ctx.Err() != nil:
		return out, ctx.Err()
	case err != nil && len(missing) == 0:
		return out, fmt.Errorf("drain: wait for the nodes: %w", err)
	}
	for _, id := range missing {
		out.Missing = append(out.Missing, names[id])
	}
	slices.Sort(out.Missing)
	if d.Log != nil {
		d.Log.Debug("drain acknowledged", "index", index, "changed", out.Changed, "nodes", len(out.Nodes),
			"missing", out.Missing, "acked_in", out.AckedIn, "then_wait", floor)
	}
	return out, sleep(ctx, floor)
}

// upNodes are the IDs of the nodes that are not down, and every node's
// name (its hostname, or its ID).
func (d AckDrainer) upNodes() ([]string, map[string]string) {
	var ids []string
	names := map[string]string{}
	d.Cluster.View(func(tx state.ReadTx) {
		for _, n := range tx.Nodes() {
			names[n.ID] = cmp.Or(n.Hostname, n.ID)
			if n.Status != state.StatusDown {
				ids = append(ids, n.ID)
			}
		}
	})
	return ids, names
}
