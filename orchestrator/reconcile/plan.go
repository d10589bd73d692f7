// Package reconcile decides, for one service, what the orchestrator must
// change so that the observed tasks converge on the desired ones: which
// tasks to create, which to stop, and when to look again. It is pure:
// no store, no clock (now is a parameter), no I/O.
//
// The model is Swarm's. A replicated service has slots 1..replicas, a
// global service one "slot" per eligible node. A slot's live tasks are
// those whose desired state is running (or before); the newest of them
// (the one no other live task replaces) is its current task, the others
// await their stop. A replacement is started before the task it
// replaces is stopped, except when that task's node is lost.
package reconcile

import (
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// Policy holds the orchestrator's tunables (a service's own rules are in
// its spec).
type Policy struct {
	// DownGrace is how long the tasks of a node marked down stay assigned
	// to it before they are replaced elsewhere (the node's own down-after
	// has already passed when it is marked down). Zero: at once.
	DownGrace time.Duration
}

// NewTask is a task to create.
type NewTask struct {
	Slot     uint64 // replicated
	NodeID   string // global
	Attempt  uint64 // restarts of the slot before it
	Replaces string // the task it takes over from, "" for a new slot
	Reason   string // why, for its status message
}

// Stop is a desired-state change of a task that must not run any more.
type Stop struct {
	TaskID  string
	Desired state.TaskState // shutdown (replaced), remove (scaled down, node gone), complete (given up)
	Reason  string
}

// Plan is what one reconcile of a service decided.
type Plan struct {
	ServiceID string
	Create    []NewTask // new slots and nodes, moves off lost or ineligible nodes
	Restart   []NewTask // replacements of tasks that stopped by themselves
	Stop      []Stop
	// Wake is when the service must be reconciled again even if nothing
	// changes (a restart delay or a node's grace period ends); zero: never.
	Wake time.Time
}

// Empty says whether the plan changes nothing.
func (p Plan) Empty() bool { return len(p.Create)+len(p.Restart)+len(p.Stop) == 0 }

// Tasks returns the plan's new tasks for CreateTasks, with IDs from
// newID. Propose them before Updates: the FSM accepts a replacement only
// while the task it replaces is live.
func (p Plan) Tasks(newID func() string, now time.Time) []state.Task {
	var out []state.Task
	for _, lists := range [][]NewTask{p.Create, p.Restart} {
		for _, n := range lists {
			out = append(out, state.Task{
				ID: newID(), ServiceID: p.ServiceID, Slot: n.Slot, NodeID: n.NodeID,
				DesiredState: state.TaskRunning, CreatedAt: now, Attempt: n.Attempt, Replaces: n.Replaces,
				Status: state.TaskStatus{State: state.TaskPending, Message: n.Reason, Timestamp: now},
			})
		}
	}
	return out
}

// Updates returns the plan's stops for UpdateTasks.
func (p Plan) Updates() []state.TaskUpdate {
	out := make([]state.TaskUpdate, 0, len(p.Stop))
	for _, s := range p.Stop {
		out = append(out, state.TaskUpdate{ID: s.TaskID, DesiredState: s.Desired, Message: s.Reason})
	}
	return out
}

func (p *Plan) stop(t *state.Task, desired state.TaskState, reason string) {
	p.Stop = append(p.Stop, Stop{TaskID: t.ID, Desired: desired, Reason: reason})
}

func (p *Plan) wake(at time.Time) {
	if !at.IsZero() && (p.Wake.IsZero() || at.Before(p.Wake)) {
		p.Wake = at
	}
}
