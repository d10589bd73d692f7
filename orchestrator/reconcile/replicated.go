package reconcile

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// run is one reconcile of one service.
type run struct {
	svc   *state.Service
	nodes nodes
	now   time.Time
	pol   Policy
	plan  *Plan
}

// Replicated plans a replicated service: slots 1..Replicas each with one
// task that runs, or that gave up under the restart policy. tasks may
// hold other services' tasks; they are ignored.
//
//   - Scale down removes whole slots: given-up ones first, then those
//     whose task is not running, then those on the nodes with the most
//     tasks of the service, then the highest.
//   - Scale up fills the lowest free slot numbers.
//   - A task on a node that left or is down (past p.DownGrace) is
//     replaced elsewhere and stopped at once: its node stops it when it
//     comes back. A task on a drained node, or one whose labels no longer
//     match a constraint, is replaced first and stopped once its
//     replacement runs (or cannot be placed).
//   - A task that stopped by itself is replaced per the restart policy
//     (see restart), the replacement started before it is stopped.
func Replicated(svc *state.Service, tasks []*state.Task, ns []*state.Node, now time.Time, p Policy) Plan {
	plan := Plan{ServiceID: svc.ID}
	if svc.External || svc.Global() {
		return plan
	}
	r := &run{svc: svc, nodes: nodeMap(ns), now: now, pol: p, plan: &plan}
	keys, slots := group(svc, tasks, func(t *state.Task) (uint64, bool) { return t.Slot, t.Slot > 0 })
	var active []uint64
	for _, k := range keys {
		if sl := slots[k]; sl.current != nil || sl.done != nil || r.waitsForStop(sl, r.pol.DownGrace) {
			active = append(active, k)
		}
	}
	active = r.scaleDown(active, slots)
	for _, k := range active {
		r.replicatedSlot(k, slots[k])
	}
	r.scaleUp(active)
	return plan
}

func (r *run) replicatedSlot(k uint64, sl *slot) {
	cur := sl.current
	if cur == nil {
		return // given up: stays failed until the spec changes
	}
	for _, old := range sl.live[1:] {
		if reason := retire(r.svc, old, cur, r.nodes, r.now, r.pol.DownGrace); reason != "" {
			r.plan.stop(old, state.TaskShutdown, reason)
		}
	}
	if cur.NodeID != "" {
		reason, at := r.nodes.lost(cur.NodeID, r.now, r.pol.DownGrace)
		r.plan.wake(at)
		if reason != "" {
			r.plan.Create = append(r.plan.Create, r.move(k, cur, reason))
			r.plan.stop(cur, state.TaskShutdown, reason)
			return
		}
	}
	if cur.Status.State.Terminal() {
		r.restart(cur, sl, NewTask{Slot: k})
		return
	}
	if cur.NodeID != "" {
		if reason := r.nodes.ineligible(cur.NodeID, r.svc); reason != "" {
			r.plan.Create = append(r.plan.Create, r.move(k, cur, reason))
		}
	}
}

// move is the replacement of a task whose node it must leave: not a
// restart, so its attempt count stays.
func (r *run) move(k uint64, cur *state.Task, reason string) NewTask {
	return NewTask{Slot: k, Attempt: cur.Attempt, Replaces: cur.ID, Reason: fmt.Sprintf("replaces task %s: %s", cur.ID, reason)}
}

// scaleDown stops the slots beyond Replicas and returns those kept.
func (r *run) scaleDown(active []uint64, slots map[uint64]*slot) []uint64 {
	extra := len(active) - int(min(r.svc.Spec.Replicas, uint64(len(active))))
	if extra == 0 {
		return active
	}
	node := func(k uint64) string {
		switch sl := slots[k]; {
		case sl.current != nil:
			return sl.current.NodeID
		case sl.done != nil:
			return sl.done.NodeID
		}
		return slots[k].stopping.NodeID
	}
	perNode := map[string]int{}
	for _, k := range active {
		perNode[node(k)]++
	}
	removable := func(a, b uint64) int { // < 0: a goes first
		sa, sb := slots[a], slots[b]
		return cmp.Or(
			cmpBool(sa.current == nil, sb.current == nil),
			cmpBool(!isRunning(sa.current), !isRunning(sb.current)),
			cmp.Compare(perNode[node(b)], perNode[node(a)]),
			cmp.Compare(b, a))
	}
	reason := fmt.Sprintf("scaled down to %d replicas", r.svc.Spec.Replicas)
	kept := slices.Clone(active)
	for range extra {
		k := slices.MinFunc(kept, removable)
		kept = slices.DeleteFunc(kept, func(x uint64) bool { return x == k })
		perNode[node(k)]--
		sl := slots[k]
		r.plan.stopLive(sl, state.TaskRemove, reason)
		if sl.stopping != nil && sl.current == nil {
			r.plan.stop(sl.stopping, state.TaskRemove, reason)
		}
		if sl.done != nil {
			r.plan.stop(sl.done, state.TaskRemove, reason)
		}
	}
	return kept
}

func isRunning(t *state.Task) bool { return t != nil && t.Status.State == state.TaskRunning }

// scaleUp creates the missing slots, lowest free numbers first.
func (r *run) scaleUp(active []uint64) {
	taken := map[uint64]bool{}
	for _, k := range active {
		taken[k] = true
	}
	for k, missing := uint64(1), int(r.svc.Spec.Replicas)-len(active); missing > 0; k++ {
		if !taken[k] {
			r.plan.Create = append(r.plan.Create, NewTask{Slot: k, Reason: "created"})
			missing--
		}
	}
}
