package orchestrate

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/reconcile"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// maxBatch bounds the items of one write: a raft entry stays small
// (a forwarded proposal's body is limited to 1 MiB).
const maxBatch = 500

// errNotLeader ends a pass whose node lost the lead: its later steps
// would decide from a state the new leader is changing.
var errNotLeader = errors.New("orchestrate: no longer the leader")

// orchestrate runs the steps of one pass over sc at now and returns when
// the state asks for the next one (zero: no time). A failing step does
// not keep the others from running; losing the lead does.
func (o *Orchestrator) orchestrate(ctx context.Context, now time.Time, sc *scope) (time.Time, error) {
	steps := []func() error{
		func() error { return o.reconcile(ctx, now, sc) },
		func() error { return o.update(ctx, now, sc) },
		func() error { return o.schedule(ctx, now, sc) },
		func() error { return o.reap(ctx, sc) },
		func() error {
			if sc.externalChanged(o.ext.containers) {
				return o.syncExternal(ctx, now)
			}
			o.keepExternal(now)
			return nil
		},
	}
	var errs []error
	for _, step := range steps {
		if ctx.Err() != nil || !o.cluster.IsLeader() {
			return time.Time{}, errNotLeader
		}
		errs = append(errs, step())
	}
	return o.mem.wake(o.ext.wake), errors.Join(errs...)
}

// reconcile plans the managed services of sc from one view, then
// proposes the new tasks of all plans before their stops: the FSM
// accepts a replacement only while the task it replaces is live. Each
// service's wake time is kept until it is reconciled again.
func (o *Orchestrator) reconcile(ctx context.Context, now time.Time, sc *scope) error {
	var plans []reconcile.Plan
	names := map[string]string{}
	pol := reconcile.Policy{DownGrace: o.opts.DownGrace}
	m := &o.mem
	o.cluster.View(func(tx state.ReadTx) {
		nodes := tx.Nodes()
		if sc.full {
			clear(m.recWake)
			m.graceEnd = graceEnd(nodes, now, o.opts.DownGrace)
		}
		for id := range sc.ids { // removed services are forgotten here
			delete(m.recWake, id)
		}
		for _, svc := range sc.services(tx) {
			if svc.External {
				continue
			}
			ts := tx.Tasks(svc.ID)
			var p reconcile.Plan
			if svc.Global() {
				p = reconcile.Global(svc, ts, nodes, now)
			} else {
				p = reconcile.Replicated(svc, ts, nodes, now, pol)
			}
			if !p.Wake.IsZero() {
				m.recWake[svc.ID] = p.Wake
			}
			if !p.Empty() {
				plans = append(plans, p)
				names[svc.ID] = svc.Name
				sc.touch(svc.ID)
			}
		}
	})
	o.work += len(plans)
	if len(plans) == 0 {
		return nil
	}
	creates := make([]group[state.Task], 0, len(plans))
	for _, p := range plans {
		if ts := p.Tasks(o.opts.NewID, now); len(ts) > 0 {
			creates = append(creates, group[state.Task]{key: p.ServiceID, items: ts})
		}
	}
	created, failedC := proposeGroups(ctx, o.cluster, creates, func(ts []state.Task) state.Command {
		return state.CreateTasks{Tasks: ts}
	})
	o.m.created.Add(float64(created))
	stops := make([]group[state.TaskUpdate], 0, len(plans))
	for _, p := range plans {
		if _, failed := failedC[p.ServiceID]; !failed && len(p.Stop) > 0 {
			stops = append(stops, group[state.TaskUpdate]{key: p.ServiceID, items: p.Updates()})
		}
	}
	_, failedS := proposeGroups(ctx, o.cluster, stops, func(us []state.TaskUpdate) state.Command {
		return state.UpdateTasks{Updates: us}
	})
	for _, p := range plans {
		_, fc := failedC[p.ServiceID]
		_, fs := failedS[p.ServiceID]
		if fc || fs {
			continue
		}
		for _, s := range p.Stop {
			o.m.stopped.WithLabelValues(string(s.Desired)).Inc()
		}
		o.log.Debug("service reconciled", "service", names[p.ServiceID], "created", len(p.Create), "restarted", len(p.Restart),
			"stopped", len(p.Stop))
	}
	if created > 0 || len(stops) > 0 {
		o.log.Info("services reconciled", "services", len(plans), "tasks_created", created)
	}
	return failures("reconcile", names, failedC, failedS)
}

// group is the items of one service, proposed together.
type group[T any] struct {
	key   string // service ID
	items []T
}

// proposeGroups proposes the groups' items in writes of at most maxBatch
// items, whole groups together where they fit. When a write of several
// groups fails, each is proposed alone, so one bad service fails only
// itself. It returns the sum of the FSM's counts and the error of each
// group that failed, by key.
func proposeGroups[T any](ctx context.Context, c Cluster, groups []group[T], mk func([]T) state.Command) (int, map[string]error) {
	total := 0
	failed := map[string]error{}
	var batch []group[T]
	size := 0
	write := func(items []T) (int, error) {
		v, err := c.Propose(ctx, mk(items))
		n, _ := v.(int)
		return n, err
	}
	flush := func() {
		defer func() { batch, size = nil, 0 }()
		if len(batch) == 0 {
			return
		}
		var items []T
		for _, g := range batch {
			items = append(items, g.items...)
		}
		n, err := write(items)
		total += n
		if err == nil {
			return
		}
		if len(batch) == 1 || ctx.Err() != nil {
			for _, g := range batch {
				failed[g.key] = err
			}
			return
		}
		for _, g := range batch {
			n, err := write(g.items)
			total += n
			if err != nil {
				failed[g.key] = err
			}
		}
	}
	for _, g := range groups {
		if size+len(g.items) > maxBatch {
			flush()
		}
		for len(g.items) > maxBatch { // one group alone too large: split it
			n, err := write(g.items[:maxBatch])
			total += n
			if err != nil {
				failed[g.key] = err
			}
			g.items = g.items[maxBatch:]
		}
		batch = append(batch, g)
		size += len(g.items)
	}
	flush()
	return total, failed
}

// failures turns the failed groups of a step into one error.
func failures(step string, names map[string]string, failed ...map[string]error) error {
	var errs []error
	for _, f := range failed {
		for _, id := range slices.Sorted(maps.Keys(f)) {
			err := f[id]
			name := names[id]
			if name == "" {
				name = id
			}
			errs = append(errs, errorf("%s: service %s: %w", step, name, err))
		}
	}
	return errors.Join(errs...)
}

// earliest returns the earlier of two times, zero meaning none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
