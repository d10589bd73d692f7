// Package update is the rolling updater. For one service whose tasks run
// another spec than it asks for (after xo service update, a rollback, or
// --force), it decides the next step: which slots to replace now (at
// most --update-parallelism at once, each slot's worker waiting
// --update-delay after its new task serves), how (stop-first: the old
// task is drained and stopped, and the reconciler starts the new one once
// it stopped; start-first: the new task starts beside the old one, which
// is drained and stopped once the new one serves), which new tasks
// failed (failed to start, or stopped within --update-monitor of serving),
// what a failure past --update-max-failure-ratio does (pause, continue,
// or roll back with the rollback policy), and when the update is
// complete (every slot replaced, and the last new task watched for the
// monitor window).
//
// It is pure: no store, no clock (now is an input), no I/O. The leader's
// loop (orchestrator/orchestrate) writes its plans, and drains the tasks
// it retires before stopping them. The reconcilers leave the outdated
// tasks that have an up-to-date replacement to it.
package update

import (
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/reconcile"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// Input is what one decision about one service reads.
type Input struct {
	Service *state.Service
	Tasks   []*state.Task // the service's tasks, history included; others are ignored
	Nodes   []*state.Node
	// Serving holds the tasks in service now: running, healthy when they
	// have a healthcheck, and on their networks.
	Serving map[string]bool
	// Seen is when each task was first seen serving (kept after it stops).
	Seen map[string]time.Time
	Now  time.Time
}

// Retire is an outdated task to take out of service, then stop.
type Retire struct {
	Task   *state.Task
	Reason string // for its status message
}

// Plan is one decision.
type Plan struct {
	ServiceID string
	// Create holds the new tasks of start-first slots, each replacing its
	// slot's outdated task.
	Create []reconcile.NewTask
	// Retire holds the outdated tasks to drain and then stop, in slot order.
	Retire []Retire
	// Undrain holds drained tasks that are up to date again (a newer
	// update or a rollback came back to their spec): they return to service.
	Undrain []string
	// Status is the update status to record; nil keeps it.
	Status *state.UpdateStatus
	// Rollback, when not "", asks for a rollback to the previous spec
	// for this reason (--update-failure-action rollback).
	Rollback string
	// Wake is when to decide again although nothing changes (a delay or
	// a monitor window ends); zero: never.
	Wake time.Time
}

// Empty says whether the plan changes nothing.
func (p Plan) Empty() bool {
	return len(p.Create)+len(p.Retire)+len(p.Undrain) == 0 && p.Status == nil && p.Rollback == ""
}

// NewTasks returns the plan's new tasks for CreateTasks, with IDs from
// newID. Propose them before anything else of the plan.
func (p Plan) NewTasks(newID func() string, now time.Time) []state.Task {
	return reconcile.Plan{ServiceID: p.ServiceID, Create: p.Create}.Tasks(newID, now)
}

func (p *Plan) wake(at time.Time) {
	if !at.IsZero() && (p.Wake.IsZero() || at.Before(p.Wake)) {
		p.Wake = at
	}
}
