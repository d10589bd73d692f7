// Package executor is the node executor: on every agent it converges the
// containers of the tasks the scheduler assigned to this node on the local
// Docker engine, and reports what the engine observes of them into the
// cluster state (SetTaskStatus).
//
// The model is swarmkit's agent: the orchestrator decides (desired state),
// the executor only drives each task forward, assigned → accepted →
// preparing (create) → starting (start) → running, and reports how it
// ends (complete, failed, rejected, shutdown). It never restarts a task:
// the orchestrator replaces it.
//
// A pass lists the engine's task containers (label xo.task), reads this
// node's tasks in one View, decides per task, acts (engine calls for
// different tasks run in parallel; stops, which wait out a grace period,
// run on their own), and writes every status change of the pass in one
// SetTaskStatus. Passes run at start-up (so a restarted agent finds its
// containers by label), after the engine's container events (start, die,
// health_status, destroy, oom) and the store's commits of this node's
// tasks, when a back-off ends, and every period.
package executor

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xoverlay/xoverlay/orchestrator/engine"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// Labels on every task container: the executor finds its containers by
// them after a restart, and discovery answers a service from LabelService.
const (
	LabelService   = engine.ServiceLabel // the service's name
	LabelServiceID = "xo.service.id"
	LabelTask      = engine.TaskLabel
	LabelSlot      = "xo.slot"
	LabelNode      = "xo.node"
)

// Docker is the part of the engine API the executor uses
// (*client.Client has it).
type Docker interface {
	ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig,
		networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, containerName string) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, container string, options container.StartOptions) error
	ContainerStop(ctx context.Context, container string, options container.StopOptions) error
	ContainerRemove(ctx context.Context, container string, options container.RemoveOptions) error
	ContainerInspect(ctx context.Context, container string) (container.InspectResponse, error)
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	NetworkConnect(ctx context.Context, network, container string, config *network.EndpointSettings) error
	Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error)
	ImageInspect(ctx context.Context, image string, options ...client.ImageInspectOption) (image.InspectResponse, error)
}

var _ Docker = (*client.Client)(nil)

// Cluster is what the executor needs of this node's cluster member: its
// replica (View, Watch) and writes (Propose).
type Cluster interface {
	Propose(ctx context.Context, cmd state.Command) (any, error)
	View(fn func(state.ReadTx))
	Watch() (<-chan state.Event, func())
}

// Executor converges this node's task containers. Create it with New and
// run it with Run.
type Executor struct {
	docker  Docker
	cluster Cluster
	node    string
	log     *slog.Logger
	metrics *metrics

	period     time.Duration // full pass: every live container inspected
	debounce   time.Duration // coalesces a burst of events into one pass
	timeout    time.Duration // per engine call (a stop adds its grace period)
	staleGrace time.Duration // a container whose task is not in the state waits this long before it is stopped
	workers    int           // tasks converged in parallel within a pass
	now        func() time.Time

	mu       sync.Mutex
	memos    map[string]*memo // task ID or "container/ID" -> what a pass remembers of it
	stopping map[string]bool  // container IDs with a stop in flight
	stops    sync.WaitGroup   // the stops in flight
	stopped  chan struct{}    // a stop ended: converge again

	// Owned by the goroutine that runs passes (Run, or a test).
	known      map[string]bool      // task IDs on this node or with a container here, at the last pass
	staleSince map[string]time.Time // container ID -> first pass that found its task missing
	waiting    bool                 // a task waits for a network copy on this engine
}

// New returns the executor of node's engine; it starts nothing. Its
// metrics go to reg (nil: not exported).
func New(docker Docker, cluster Cluster, node string, log *slog.Logger, reg prometheus.Registerer) *Executor {
	return &Executor{
		docker: docker, cluster: cluster, node: node, log: log, metrics: newMetrics(reg, log),
		period: 10 * time.Second, debounce: 10 * time.Millisecond, timeout: 30 * time.Second,
		staleGrace: 5 * time.Second, workers: 8, now: time.Now,
		memos: map[string]*memo{}, stopping: map[string]bool{},
		stopped: make(chan struct{}, 1), known: map[string]bool{}, staleSince: map[string]time.Time{},
	}
}

// Run converges at once and then after every relevant event, until ctx
// ends; it returns once the stops it started have returned.
func (e *Executor) Run(ctx context.Context) {
	defer e.stops.Wait()
	l := &loop{e: e, dirty: map[string]bool{}, full: true, resubWait: time.Second}
	l.watch, l.unwatch = e.cluster.Watch()
	defer func() { l.unwatch() }()
	l.stream = e.subscribe(ctx)
	defer func() { l.stream.cancel() }()
	tick := time.NewTicker(e.period)
	defer tick.Stop()
	l.soon, l.wake, l.resub, l.rewatch = idleTimer(), idleTimer(), idleTimer(), idleTimer()
	defer func() { l.soon.Stop(); l.wake.Stop(); l.resub.Stop(); l.rewatch.Stop() }()
	l.pass(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-l.watch:
			l.storeEvent(ev, ok)
		case <-l.rewatch.C:
			l.watch, l.unwatch = e.cluster.Watch()
			l.full = true
			l.poke()
		case m := <-l.stream.msgs:
			l.resubWait = time.Second
			if id := taskEvent(m); id != "" {
				l.dirty[id] = true
				l.poke()
			}
		case err := <-l.stream.errs:
			l.streamEnded(ctx, err)
		case <-l.resub.C:
			l.stream = e.subscribe(ctx)
			l.full = true // events may have been missed
			l.poke()
		case <-e.stopped:
			l.poke()
		case <-l.soon.C:
			l.pass(ctx)
		case <-l.wake.C:
			l.pass(ctx)
		case <-tick.C:
			l.full = true
			l.pass(ctx)
		}
	}
}

// loop is Run's state between passes.
type loop struct {
	e       *Executor
	watch   <-chan state.Event
	unwatch func()
	stream  stream

	dirty   map[string]bool // container IDs named by engine events since the last pass
	full    bool            // inspect every live container in the next pass
	pending bool            // a pass is due after the debounce

	soon, wake, resub, rewatch *time.Timer
	resubWait                  time.Duration
}

func (l *loop) pass(ctx context.Context) {
	next := l.e.converge(ctx, l.dirty, l.full)
	l.dirty, l.full, l.pending = map[string]bool{}, false, false
	l.soon.Stop()
	l.wake.Stop()
	if !next.IsZero() {
		l.wake.Reset(max(next.Sub(l.e.now()), time.Millisecond))
	}
}

// poke asks for a pass after the debounce.
func (l *loop) poke() {
	if !l.pending {
		l.pending = true
		l.soon.Reset(l.e.debounce)
	}
}

func (l *loop) storeEvent(ev state.Event, ok bool) {
	if !ok { // watched anew shortly: events may have been lost meanwhile
		l.watch = nil
		l.rewatch.Reset(time.Second)
		return
	}
	if ev.Kind == "all" {
		l.full = true
	}
	if l.e.relevant(ev) {
		l.poke()
	}
}

func (l *loop) streamEnded(ctx context.Context, err error) {
	l.stream.cancel()
	l.stream = stream{cancel: func() {}}
	if ctx.Err() != nil {
		return
	}
	l.e.metrics.engineErrors.WithLabelValues("events").Inc()
	l.e.log.Warn("engine event stream ended; subscribing again", "err", err, "in", l.resubWait)
	l.resub.Reset(l.resubWait)
	l.resubWait = min(l.resubWait*2, maxBackoff)
}

// relevant says whether a store event may change what this node runs.
func (e *Executor) relevant(ev state.Event) bool {
	switch ev.Kind {
	case "all":
		return true
	case "network":
		return e.waiting
	case "task":
		if e.known[ev.ID] {
			return true
		}
		mine := false
		e.cluster.View(func(tx state.ReadTx) {
			t := tx.Task(ev.ID)
			mine = t != nil && t.NodeID == e.node
		})
		return mine
	}
	return false
}

func idleTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}
