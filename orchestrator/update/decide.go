package update

import (
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/reconcile"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// Decide is one decision about the service of in.
//
//   - Slots already started are finished whatever the status: the
//     outdated tasks of a slot whose new task serves (start-first), or
//     that were drained (stop-first), are retired; so is an outdated task
//     whose replacement cannot be placed (it holds the room).
//   - Drained tasks that are up to date again return to service.
//   - Outdated slots while no update is at work (a service from before
//     update statuses) start one.
//   - While an update (or rollback) is at work: failures past the ratio
//     run the failure action; otherwise new slots start, up to the
//     parallelism, counting the slots at work and those whose delay runs;
//     with none left, the update completes once the monitor window of its
//     last new task has passed. A global service's task on a node that is
//     down waits for the node: it is updated when the node returns.
func Decide(in Input) Plan {
	svc := in.Service
	p := Plan{ServiceID: svc.ID}
	if svc.External {
		return p
	}
	slots := group(in)
	st := svc.UpdateStatus
	kind := "update"
	if st != nil && st.State.Rollback() {
		kind = "rollback"
	}
	cfg := policy(svc, st)
	var since time.Time
	if st != nil {
		since = st.StartedAt
	}
	var dirty []*slot
	busy, cooling, stranded := 0, 0, 0
	for _, sl := range slots {
		for _, t := range sl.up {
			if t.Draining {
				p.Undrain = append(p.Undrain, t.ID)
			}
		}
		if len(sl.out) > 0 && (sl.serving(in) || sl.unplaceable() || sl.draining()) {
			p.retire(sl, kind)
		}
		switch ph, until := sl.phase(in, since, cfg.Delay); ph {
		case phaseDirty:
			dirty = append(dirty, sl)
		case phaseBusy:
			busy++
		case phaseCooling:
			cooling++
			p.wake(until)
		case phaseStranded:
			stranded++
		}
	}
	if len(dirty) > 0 && (st == nil || st.State == state.UpdateCompleted || st.State == state.UpdateRollbackCompleted) {
		next := state.UpdateStatus{State: state.UpdateUpdating, StartedAt: in.Now, Message: "update in progress"}
		if st != nil && st.State == state.UpdateRollbackCompleted {
			next = state.UpdateStatus{State: state.UpdateRollbackStarted, StartedAt: in.Now, Message: "rollback requested"}
		}
		st, p.Status = &next, &next
	}
	if st == nil || !st.State.Active() {
		return p
	}
	if f := countFailures(in, st.StartedAt, cfg, slots); f.exceeded(cfg) {
		switch {
		case cfg.FailureAction == state.FailureContinue:
		case cfg.FailureAction == state.FailureRollback && kind == "update":
			p.Rollback = f.describe(in.Service, cfg, "update to version "+itoa(svc.SpecVersion)+" failed: ")
			return p
		default:
			paused := state.UpdatePaused
			if kind == "rollback" {
				paused = state.UpdateRollbackPaused
			}
			p.Status = &state.UpdateStatus{State: paused, StartedAt: st.StartedAt,
				Message: f.describe(in.Service, cfg, kind+" paused: ")}
			return p
		}
	}
	free := len(dirty)
	if cfg.Parallelism > 0 {
		free = max(0, int(cfg.Parallelism)-busy-cooling)
	}
	for _, sl := range dirty[:min(free, len(dirty))] {
		p.start(sl, cfg.Order, kind)
	}
	if len(dirty) > 0 || busy > 0 || stranded > 0 {
		return p
	}
	if end := lastSeen(in, st.StartedAt).Add(cfg.Monitor); in.Now.Before(end) {
		p.wake(end)
		return p
	}
	done := state.UpdateStatus{State: state.UpdateCompleted, StartedAt: st.StartedAt, CompletedAt: in.Now,
		Message: "update completed"}
	if kind == "rollback" {
		done.State, done.Message = state.UpdateRollbackCompleted, "rolled back: "+st.Message
	}
	p.Status = &done
	return p
}

// policy is the update policy at work: the spec's update policy, or,
// for a rollback, the rollback policy of the spec it rolls back from
// (the previous one now), whose failure action cannot be rollback.
func policy(svc *state.Service, st *state.UpdateStatus) state.UpdateConfig {
	if st == nil || !st.State.Rollback() {
		return svc.Spec.UpdatePolicy()
	}
	from := svc.Spec
	if svc.PreviousSpec != nil {
		from = *svc.PreviousSpec
	}
	c := from.RollbackPolicy()
	if c.FailureAction == state.FailureRollback {
		c.FailureAction = state.FailurePause
	}
	return c
}

// start replaces a dirty slot: start-first makes its new task (the old
// one is retired once it serves), stop-first retires the old one (the
// reconciler makes the new one once it stopped).
func (p *Plan) start(sl *slot, order, kind string) {
	if order == state.OrderStartFirst && sl.cur != nil {
		p.Create = append(p.Create, reconcile.NewTask{Slot: sl.num, NodeID: sl.node, Replaces: sl.cur.ID,
			Reason: kind + ": replaces task " + sl.cur.ID})
		return
	}
	p.retire(sl, kind)
}

// retire drains and then stops the slot's outdated live tasks.
func (p *Plan) retire(sl *slot, kind string) {
	reason := kind + ": stopped, a task of the new spec takes its place"
	if cur := sl.curUp(); cur != nil {
		reason = kind + ": replaced by task " + cur.ID
	}
	for _, t := range sl.out {
		p.Retire = append(p.Retire, Retire{Task: t, Reason: reason})
	}
}

// lastSeen is when the last task of the update that started at since
// began serving (zero: none did).
func lastSeen(in Input, since time.Time) time.Time {
	var last time.Time
	for _, t := range in.Tasks {
		if seen, ok := in.Seen[t.ID]; ok && t.ServiceID == in.Service.ID && !t.CreatedAt.Before(since) &&
			!in.Service.Outdated(t) && seen.After(last) {
			last = seen
		}
	}
	return last
}
