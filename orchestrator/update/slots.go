package update

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// slot is the tasks of one replicated slot, or of one node of a global
// service.
type slot struct {
	key      string        // the slot number, or the node ID
	num      uint64        // replicated: the slot number
	node     string        // global: the node
	up, out  []*state.Task // live tasks (desired running): up to date, outdated
	stopping []*state.Task // outdated, wanted stopped, still stopping on a node that is not lost
	cur      *state.Task   // the live task no other live task replaces (running first, then newest)
	newest   *state.Task   // the most recent task, live or not
	away     bool          // global: its node is down or gone; left until it returns
	// refill is the slot's newest task when the update stopped it and the
	// reconciler is to make its successor: outdated, shut down, and the
	// slot still wanted (within the replicas; a global one's node eligible).
	refill *state.Task
}

// group sorts the service's tasks into slots, in slot (or node) order.
func group(in Input) []*slot {
	svc := in.Service
	nodes := map[string]*state.Node{}
	for _, n := range in.Nodes {
		nodes[n.ID] = n
	}
	byKey := map[string]*slot{}
	for _, t := range in.Tasks {
		if t.ServiceID != svc.ID || (svc.Global() && t.NodeID == "") || (!svc.Global() && t.Slot == 0) {
			continue
		}
		key := t.NodeID
		if !svc.Global() {
			key = strconv.FormatUint(t.Slot, 10)
		}
		sl := byKey[key]
		if sl == nil {
			sl = &slot{key: key, num: t.Slot}
			if svc.Global() {
				sl.node, sl.away = t.NodeID, lost(nodes, t.NodeID)
			}
			byKey[key] = sl
		}
		if sl.newest == nil || t.CreatedAt.After(sl.newest.CreatedAt) {
			sl.newest = t
		}
		switch {
		case t.DesiredRunning() && svc.Outdated(t):
			sl.out = append(sl.out, t)
		case t.DesiredRunning():
			sl.up = append(sl.up, t)
		case t.DesiredState == state.TaskShutdown && svc.Outdated(t) && !t.Status.State.Terminal() && !lost(nodes, t.NodeID):
			sl.stopping = append(sl.stopping, t)
		}
	}
	out := make([]*slot, 0, len(byKey))
	for _, sl := range byKey {
		sl.cur = current(append(slices.Clone(sl.up), sl.out...))
		sl.refill = refill(in, sl, nodes)
		out = append(out, sl)
	}
	slices.SortFunc(out, func(a, b *slot) int { return cmp.Or(cmp.Compare(a.num, b.num), cmp.Compare(a.key, b.key)) })
	return out
}

// refill is the slot's newest task if the reconciler will make a new
// task in its place: it is outdated and was shut down (not removed), and
// the slot is still wanted.
func refill(in Input, sl *slot, nodes map[string]*state.Node) *state.Task {
	svc, newest := in.Service, sl.newest
	switch {
	case newest == nil || newest.DesiredState != state.TaskShutdown || !svc.Outdated(newest):
		return nil
	case !svc.Global() && sl.num <= svc.Spec.Replicas:
		return newest
	}
	n := nodes[sl.node]
	if svc.Global() && n != nil && n.Status != state.StatusDown && n.Availability != state.AvailabilityDrain &&
		state.MatchesAll(n, svc.Spec.Constraints) {
		return newest
	}
	return nil
}

// lost says whether tasks on node id will never report again: the node
// left, or is down.
func lost(nodes map[string]*state.Node, id string) bool {
	n := nodes[id]
	return id == "" || n == nil || n.Status == state.StatusDown
}

// current is the live task that no other live task replaces; among
// several, a running one, then the newest.
func current(live []*state.Task) *state.Task {
	replaced := map[string]bool{}
	for _, t := range live {
		replaced[t.Replaces] = true
	}
	var best *state.Task
	for _, t := range live {
		if replaced[t.ID] {
			continue
		}
		if best == nil || cmp.Or(
			cmpBool(t.Status.State == state.TaskRunning, best.Status.State == state.TaskRunning),
			best.CreatedAt.Compare(t.CreatedAt), cmp.Compare(best.ID, t.ID)) < 0 {
			best = t
		}
	}
	return best
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

// phase is where a slot is in the update.
type phase int

const (
	phaseClean    phase = iota // nothing outdated left, no new task of this update at work
	phaseDirty                 // outdated, not started yet
	phaseBusy                  // being replaced: counts against the parallelism
	phaseCooling               // replaced; its worker waits --update-delay
	phaseFailed                // its new task failed and restarts: the worker moved on
	phaseStranded              // outdated beside a failing new task: not busy, not done
)

// phase says where the slot is, given the update that started at since
// and its delay; until is when a cooling slot's delay ends.
func (sl *slot) phase(in Input, since time.Time, delay time.Duration) (ph phase, until time.Time) {
	switch {
	case sl.away:
		return phaseClean, time.Time{} // updated when its node returns
	case len(sl.out) > 0 && len(sl.up) == 0:
		if sl.draining() {
			return phaseBusy, time.Time{} // stop-first, drain under way
		}
		return phaseDirty, time.Time{}
	case len(sl.out) > 0:
		if cur := sl.curUp(); cur != nil && failing(cur) && !in.Serving[cur.ID] {
			return phaseStranded, time.Time{}
		}
		return phaseBusy, time.Time{}
	case len(sl.stopping) > 0 && len(sl.up) == 0:
		return phaseBusy, time.Time{} // stop-first, waiting for the old task to stop
	case len(sl.up) == 0 && sl.refill != nil && !sl.refill.Status.Timestamp.Before(since):
		return phaseBusy, time.Time{} // stop-first: stopped, its new task not made yet
	case len(sl.up) == 0:
		return phaseClean, time.Time{}
	}
	cur := sl.curUp()
	if cur == nil || cur.CreatedAt.Before(since) {
		return phaseClean, time.Time{}
	}
	switch seen, ok := in.Seen[cur.ID]; {
	case in.Serving[cur.ID] && ok && in.Now.Before(seen.Add(delay)):
		return phaseCooling, seen.Add(delay)
	case in.Serving[cur.ID]:
		return phaseClean, time.Time{}
	case failing(cur):
		return phaseFailed, time.Time{}
	}
	return phaseBusy, time.Time{}
}

// failing says whether a slot's new task failed (it is a restart of
// one that did, or it ended): its worker moves on.
func failing(t *state.Task) bool { return t.Attempt > 0 || t.Status.State.Terminal() }

// curUp is the slot's current up-to-date task, nil when it has none.
func (sl *slot) curUp() *state.Task { return current(sl.up) }

// serving says whether one of the slot's up-to-date tasks serves.
func (sl *slot) serving(in Input) bool {
	return slices.ContainsFunc(sl.up, func(t *state.Task) bool { return in.Serving[t.ID] })
}

// draining says whether one of the slot's outdated live tasks is drained.
func (sl *slot) draining() bool {
	return slices.ContainsFunc(sl.out, func(t *state.Task) bool { return t.Draining })
}

// unplaceable says whether the slot's new task waits for a node that it
// cannot get (its old one holds the resources, say).
func (sl *slot) unplaceable() bool {
	cur := sl.curUp()
	return cur != nil && cur.Status.State == state.TaskPending && cur.Status.Err != ""
}
