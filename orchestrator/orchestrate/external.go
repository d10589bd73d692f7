package orchestrate

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// externals is what the orchestrator remembers of external services
// between passes while it leads.
type externals struct {
	// seen is, per external service ID, the last pass that found an
	// endpoint of it (or the first that found none, after a leader
	// change): its grace runs from there.
	seen map[string]time.Time
	// bad holds the labels the FSM refused as service names: they are
	// not proposed again while this node leads.
	bad map[string]bool

	// What the last look found, for the partial passes that do not look
	// again (nothing they could see changed, see scope): ids are the
	// external services, members those that had endpoints (their grace
	// starts anew at every pass), containers the labelled containers
	// (whether a task runs one decides whether it is hand-run), wake
	// when the next grace ends, acted whether it proposed anything (the
	// next pass looks again).
	ids        map[string]bool
	members    []string
	containers map[string]bool
	wake       time.Time
	acted      bool
}

func newExternals() externals {
	return externals{seen: map[string]time.Time{}, bad: map[string]bool{}}
}

// externalPlan is what one look at the endpoints decided.
type externalPlan struct {
	create     []string         // names of the services to create
	remove     []*state.Service // external services without endpoints past their grace
	wake       time.Time        // when the next grace ends
	ids        map[string]bool  // the external services
	members    []string         // IDs of the external services with endpoints
	containers map[string]bool  // IDs of the labelled containers that record no task
}

// planExternal decides from one view: a hand-run container labelled
// xo.service=NAME (an endpoint with Service set that is no task's
// container) makes NAME an external service when no service has that
// name; an external service none of whose endpoints is left for grace
// is removed. seen is updated.
func planExternal(tx state.ReadTx, seen map[string]time.Time, now time.Time, grace time.Duration) externalPlan {
	p := externalPlan{ids: map[string]bool{}, containers: map[string]bool{}}
	var labelled []*state.Endpoint // labelled endpoints recording no task
	tx.EachEndpoint(func(ep *state.Endpoint) bool {
		if ep.Service != "" && ep.Task == "" {
			labelled = append(labelled, ep)
			p.containers[ep.ContainerID] = true
		}
		return true
	})
	members := map[string]bool{} // service names with hand-run endpoints
	// The tasks are read only when needed: a pass over them all is not free.
	if len(labelled) > 0 {
		tasks := map[string]bool{} // container IDs of tasks: a removed service's task still carries its label
		for _, t := range tx.Tasks("") {
			if t.Status.ContainerID != "" {
				tasks[t.Status.ContainerID] = true
			}
		}
		for _, ep := range labelled {
			if !tasks[ep.ContainerID] {
				members[ep.Service] = true
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(members)) {
		if tx.ServiceByName(name) == nil {
			p.create = append(p.create, name)
		}
	}
	for _, svc := range tx.Services() {
		if !svc.External {
			continue
		}
		p.ids[svc.ID] = true
		last, ok := seen[svc.ID]
		if members[svc.Name] || !ok {
			seen[svc.ID], last = now, now
		}
		if members[svc.Name] {
			p.members = append(p.members, svc.ID)
			continue
		}
		if due := last.Add(grace); now.Before(due) {
			p.wake = earliest(p.wake, due)
		} else {
			p.remove = append(p.remove, svc)
		}
	}
	maps.DeleteFunc(seen, func(id string, _ time.Time) bool { return !p.ids[id] })
	return p
}

// syncExternal creates and removes external services (see
// planExternal); o.ext.wake is when the next grace ends.
func (o *Orchestrator) syncExternal(ctx context.Context, now time.Time) error {
	var p externalPlan
	o.cluster.View(func(tx state.ReadTx) { p = planExternal(tx, o.ext.seen, now, o.opts.ExternalGrace) })
	o.ext.ids, o.ext.members, o.ext.containers, o.ext.wake, o.ext.acted = p.ids, p.members, p.containers, p.wake, false
	var errs []error
	for _, name := range p.create {
		if o.ext.bad[name] {
			continue
		}
		o.ext.acted = true
		svc := state.Service{ID: o.opts.NewID(), Name: name, Spec: state.ServiceSpec{Name: name}, External: true, CreatedAt: now}
		v, err := o.cluster.Propose(ctx, state.CreateService{Service: svc})
		switch {
		case errors.Is(err, state.ErrInvalid):
			o.ext.bad[name] = true
			o.log.Warn("containers labelled xo.service cannot form a service", "service", name, "err", state.Message(err))
		case err != nil:
			errs = append(errs, errorf("create external service %s: %w", name, err))
		default:
			if got, ok := v.(*state.Service); ok && got.ID == svc.ID {
				o.ext.seen[svc.ID] = now // its grace runs from the endpoint seen now
				o.log.Info("external service created for containers run by hand", "service", name, "id", svc.ID)
			}
		}
	}
	for _, svc := range p.remove {
		if !o.stillExternal(svc.ID) {
			continue // adopted by xo service create since the view
		}
		o.ext.acted = true
		if _, err := o.cluster.Propose(ctx, state.RemoveService{ID: svc.ID}); err != nil {
			errs = append(errs, errorf("remove external service %s: %w", svc.Name, err))
			continue
		}
		delete(o.ext.seen, svc.ID)
		o.log.Info("external service removed: no container left", "service", svc.Name, "id", svc.ID,
			"grace", o.opts.ExternalGrace)
	}
	return errors.Join(errs...)
}

// keepExternal stands for syncExternal in a partial pass that has seen
// no change its plan reads (endpoints, names, external services, the
// tasks' containers that are labelled) and no grace end: the plan would
// be the last one, which proposed nothing. Only its grace clocks move.
func (o *Orchestrator) keepExternal(now time.Time) {
	for _, id := range o.ext.members {
		o.ext.seen[id] = now
	}
}

// stillExternal says whether service id is still external: RemoveService
// has no condition, so this narrows the race with an adoption.
func (o *Orchestrator) stillExternal(id string) bool {
	ok := false
	o.cluster.View(func(tx state.ReadTx) {
		svc := tx.Service(id)
		ok = svc != nil && svc.External
	})
	return ok
}
