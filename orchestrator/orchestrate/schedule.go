package orchestrate

import (
	"context"
	"maps"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/scheduler"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// schedule places the pending tasks, or records why they cannot be.
//
// A partial pass places the pending tasks of its services, unless tasks
// of others wait for a node: the last decisions left them pending, but
// the changes may have made room for them (a task stopped, a service
// scaled down), and the tasks are placed oldest first, whoever's. Every
// task of the cluster counts for the nodes' loads in any case: a partial
// pass reads them service by service (see clusterTasks), which spares
// the sort of them all that tx.Tasks("") makes.
func (o *Orchestrator) schedule(ctx context.Context, now time.Time, sc *scope) error {
	var ups []state.TaskUpdate
	unplaced, placed := 0, 0
	service := map[string]string{} // task -> service ID
	names := map[string]string{}   // service ID -> name
	m := &o.mem
	whole := sc.full
	for id := range m.unplaced {
		whole = whole || !sc.has(id)
	}
	waiting := map[string]bool{} // services with tasks no node can take
	o.cluster.View(func(tx state.ReadTx) {
		var all, pending []*state.Task
		var svcs []*state.Service
		if sc.full {
			all = tx.Tasks("")
			m.orphans = orphans(tx, all)
			pending = scheduler.Pending(all)
		} else {
			m.noteOrphans(tx, sc.ids)
			if whole {
				svcs = tx.Services()
				all = m.clusterTasks(tx, svcs)
				pending = scheduler.Pending(all)
			} else if pending = scheduler.Pending(sc.tasks(tx)); len(pending) > 0 {
				svcs = tx.Services()
				all = m.clusterTasks(tx, svcs)
			}
		}
		if len(pending) == 0 {
			return
		}
		if svcs == nil {
			svcs = tx.Services()
		}
		byID := make(map[string]*state.Service, len(svcs))
		for _, svc := range svcs {
			byID[svc.ID] = svc
			names[svc.ID] = svc.Name
		}
		for _, t := range pending {
			service[t.ID] = t.ServiceID
		}
		ds := scheduler.Schedule(pending, byID, tx.Nodes(), all)
		for _, d := range ds {
			if d.NodeID == "" {
				unplaced++
				waiting[service[d.TaskID]] = true
			} else {
				placed++
			}
		}
		ups = scheduler.Updates(ds, pending, now)
	})
	if whole {
		clear(m.unplaced)
	}
	for id := range sc.ids {
		delete(m.unplaced, id)
	}
	maps.Copy(m.unplaced, waiting)
	o.m.unschedulable.Set(float64(unplaced))
	o.work += placed // a task that cannot be placed is no work left to do
	if len(ups) == 0 {
		return nil
	}
	byService := map[string]int{} // service ID -> index in groups
	var groups []group[state.TaskUpdate]
	for _, u := range ups {
		svc := service[u.ID]
		i, ok := byService[svc]
		if !ok {
			i = len(groups)
			byService[svc] = i
			groups = append(groups, group[state.TaskUpdate]{key: svc})
			sc.touch(svc)
		}
		groups[i].items = append(groups[i].items, u)
	}
	_, failed := proposeGroups(ctx, o.cluster, groups, func(us []state.TaskUpdate) state.Command {
		return state.UpdateTasks{Updates: us}
	})
	type stuck struct{ service, reason string }
	var order []stuck
	count := map[stuck]int{} // a new reason, logged once per service
	for _, u := range ups {
		if _, bad := failed[service[u.ID]]; bad {
			continue
		}
		if u.NodeID != "" {
			o.log.Debug("task assigned", "task", u.ID, "service", names[service[u.ID]], "node", u.NodeID)
			continue
		}
		k := stuck{names[service[u.ID]], u.Status.Err}
		if count[k] == 0 {
			order = append(order, k)
		}
		count[k]++
	}
	for _, k := range order {
		o.log.Info("tasks cannot be placed", "service", k.service, "tasks", count[k], "reason", k.reason)
	}
	return failures("schedule", names, failed)
}

// clusterTasks returns every task of the cluster, service by service:
// those of svcs (every service) and those of the removed services that
// still have some (m.orphans, see noteOrphans).
func (m *memory) clusterTasks(tx state.ReadTx, svcs []*state.Service) []*state.Task {
	var out []*state.Task
	for _, svc := range svcs {
		out = append(out, tx.Tasks(svc.ID)...)
	}
	for id := range m.orphans {
		ts := tx.Tasks(id)
		if len(ts) == 0 || tx.Service(id) != nil { // reaped; or the ID is a service's again, read above
			delete(m.orphans, id)
			continue
		}
		out = append(out, ts...)
	}
	return out
}

// noteOrphans records which of the services ids are removed but still
// have tasks. A service is removed by a commit that names it, and no
// task is added to a service that does not exist: the services a
// partial pass looks at are the only ones that may have become so.
func (m *memory) noteOrphans(tx state.ReadTx, ids map[string]bool) {
	for id := range ids {
		if tx.Service(id) == nil && len(tx.Tasks(id)) > 0 {
			m.orphans[id] = true
		} else {
			delete(m.orphans, id)
		}
	}
}

// orphans returns the services of tasks that are removed.
func orphans(tx state.ReadTx, tasks []*state.Task) map[string]bool {
	out := map[string]bool{}
	for _, t := range tasks {
		if tx.Service(t.ServiceID) == nil {
			out[t.ServiceID] = true
		}
	}
	return out
}
