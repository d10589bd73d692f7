package reconcile

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// Global plans a global service: one task per eligible node (active, and
// matching the constraints). tasks may hold other services' tasks.
//
//   - A ready node without a task gets one; a node that joins later too.
//   - A drained node, or one that no longer matches a constraint, has its
//     tasks shut down; a node that left the cluster has them removed.
//   - The tasks of a node that is down are left alone: it runs them again
//     when it comes back.
//   - A task that stopped by itself is replaced on its node per the
//     restart policy, as for a replicated service.
func Global(svc *state.Service, tasks []*state.Task, ns []*state.Node, now time.Time) Plan {
	plan := Plan{ServiceID: svc.ID}
	if svc.External || !svc.Global() {
		return plan
	}
	r := &run{svc: svc, nodes: nodeMap(ns), now: now, plan: &plan}
	keys, slots := group(svc, tasks, func(t *state.Task) (string, bool) { return t.NodeID, t.NodeID != "" })
	sorted := slices.SortedFunc(slices.Values(ns), func(a, b *state.Node) int { return strings.Compare(a.ID, b.ID) })
	for _, n := range sorted {
		r.globalNode(n, slots[n.ID])
	}
	for _, id := range keys {
		if r.nodes[id] == nil {
			plan.stopLive(slots[id], state.TaskRemove, fmt.Sprintf("node %s left the cluster", id))
		}
	}
	return plan
}

func (r *run) globalNode(n *state.Node, sl *slot) {
	if reason := r.nodes.ineligible(n.ID, r.svc); reason != "" {
		if sl != nil {
			r.plan.stopLive(sl, state.TaskShutdown, reason)
		}
		return
	}
	if n.Status == state.StatusDown {
		return
	}
	if sl == nil || sl.current == nil {
		ready := n.Status == state.StatusReady || n.Status == ""
		if ready && (sl == nil || sl.done == nil) && !r.waitsForStop(sl, 0) {
			r.plan.Create = append(r.plan.Create, NewTask{NodeID: n.ID, Reason: "created"})
		}
		return
	}
	cur := sl.current
	for _, old := range sl.live[1:] {
		if reason := retire(r.svc, old, cur, r.nodes, r.now, 0); reason != "" {
			r.plan.stop(old, state.TaskShutdown, reason)
		}
	}
	if cur.Status.State.Terminal() {
		r.restart(cur, sl, NewTask{NodeID: n.ID})
	}
}
