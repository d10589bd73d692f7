package reconcile

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// slot is the tasks of one replicated slot, or of one node of a global
// service.
type slot struct {
	tasks   []*state.Task // every task, history included
	live    []*state.Task // desired running, current first
	current *state.Task   // nil without live tasks
	done    *state.Task   // given up under the current spec: the slot stays failed
	// stopping is the newest task shut down on its node and not stopped
	// yet: a slot without live tasks waits for it (a stop-first update).
	stopping *state.Task
}

// group sorts a service's tasks into slots by key, in key order.
func group[K cmp.Ordered](svc *state.Service, tasks []*state.Task, key func(*state.Task) (K, bool)) ([]K, map[K]*slot) {
	slots := map[K]*slot{}
	for _, t := range tasks {
		k, ok := key(t)
		if t.ServiceID != svc.ID || !ok {
			continue
		}
		sl := slots[k]
		if sl == nil {
			sl = &slot{}
			slots[k] = sl
		}
		sl.tasks = append(sl.tasks, t)
	}
	for _, sl := range slots {
		sl.sort(svc)
	}
	return slices.Sorted(maps.Keys(slots)), slots
}

// sort finds the slot's live tasks and its current one: the live task no
// other live task replaces; among several (a stray from a lost node, or a
// write of a dead leader), a running one, then the newest. An up-to-date
// task comes before outdated ones: after a rollback, the task of the
// spec rolled back to stays, its outdated replacement goes.
func (sl *slot) sort(svc *state.Service) {
	replaced := map[string]bool{}
	for _, t := range sl.tasks {
		if t.DesiredRunning() {
			sl.live = append(sl.live, t)
			replaced[t.Replaces] = true
		} else if t.DesiredState == state.TaskComplete && !svc.Outdated(t) {
			sl.done = t
		} else if t.DesiredState == state.TaskShutdown && t.NodeID != "" && !t.Status.State.Terminal() &&
			(sl.stopping == nil || t.CreatedAt.After(sl.stopping.CreatedAt)) {
			sl.stopping = t
		}
	}
	slices.SortFunc(sl.live, func(a, b *state.Task) int {
		return cmp.Or(
			cmpBool(!svc.Outdated(a), !svc.Outdated(b)),
			cmpBool(!replaced[a.ID], !replaced[b.ID]),
			cmpBool(a.Status.State == state.TaskRunning, b.Status.State == state.TaskRunning),
			b.CreatedAt.Compare(a.CreatedAt),
			cmp.Compare(b.ID, a.ID))
	})
	if len(sl.live) > 0 {
		sl.current = sl.live[0]
		sl.done = nil
	}
}

// cmpBool orders true first.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	}
	return 1
}

// nodes answers what the reconcilers ask of nodes.
type nodes map[string]*state.Node

func nodeMap(ns []*state.Node) nodes {
	m := nodes{}
	for _, n := range ns {
		m[n.ID] = n
	}
	return m
}

func (ns nodes) name(id string) string {
	if n := ns[id]; n != nil && n.Hostname != "" {
		return n.Hostname
	}
	return id
}

// lost says why tasks on node id cannot run and must be replaced now
// ("" if they can), and when they will have to be (a down node within
// its grace period).
func (ns nodes) lost(id string, now time.Time, grace time.Duration) (reason string, at time.Time) {
	n := ns[id]
	switch {
	case n == nil:
		return fmt.Sprintf("node %s left the cluster", id), time.Time{}
	case n.Status != state.StatusDown:
		return "", time.Time{}
	case now.Before(n.StatusAt.Add(grace)):
		return "", n.StatusAt.Add(grace)
	}
	return fmt.Sprintf("node %s is down", ns.name(id)), time.Time{}
}

// ineligible says why the service's tasks must move off node id (drained,
// or its labels no longer match a constraint), or "".
func (ns nodes) ineligible(id string, svc *state.Service) string {
	n := ns[id]
	if n == nil {
		return ""
	}
	if n.Availability == state.AvailabilityDrain {
		return fmt.Sprintf("node %s is drained", ns.name(id))
	}
	for _, c := range svc.Spec.Constraints {
		if !state.MatchesAll(n, []string{c}) {
			return fmt.Sprintf("node %s does not match --constraint %s", ns.name(id), c)
		}
	}
	return ""
}

// retire says why a live task that is not its slot's current one must
// stop now, or "" while it should keep running until its replacement
// runs. An outdated task replaced by an up-to-date one is a rolling
// update's: the updater stops it, after draining it, once its
// replacement serves; only the loss of its node stops it here.
func retire(svc *state.Service, old, cur *state.Task, ns nodes, now time.Time, grace time.Duration) string {
	if svc.Outdated(old) && !svc.Outdated(cur) && !old.Status.State.Terminal() {
		if old.NodeID == "" {
			return ""
		}
		reason, _ := ns.lost(old.NodeID, now, grace)
		return reason
	}
	switch {
	case cur.Status.State == state.TaskRunning:
		return "replaced by task " + cur.ID
	case cur.Status.State.Terminal():
		return fmt.Sprintf("replaced by task %s, which stopped too", cur.ID)
	case cur.Status.State == state.TaskPending && cur.Status.Err != "":
		return fmt.Sprintf("stopped to make room for task %s, which cannot be placed", cur.ID)
	}
	if old.NodeID != "" {
		if reason, _ := ns.lost(old.NodeID, now, grace); reason != "" {
			return reason
		}
	}
	return ""
}

// waitsForStop says whether a slot without live tasks waits for its
// stopping task to stop before a new task takes its place (not on a node
// that is lost: then at once).
func (r *run) waitsForStop(sl *slot, grace time.Duration) bool {
	if sl == nil || sl.current != nil || sl.done != nil || sl.stopping == nil {
		return false
	}
	reason, at := r.nodes.lost(sl.stopping.NodeID, r.now, grace)
	r.plan.wake(at)
	return reason == ""
}

// stopLive stops every live task of a slot.
func (p *Plan) stopLive(sl *slot, desired state.TaskState, reason string) {
	for _, t := range sl.live {
		p.stop(t, desired, reason)
	}
}
