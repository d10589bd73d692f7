// Package orchestrate is the leader's orchestration loop. It runs on
// every agent and acts only while this node is the raft leader: it turns
// the pure decisions of orchestrator/reconcile and orchestrator/scheduler
// into writes, reaps the tasks nobody needs any more, and keeps the
// external services of hand-run containers (label xo.service) in step
// with their endpoints.
//
// A pass reads the state, decides, and writes, step by step:
//
//  1. reconcile every managed service (replicated or global): new tasks
//     first (CreateTasks), then the stops (UpdateTasks), batched across
//     services;
//  2. schedule the pending tasks (UpdateTasks);
//  3. reap: delete removed and orphaned tasks, trim each slot's history;
//  4. create the external services of labelled endpoints, remove those
//     whose endpoints are gone for Options.ExternalGrace.
//
// Passes run when this node becomes leader (the whole state at once: a
// new leader finishes its predecessor's job, and the FSM refuses the
// duplicate tasks a stale plan would add), after store commits of
// services, tasks and nodes (debounced), when a plan asks to be woken (a
// restart delay or a node's grace period ends), and every Options.Period.
//
// A pass after commits looks only at the services they concern, and at
// those whose wake time came (a partial pass, see scope): at 1,000
// services, one `xo service create` must not cost a look at all of
// them. The passes of a new leader until it caught up, the periodic
// ones, and those after node changes or lost events look at everything.
package orchestrate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xoverlay/xoverlay/orchestrator/engine"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// Cluster is what the orchestrator needs of this node's cluster member:
// its replica (View, Watch), writes (Propose) and whether it leads.
// A Cluster that also has WaitApplied(ctx) error is asked to apply every
// committed entry before a new leader's first pass.
type Cluster interface {
	Propose(ctx context.Context, cmd state.Command) (any, error)
	View(fn func(state.ReadTx))
	Watch() (<-chan state.Event, func())
	IsLeader() bool
}

// applyWaiter is the optional part of a Cluster: raft replays committed
// entries into the FSM asynchronously, so a new leader may read a state
// behind the log.
type applyWaiter interface {
	WaitApplied(ctx context.Context) error
}

// Options tunes the orchestrator; zero values take the defaults.
type Options struct {
	// DownGrace is how long the tasks of a node marked down stay there
	// before they are replaced elsewhere. Default 0: the status down
	// already includes the heartbeat grace.
	DownGrace time.Duration
	// ExternalGrace is how long an external service stays without
	// endpoints before it is removed. Default 1 minute.
	ExternalGrace time.Duration
	// Debounce coalesces a burst of commits into one pass. Default 10ms.
	Debounce time.Duration
	// Period is the interval of the passes nobody asked for, which look
	// at every service. Default 10s.
	Period time.Duration
	// LeaderPoll is how often leadership is checked: the cluster member
	// offers no leadership notifications. Default 250ms.
	LeaderPoll time.Duration
	// Now is the clock of decisions and timestamps. Default time.Now.
	Now func() time.Time
	// NewID makes task and service IDs. Default state.NewID.
	NewID func() string
	// Drainer takes the tasks a rolling update retires out of service
	// before they stop. Default: an AckDrainer when the Cluster is also
	// an IndexedProposer and an AckWaiter, else a StateDrainer.
	Drainer Drainer
	// DrainDelay is the StateDrainer's wait, and the AckDrainer's DNS
	// TTL. Default DefaultDrainDelay.
	DrainDelay time.Duration
	// DrainTimeout bounds the AckDrainer's wait for the nodes'
	// acknowledgements. Default DefaultDrainTimeout.
	DrainTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.ExternalGrace <= 0 {
		o.ExternalGrace = time.Minute
	}
	if o.Debounce <= 0 {
		o.Debounce = 10 * time.Millisecond
	}
	if o.Period <= 0 {
		o.Period = 10 * time.Second
	}
	if o.LeaderPoll <= 0 {
		o.LeaderPoll = 250 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NewID == nil {
		o.NewID = state.NewID
	}
	return o
}

// Orchestrator is the leader's orchestration loop.
type Orchestrator struct {
	cluster Cluster
	log     *slog.Logger
	opts    Options
	m       *metrics
	upd     *updates

	// dirty is what the commits changed since the last pass: written by
	// the watch's goroutine and the drains, taken by the pass.
	dirty *dirty

	// Owned by the pass (never concurrent with itself); reset when
	// leadership begins.
	ext     externals
	mem     memory        // what partial passes rely on
	retry   time.Duration // after a failed pass: 1s doubling to 30s
	lastErr string
	lead0   time.Time // when this leadership began
	settled bool      // a full pass of this leadership found nothing to do
	work    int       // what the current pass did: plans written, tasks placed
}

// New returns an orchestrator over cluster; it starts nothing. Its
// metrics go to reg (nil: none).
func New(cluster Cluster, log *slog.Logger, reg prometheus.Registerer, opts Options) *Orchestrator {
	return &Orchestrator{cluster: cluster, log: log, opts: opts.withDefaults(), m: newMetrics(reg, log),
		upd: newUpdates(cluster, opts, reg, log.With("component", "updater")), dirty: newDirty(), mem: newMemory(),
		ext: newExternals()}
}

// Run orchestrates while this node leads, until ctx ends.
func (o *Orchestrator) Run(ctx context.Context) {
	tick := time.NewTicker(o.opts.LeaderPoll)
	defer tick.Stop()
	for {
		if o.cluster.IsLeader() {
			o.lead(ctx, tick.C)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// lead runs the passes until leadership ends (checked at every tick) or
// ctx does.
func (o *Orchestrator) lead(ctx context.Context, tick <-chan time.Time) {
	o.log.Info("leading: orchestrating services")
	o.m.leader.Set(1)
	defer o.m.leader.Set(0)
	defer o.m.unschedulable.Set(0)
	o.ext = newExternals()
	o.mem = newMemory()
	o.dirty.reset()
	o.retry, o.lastErr = 0, ""
	o.lead0, o.settled = time.Now(), false
	o.m.leaderSince.Set(float64(o.lead0.UnixNano()) / 1e9)
	o.m.converged.Set(0)
	defer o.m.leaderSince.Set(0)
	defer o.m.converged.Set(0)

	defer o.upd.wait() // last: after the passes, and the drains they started, ended
	lctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if w, ok := o.cluster.(applyWaiter); ok {
			if err := w.WaitApplied(lctx); err != nil {
				o.log.Warn("leading without the whole log applied", "err", err)
			}
		}
		// o.watch hands the loop only the events relevant says want a pass.
		engine.RunLoop(lctx, o.watch, nil, o.opts.Debounce, o.opts.Period, o.pass)
	})
	defer wg.Wait()
	defer cancel()
	for o.cluster.IsLeader() {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
	}
	o.log.Info("no longer leader: orchestration stopped")
}

// relevant says whether a commit asks for a pass: services, tasks and
// nodes; endpoints only when they may add or remove an external service
// (a deletion, or a label whose service does not exist) or concern a
// service being updated. The events that ask for none still change what
// the next pass looks at (see note).
func (o *Orchestrator) relevant(e state.Event) bool {
	switch e.Kind {
	case "service", "task", "node", "all":
		return true
	case "endpoint":
		if o.updateRelevant(e) {
			return true
		}
		if e.Action == "delete" {
			return true
		}
		need := false
		o.cluster.View(func(tx state.ReadTx) {
			if ep := tx.Endpoint(e.ID); ep != nil && ep.Service != "" {
				need = tx.ServiceByName(ep.Service) == nil
			}
		})
		return need
	}
	return false
}

// pass is one orchestration pass; it returns when to run again (a wall
// clock time for RunLoop; zero: only on events and the period).
func (o *Orchestrator) pass(ctx context.Context) time.Time {
	if !o.cluster.IsLeader() {
		return time.Time{}
	}
	start := time.Now()
	defer func() { o.m.duration.Observe(time.Since(start).Seconds()) }()
	now := o.opts.Now()
	sc := o.scope(start, now)
	kind := "partial"
	if sc.full {
		kind = "full"
	}
	o.m.passes.WithLabelValues(kind).Inc()
	o.work = 0
	o.mem.incomplete = true // until it ends well: the next pass is full
	wake, err := o.orchestrate(ctx, now, sc)
	o.dirty.markServices(sc.touched)
	if err != nil {
		if errors.Is(err, errNotLeader) || ctx.Err() != nil {
			return time.Time{}
		}
		o.retry = min(max(2*o.retry, time.Second), 30*time.Second)
		if msg := err.Error(); msg != o.lastErr {
			o.log.Warn("orchestration pass failed; will retry", "err", err, "retry_in", o.retry)
			o.lastErr = msg
		}
		return start.Add(o.retry)
	}
	if o.lastErr != "" {
		o.log.Info("orchestration pass succeeded again")
	}
	o.retry, o.lastErr = 0, ""
	o.mem.incomplete = false
	if sc.full { // a partial pass does not tell whether the others are done
		o.settle()
	}
	if wake.IsZero() {
		return time.Time{}
	}
	return start.Add(wake.Sub(now)) // the injected clock's time, on the wall clock
}

// settle records the first full pass of this leadership that had
// nothing to do: every service checked, no task to create, stop or
// place. From then on the new leader has caught up with its
// predecessor's job, and passes may be partial.
func (o *Orchestrator) settle() {
	if o.settled || o.work > 0 {
		return
	}
	o.settled = true
	now := time.Now()
	took := now.Sub(o.lead0)
	o.m.converged.Set(float64(now.UnixNano()) / 1e9)
	o.m.convergeSeconds.Observe(took.Seconds())
	var services, tasks int
	o.cluster.View(func(tx state.ReadTx) { services, tasks = len(tx.Services()), len(tx.Tasks("")) })
	o.log.Info("orchestration converged since leadership began", "took", took.Round(time.Millisecond),
		"services", services, "tasks", tasks)
}

// metrics are the orchestrator's Prometheus series.
type metrics struct {
	leader          prometheus.Gauge
	leaderSince     prometheus.Gauge
	converged       prometheus.Gauge
	duration        prometheus.Histogram
	convergeSeconds prometheus.Histogram
	created         prometheus.Counter
	stopped         *prometheus.CounterVec // by the desired state given: shutdown, remove, complete
	unschedulable   prometheus.Gauge
	passes          *prometheus.CounterVec // by kind: full, partial
}

// newMetrics makes the series and registers them with reg (nil: none).
// A series that cannot be registered still counts, unexported.
func newMetrics(reg prometheus.Registerer, log *slog.Logger) *metrics {
	m := &metrics{
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "xo_orchestrator_leader",
			Help: "1 while this node's orchestrator acts (it is the raft leader).",
		}),
		leaderSince: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "xo_orchestrator_leader_since_timestamp_seconds",
			Help: "Unix time at which this node's orchestrator began acting as leader; 0 while it does not lead.",
		}),
		converged: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "xo_orchestrator_converged_timestamp_seconds",
			Help: "Unix time at which the first pass since this node began leading found nothing to create, stop " +
				"or place (every service checked); 0 until then and while it does not lead.",
		}),
		convergeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "xo_orchestrator_leader_converge_seconds",
			Help:    "Time from this node becoming leader to its first pass with nothing to create, stop or place.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "xo_orchestrator_reconcile_seconds",
			Help:    "Time of one orchestration pass: reconcile, schedule, reap, external services.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		created: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xo_orchestrator_tasks_created_total",
			Help: "Tasks created by the orchestrator (new slots, replacements, moves).",
		}),
		stopped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xo_orchestrator_tasks_stopped_total",
			Help: "Tasks the orchestrator stopped, by reason: shutdown (replaced or moved), remove (scaled down, " +
				"node left), complete (not restarted under the restart policy).",
		}, []string{"reason"}),
		unschedulable: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "xo_orchestrator_unschedulable_tasks",
			Help: "Pending tasks no node can take, at the last pass.",
		}),
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xo_orchestrator_passes_total",
			Help: "Orchestration passes, by kind: full (every service looked at: a new leader's, the periodic " +
				"ones, after node changes) or partial (only the services the commits concern, and those due).",
		}, []string{"kind"}),
	}
	if reg == nil {
		return m
	}
	for _, c := range []prometheus.Collector{m.leader, m.leaderSince, m.converged, m.duration, m.convergeSeconds,
		m.created, m.stopped, m.unschedulable, m.passes} {
		if err := reg.Register(c); err != nil {
			log.Warn("orchestrator metric not exported", "err", err)
		}
	}
	return m
}

// errorf wraps an error with the package's prefix.
func errorf(format string, args ...any) error {
	return fmt.Errorf("orchestrate: "+format, args...)
}
