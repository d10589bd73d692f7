package orchestrate

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// scope is what one pass looks at: every service (a full pass), or only
// those whose decisions may have changed since the passes before
// (partial). A service's decisions depend on its spec, its tasks, the
// nodes and the time: a commit to its spec or tasks names it, a node
// change makes the next pass full, and the time is covered by the wake
// times its last plans asked for. The services a partial pass leaves out
// would thus be decided as before: nothing to do.
type scope struct {
	full     bool
	ids      map[string]bool // partial: the services looked at, removed ones included
	external bool            // partial: the external services are looked at too
	touched  map[string]bool // the services this pass proposed writes for
	left     map[string]bool // the containers of the tasks this pass deletes
}

// has says whether the pass looks at service id.
func (sc *scope) has(id string) bool { return sc.full || sc.ids[id] }

// services returns the services looked at, ordered by name as
// tx.Services orders them: the writes go out in the same order.
func (sc *scope) services(tx state.ReadTx) []*state.Service {
	if sc.full {
		return tx.Services()
	}
	out := make([]*state.Service, 0, len(sc.ids))
	for id := range sc.ids {
		if svc := tx.Service(id); svc != nil {
			out = append(out, svc)
		}
	}
	slices.SortFunc(out, func(a, b *state.Service) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// tasks returns the tasks of the services looked at (removed ones
// included), ordered as tx.Tasks orders them.
func (sc *scope) tasks(tx state.ReadTx) []*state.Task {
	if sc.full {
		return tx.Tasks("")
	}
	var out []*state.Task
	for _, id := range slices.Sorted(maps.Keys(sc.ids)) {
		out = append(out, tx.Tasks(id)...)
	}
	return out
}

// externalChanged says whether the pass must look at the external
// services: the changes before it said so (external), or a task it
// deletes ran a labelled container, which may be hand-run without it.
func (sc *scope) externalChanged(labelled map[string]bool) bool {
	return sc.full || sc.external || anyIn(sc.left, labelled)
}

// touch records that the pass wrote for service id: the next pass looks
// at it again, as a full one would, even if the write changed nothing
// (no event names it then).
func (sc *scope) touch(id string) { sc.touched[id] = true }

// memory is what partial passes rely on from the passes before them,
// owned by the pass and reset when leadership begins.
type memory struct {
	nextTick   time.Time            // the pass loop's next periodic pass (wall clock; zero: no loop)
	incomplete bool                 // the last pass failed or was cut short
	graceEnd   time.Time            // the next end of a down node's grace period
	recWake    map[string]time.Time // service ID -> when its reconcile must run again
	updWake    map[string]time.Time // service ID -> when its update must be decided again
	updating   map[string]bool      // the services the updater had something to decide about
	unplaced   map[string]bool      // the services with pending tasks no node could take
	orphans    map[string]bool      // the removed services that still have tasks
}

func newMemory() memory {
	return memory{recWake: map[string]time.Time{}, updWake: map[string]time.Time{},
		updating: map[string]bool{}, unplaced: map[string]bool{}, orphans: map[string]bool{}}
}

// wake is the earliest wake time of every service, and of the external
// services (ext): a partial pass keeps those of the services it left out.
func (m *memory) wake(ext time.Time) time.Time {
	at := ext
	for _, w := range m.recWake {
		at = earliest(at, w)
	}
	for _, w := range m.updWake {
		at = earliest(at, w)
	}
	return at
}

// scope decides what the pass starting at start (wall clock) and now
// (the decisions' clock) looks at. A pass is full when the changes ask
// for one (a node, a restore, a lost watch, a task of unknown service),
// until this leadership's first pass with nothing to do, after a pass
// that failed, at the pass loop's periodic ticks (see periodic), and
// when a down node's grace period ended (its tasks' successors may be
// due in any service; not every plan asks to be woken for it).
func (o *Orchestrator) scope(start, now time.Time) *scope {
	ch := o.dirty.take()
	m := &o.mem
	sc := &scope{touched: map[string]bool{}, left: map[string]bool{}}
	due := func(at time.Time) bool { return !at.IsZero() && !now.Before(at) }
	if ch.full || !o.settled || m.incomplete || o.periodic(start) || due(m.graceEnd) {
		sc.full = true
		o.ticked(start)
		return sc
	}
	sc.external = ch.endpoints || ch.named || o.ext.acted || due(o.ext.wake) ||
		anyIn(ch.services, o.ext.ids) || anyIn(ch.containers, o.ext.containers) ||
		(ch.containersUnknown && len(o.ext.containers) > 0)
	sc.ids = ch.services
	for _, wakes := range []map[string]time.Time{m.recWake, m.updWake} {
		for id, at := range wakes {
			if due(at) {
				sc.ids[id] = true
			}
		}
	}
	if ch.endpoints { // whether tasks serve: what updates wait for
		for id := range m.updating {
			sc.ids[id] = true
		}
	}
	return sc
}

// anyIn says whether one of keys is in set.
func anyIn(keys, set map[string]bool) bool {
	for k := range keys {
		if set[k] {
			return true
		}
	}
	return false
}

// periodic says whether a pass at start is the periodic one. The pass
// loop runs a pass every Options.Period, on a ticker it starts right
// after its first watch (see watch, which notes when): those are full,
// as they were before passes could be partial, so that a change a
// partial pass missed waits no longer than it did. The loop does not
// say why it runs a pass, so any pass from a tenth of a period before
// the tick is taken for it; a full pass then stands for that tick's.
func (o *Orchestrator) periodic(start time.Time) bool {
	next := o.mem.nextTick
	return !next.IsZero() && !start.Before(next.Add(-o.opts.Period/10))
}

// ticked records a full pass at start: the periodic passes it stands for
// are done.
func (o *Orchestrator) ticked(start time.Time) {
	for o.periodic(start) {
		o.mem.nextTick = o.mem.nextTick.Add(o.opts.Period)
	}
}

// graceEnd is the next time, after now, a down node's grace period ends.
func graceEnd(nodes []*state.Node, now time.Time, grace time.Duration) time.Time {
	var at time.Time
	for _, n := range nodes {
		if end := n.StatusAt.Add(grace); n.Status == state.StatusDown && end.After(now) {
			at = earliest(at, end)
		}
	}
	return at
}
