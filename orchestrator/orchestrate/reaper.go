package orchestrate

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/xoverlay/xoverlay/orchestrator/reconcile"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// reap deletes the tasks of sc nobody needs any more (see reapable): a
// service's are decided from its own tasks alone, so a partial pass
// reaps those of its services (removed ones included) as a full one
// would.
func (o *Orchestrator) reap(ctx context.Context, sc *scope) error {
	var groups []group[string]
	names := map[string]string{}
	o.cluster.View(func(tx state.ReadTx) {
		svcs := map[string]*state.Service{}
		for _, svc := range sc.services(tx) {
			svcs[svc.ID] = svc
			names[svc.ID] = svc.Name
		}
		nodes := map[string]bool{}
		for _, n := range tx.Nodes() {
			nodes[n.ID] = true
		}
		groups = reapable(sc.tasks(tx), svcs, nodes)
		for _, g := range groups {
			containers := make(map[string]string, len(g.items))
			for _, id := range g.items {
				c := tx.Task(id).Status.ContainerID
				containers[id] = c
				if c != "" {
					sc.left[c] = true
				}
			}
			// Their delete events will name no task the store still has.
			o.dirty.own(g.key, containers)
			sc.touch(g.key)
		}
	})
	if len(groups) == 0 {
		return nil
	}
	deleted, failed := proposeGroups(ctx, o.cluster, groups, func(ids []string) state.Command {
		return state.DeleteTasks{IDs: ids}
	})
	if deleted > 0 {
		o.log.Debug("tasks reaped", "deleted", deleted)
	}
	return failures("reap", names, failed)
}

// slotKey names a replicated slot, or a global service's node.
type slotKey struct {
	service string
	slot    uint64
	node    string // global only
}

// reapable returns the tasks to delete, by service, in service order. A
// task is considered only once it no longer needs its executor: wanted
// stopped (desired state past running) and finished (terminal), never
// assigned, or on a node that left the cluster. Of those:
//
//   - a task whose service is gone, or whose desired state is remove, is
//     deleted;
//   - a task on a node that left is deleted, and so is a global task's
//     whole history there (that node's slot is gone);
//   - the rest is its slot's stopped history: the newest
//     reconcile.HistoryLimit are kept, the older ones deleted.
//
// A slot's newest desired-complete task is always kept (but for a global
// one on a node that left): it is what keeps a slot that gave up under
// its restart policy from starting again.
func reapable(tasks []*state.Task, svcs map[string]*state.Service, nodes map[string]bool) []group[string] {
	out := map[string][]string{} // service ID -> task IDs
	history := map[slotKey][]*state.Task{}
	for _, t := range tasks {
		gone := t.NodeID != "" && !nodes[t.NodeID]
		if t.DesiredRunning() || !(gone || t.Status.State.Terminal() || t.Status.State.Less(state.TaskAssigned)) {
			continue
		}
		svc := svcs[t.ServiceID]
		switch {
		case svc == nil || t.DesiredState == state.TaskRemove || (svc.Global() && gone):
			out[t.ServiceID] = append(out[t.ServiceID], t.ID)
		default:
			k := slotKey{service: t.ServiceID, slot: t.Slot}
			if svc.Global() {
				k.node = t.NodeID
			}
			history[k] = append(history[k], t)
		}
	}
	for k, ts := range history {
		svc := svcs[k.service]
		slices.SortFunc(ts, func(a, b *state.Task) int { // newest first
			return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(b.ID, a.ID))
		})
		var marker *state.Task
		if i := slices.IndexFunc(ts, func(t *state.Task) bool { return t.DesiredState == state.TaskComplete }); i >= 0 {
			marker = ts[i]
		}
		limit := reconcile.HistoryLimit(svc)
		for i, t := range ts {
			gone := t.NodeID != "" && !nodes[t.NodeID]
			if t != marker && (i >= limit || gone) {
				out[k.service] = append(out[k.service], t.ID)
			}
		}
	}
	groups := make([]group[string], 0, len(out))
	for _, svc := range slices.Sorted(maps.Keys(out)) {
		ids := out[svc]
		slices.Sort(ids)
		groups = append(groups, group[string]{key: svc, items: ids})
	}
	return groups
}
