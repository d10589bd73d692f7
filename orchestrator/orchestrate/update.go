package orchestrate

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xoverlay/xoverlay/orchestrator/state"
	"github.com/xoverlay/xoverlay/orchestrator/update"
)

// updates is the rolling updater's side of the orchestrator: what it
// remembers between passes, and the drains it runs. The drains are its
// goroutines: each ends with the leadership's context, and wait returns
// once they did.
type updates struct {
	log     *slog.Logger
	m       *updateMetrics
	drainer Drainer

	// seen is when each up-to-date task was first seen serving; owned by
	// the pass (this leadership's).
	seen map[string]time.Time

	mu       sync.Mutex
	draining map[string]bool // task IDs with a drain under way
	wg       sync.WaitGroup
}

func newUpdates(c Cluster, opts Options, reg prometheus.Registerer, log *slog.Logger) *updates {
	d := opts.Drainer
	if d == nil {
		d = defaultDrainer(c, opts, log)
	}
	return &updates{log: log, m: newUpdateMetrics(reg, log), drainer: d,
		seen: map[string]time.Time{}, draining: map[string]bool{}}
}

// wait returns once the drains of this leadership ended (its context is
// canceled first), and forgets what it saw: the next leadership starts
// afresh.
func (u *updates) wait() {
	u.wg.Wait()
	u.seen = map[string]time.Time{}
}

// updateRelevant says whether an endpoint event concerns a task of a
// service being updated: its health decides when the update goes on.
func (o *Orchestrator) updateRelevant(e state.Event) bool {
	need := false
	o.cluster.View(func(tx state.ReadTx) {
		if ep := tx.Endpoint(e.ID); ep != nil && ep.Task != "" {
			if t := tx.Task(ep.Task); t != nil {
				svc := tx.Service(t.ServiceID)
				need = svc != nil && svc.Updating()
			}
		}
	})
	return need
}

// update runs the rolling updater over the managed services of sc whose
// tasks are not all up to date, or whose update is under way, and
// writes its decisions: new tasks first, then drained tasks back in
// service, statuses and rollbacks; the retired tasks are drained and
// stopped on their own goroutine. Each service's wake time is kept
// until it is decided again.
func (o *Orchestrator) update(ctx context.Context, now time.Time, sc *scope) error {
	u := o.upd
	m := &o.mem
	var plans []update.Plan
	names, versions, digests := map[string]string{}, map[string]uint64{}, map[string]string{}
	o.cluster.View(func(tx state.ReadTx) {
		if sc.full {
			clear(m.updWake)
			clear(m.updating)
		}
		for id := range sc.ids {
			delete(m.updWake, id)
			delete(m.updating, id)
		}
		var serving map[string]bool
		for _, svc := range sc.services(tx) {
			ts := tx.Tasks(svc.ID)
			if svc.External || !needsUpdater(svc, ts) {
				continue
			}
			m.updating[svc.ID] = true
			if serving == nil {
				serving = servingTasks(tx, sc.tasks(tx))
			}
			for _, t := range ts {
				if _, ok := u.seen[t.ID]; !ok && serving[t.ID] {
					u.seen[t.ID] = now
				}
			}
			p := update.Decide(update.Input{Service: svc, Tasks: ts, Nodes: tx.Nodes(), Serving: serving, Seen: u.seen, Now: now})
			if !p.Wake.IsZero() {
				m.updWake[svc.ID] = p.Wake
			}
			if !p.Empty() {
				plans = append(plans, p)
				names[svc.ID], versions[svc.ID], digests[svc.ID] = svc.Name, svc.SpecVersion, svc.SpecDigest
				sc.touch(svc.ID)
			}
		}
		if sc.full { // a deleted task's entry does no harm meanwhile: IDs are not reused
			maps.DeleteFunc(u.seen, func(id string, _ time.Time) bool { return tx.Task(id) == nil })
		}
	})
	var errs []error
	for _, p := range plans {
		if err := o.applyUpdate(ctx, p, names[p.ServiceID], versions[p.ServiceID], digests[p.ServiceID], now); err != nil {
			errs = append(errs, errorf("update: service %s: %w", names[p.ServiceID], err))
		}
	}
	return errors.Join(errs...)
}

// needsUpdater says whether the updater has anything to decide about a
// service: an update under way or paused, or tasks that are outdated or
// drained.
func needsUpdater(svc *state.Service, ts []*state.Task) bool {
	if svc.UpdateStatus != nil && svc.UpdateStatus.State != state.UpdateCompleted &&
		svc.UpdateStatus.State != state.UpdateRollbackCompleted {
		return true
	}
	return slices.ContainsFunc(ts, func(t *state.Task) bool {
		return t.DesiredRunning() && (t.Draining || svc.Outdated(t))
	})
}

// servingTasks says which of tasks are in service: running, meant to
// run, not drained, and with an endpoint in service (running, healthy,
// on a node that is not down) on each network of their spec. A partial
// pass asks only about the tasks of its services.
func servingTasks(tx state.ReadTx, tasks []*state.Task) map[string]bool {
	asked := make(map[string]bool, len(tasks))
	for _, t := range tasks {
		asked[t.ID] = true
	}
	inService := map[string]map[string]bool{} // task -> networks where it serves
	tx.EachEndpoint(func(ep *state.Endpoint) bool {
		if asked[ep.Task] && tx.InService(ep) {
			if inService[ep.Task] == nil {
				inService[ep.Task] = map[string]bool{}
			}
			inService[ep.Task][ep.NetworkID] = true
		}
		return true
	})
	out := map[string]bool{}
	for _, t := range tasks {
		if t.Status.State != state.TaskRunning || !t.DesiredRunning() || t.Draining {
			continue
		}
		n := tx.Node(t.NodeID)
		svc := tx.Service(t.ServiceID)
		if n == nil || n.Status == state.StatusDown || svc == nil {
			continue
		}
		nets := svc.TaskSpec(t).Networks
		out[t.ID] = len(inService[t.ID]) >= len(nets)
	}
	return out
}

// applyUpdate writes one plan of the service name, decided at spec
// version and digest.
func (o *Orchestrator) applyUpdate(ctx context.Context, p update.Plan, name string, version uint64, digest string, now time.Time) error {
	u := o.upd
	if ts := p.NewTasks(o.opts.NewID, now); len(ts) > 0 {
		n, err := o.cluster.Propose(ctx, state.CreateTasks{Tasks: ts})
		if err != nil {
			return err
		}
		created, _ := n.(int)
		o.m.created.Add(float64(created))
		u.log.Info("update: new tasks started beside the old ones", "service", name, "tasks", created)
	}
	if len(p.Undrain) > 0 {
		if _, err := o.cluster.Propose(ctx, state.DrainTasks{IDs: p.Undrain, Undo: true}); err != nil {
			return err
		}
		u.log.Info("update: drained tasks back in service: their spec is wanted again", "service", name, "tasks", len(p.Undrain))
	}
	if p.Status != nil {
		if _, err := o.cluster.Propose(ctx, state.SetUpdateStatus{ID: p.ServiceID, Digest: digest, Status: *p.Status}); err != nil {
			return err
		}
		u.m.statuses.WithLabelValues(string(p.Status.State)).Inc()
		u.log.Info("update status", "service", name, "state", p.Status.State, "message", p.Status.Message)
	}
	if p.Rollback != "" {
		_, err := o.cluster.Propose(ctx, state.RollbackService{ID: p.ServiceID, Version: version, Reason: p.Rollback, At: now})
		if err != nil && !errors.Is(err, state.ErrConflict) { // a conflict: changed meanwhile, decided again
			return err
		}
		if err == nil {
			u.m.statuses.WithLabelValues(string(state.UpdateRollbackStarted)).Inc()
			u.log.Warn("update failed: rolling back", "service", name, "reason", p.Rollback)
		}
	}
	if len(p.Retire) > 0 {
		o.retire(ctx, p.ServiceID, name, p.Retire)
	}
	return nil
}

// retire drains, then stops, the tasks not already being drained, on a
// goroutine of its own: the drain takes a while, and the passes go on.
// The stop is skipped for a task that is wanted again by then (a newer
// update came back to its spec). When it ends, the next pass looks at
// the service (id) again: its tasks may be retired anew, which a pass
// skips while they drain.
func (o *Orchestrator) retire(ctx context.Context, id, service string, rs []update.Retire) {
	u := o.upd
	u.mu.Lock()
	var batch []update.Retire
	for _, r := range rs {
		if !u.draining[r.Task.ID] {
			u.draining[r.Task.ID] = true
			batch = append(batch, r)
		}
	}
	u.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	u.wg.Go(func() {
		defer func() {
			u.mu.Lock()
			for _, r := range batch {
				delete(u.draining, r.Task.ID)
			}
			u.mu.Unlock()
			o.dirty.markServices(map[string]bool{id: true}) // after: a pass between would skip them again
		}()
		tasks := make([]*state.Task, len(batch))
		for i, r := range batch {
			tasks[i] = r.Task
		}
		start := time.Now()
		err := u.drainer.Drain(ctx, tasks)
		if ctx.Err() != nil || !o.cluster.IsLeader() {
			return // the next leader drains them again
		}
		u.m.drainSeconds.Observe(time.Since(start).Seconds())
		note := ""
		if err != nil {
			u.m.drainErrors.Inc()
			u.log.Warn("update: drain incomplete; stopping the tasks anyway", "service", service, "tasks", len(tasks), "err", err)
			note = " (" + err.Error() + ")"
		}
		var ups []state.TaskUpdate
		o.cluster.View(func(tx state.ReadTx) {
			for _, r := range batch {
				t := tx.Task(r.Task.ID)
				svc := tx.Service(r.Task.ServiceID)
				if t != nil && t.DesiredRunning() && (svc == nil || svc.Outdated(t)) {
					ups = append(ups, state.TaskUpdate{ID: t.ID, DesiredState: state.TaskShutdown, Message: r.Reason + note})
				}
			}
		})
		if len(ups) == 0 {
			return
		}
		if _, err := o.cluster.Propose(ctx, state.UpdateTasks{Updates: ups}); err != nil {
			if ctx.Err() == nil {
				u.log.Warn("update: stopping drained tasks failed; the next pass retries", "service", service, "err", err)
			}
			return
		}
		u.m.drained.Add(float64(len(ups)))
		o.m.stopped.WithLabelValues(string(state.TaskShutdown)).Add(float64(len(ups)))
		u.log.Info("update: tasks drained and stopped", "service", service, "tasks", len(ups), "drain", time.Since(start).Round(time.Millisecond))
	})
}

// updateMetrics are the rolling updater's series.
type updateMetrics struct {
	statuses     *prometheus.CounterVec
	drained      prometheus.Counter
	drainErrors  prometheus.Counter
	drainSeconds prometheus.Histogram
}

func newUpdateMetrics(reg prometheus.Registerer, log *slog.Logger) *updateMetrics {
	m := &updateMetrics{
		statuses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xo_orchestrator_update_status_total",
			Help: "Rolling update statuses recorded by the updater, by state: updating, paused, completed, " +
				"rollback_started (automatic rollbacks), rollback_paused, rollback_completed.",
		}, []string{"state"}),
		drained: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xo_orchestrator_update_drained_tasks_total",
			Help: "Tasks a rolling update took out of service (drained) before stopping them.",
		}),
		drainErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xo_orchestrator_update_drain_errors_total",
			Help: "Drains that did not complete (the tasks were stopped anyway).",
		}),
		drainSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "xo_orchestrator_update_drain_seconds",
			Help:    "Time from taking a batch of tasks out of service to stopping them.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}),
	}
	if reg == nil {
		return m
	}
	for _, c := range []prometheus.Collector{m.statuses, m.drained, m.drainErrors, m.drainSeconds} {
		if err := reg.Register(c); err != nil {
			log.Warn("orchestrator metric not exported", "err", err)
		}
	}
	return m
}
