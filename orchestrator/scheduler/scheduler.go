// Package scheduler places pending tasks on nodes: a pure function from
// the tasks to place, the services, the nodes and every task to one
// decision per task. No store, no clock, no I/O.
package scheduler

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// Decision is where a task goes (NodeID), or why it cannot be placed
// (Reason, shown by `xo service ps`).
type Decision struct {
	TaskID string
	NodeID string
	Reason string
}

// Pending returns the tasks that wait for a node: wanted running, not yet
// assigned (a global task has its node already; it is checked there).
func Pending(tasks []*state.Task) []*state.Task {
	var out []*state.Task
	for _, t := range tasks {
		if t.DesiredRunning() && t.Status.State.Less(state.TaskAssigned) {
			out = append(out, t)
		}
	}
	return out
}

// Schedule decides where each pending task goes, oldest first. tasks are
// all the cluster's tasks: those that hold a node count for its
// resources, ports and spread. Tasks of unknown or external services get
// no decision.
//
// A node qualifies when it matches the service's constraints, is ready
// and active, has room for the reservations (a zero capacity is not
// checked) and does not already publish one of the service's host-mode
// ports. Among those: the group of each placement preference with the
// fewest tasks of the service, then the node with the fewest tasks of the
// service, then the fewest tasks, then the lowest ID.
func Schedule(pending []*state.Task, svcs map[string]*state.Service, nodes []*state.Node, tasks []*state.Task) []Decision {
	c := newCluster(svcs, nodes, tasks)
	order := slices.Clone(pending)
	slices.SortFunc(order, func(a, b *state.Task) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ServiceID, b.ServiceID),
			cmp.Compare(a.Slot, b.Slot), strings.Compare(a.ID, b.ID))
	})
	var out []Decision
	for _, t := range order {
		svc := svcs[t.ServiceID]
		if svc == nil || svc.External || !t.DesiredRunning() {
			continue
		}
		cands, why := c.candidates(t, svc)
		if len(cands) == 0 {
			out = append(out, Decision{TaskID: t.ID, Reason: "no suitable node: " + why})
			continue
		}
		n := slices.MinFunc(cands, c.preferred(svc))
		c.add(svc.ID, n.ID)
		out = append(out, Decision{TaskID: t.ID, NodeID: n.ID})
	}
	return out
}

// preferred orders candidate nodes for a task of svc, best first.
func (c *cluster) preferred(svc *state.Service) func(a, b *state.Node) int {
	spread := c.spread(svc)
	return func(a, b *state.Node) int {
		la, lb := c.load[a.ID], c.load[b.ID]
		return cmp.Or(
			slices.Compare(spread[a.ID], spread[b.ID]),
			cmp.Compare(la.perSvc[svc.ID], lb.perSvc[svc.ID]),
			cmp.Compare(la.total, lb.total),
			strings.Compare(a.ID, b.ID))
	}
}

// Updates turns decisions into UpdateTasks entries: assigned to its node,
// or pending with the reason. A reason the task already shows is left
// out, so a task that cannot be placed costs no write per pass.
func Updates(ds []Decision, pending []*state.Task, now time.Time) []state.TaskUpdate {
	byID := map[string]*state.Task{}
	for _, t := range pending {
		byID[t.ID] = t
	}
	var out []state.TaskUpdate
	for _, d := range ds {
		t := byID[d.TaskID]
		if d.NodeID != "" {
			out = append(out, state.TaskUpdate{ID: d.TaskID, NodeID: d.NodeID,
				Status: &state.TaskStatus{State: state.TaskAssigned, Timestamp: now}})
			continue
		}
		if t != nil && t.Status.State == state.TaskPending && t.Status.Err == d.Reason {
			continue
		}
		st := &state.TaskStatus{State: state.TaskPending, Err: d.Reason, Timestamp: now}
		if t != nil {
			st.Message = t.Status.Message
		}
		out = append(out, state.TaskUpdate{ID: d.TaskID, Status: st})
	}
	return out
}
