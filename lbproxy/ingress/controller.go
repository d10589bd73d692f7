package ingress

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
	"github.com/xoverlay/xoverlay/lbproxy/l7"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// Store is the replica the controller reads.
type Store interface {
	View(fn func(state.ReadTx))
	Watch() (<-chan state.Event, func())
}

// Events is the engine's event stream.
type Events interface {
	Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error)
}

// OpenPlane opens the L4 data plane of the network namespace at nsPath.
type OpenPlane func(nsPath string) (l4.DataPlane, error)

// The controller's parts, each behind the little it needs.
type (
	sandboxer interface {
		Ensure(ctx context.Context, nets []Network) (Sandbox, error)
		Remove(ctx context.Context) error
	}
	firewall interface {
		Set(ctx context.Context, on bool) error
	}
	httpFront interface {
		Apply(cfgs map[uint16]l7.Config) error
		Shutdown(ctx context.Context) error
	}
	nsSwitch interface {
		Set(path string) error
		Path() string
		Close()
	}
	// remover is a plane that can take its rules out of a namespace
	// that stays (nft.Plane).
	remover interface{ Remove() error }
)

// parts are what a Controller drives.
type parts struct {
	box         sandboxer
	fw          firewall
	front       httpFront
	dial        nsSwitch
	openHost    func() (l4.DataPlane, error)
	openIngress OpenPlane
}

// Controller keeps one node's published ports in step with the state:
// the ingress container, the host's and the container's L4 rules, the
// DOCKER-USER rules and the HTTP listeners. Run owns all of it.
type Controller struct {
	store     Store
	events    Events
	p         parts
	node      string
	reconcile time.Duration
	log       *slog.Logger
	m         *metrics

	applied func(index uint64) // see OnApplied

	plan      Plan
	interest  interest // what plan depends on (see passOver)
	problems  map[string]bool
	dirty     bool              // something failed or changed outside the state: the next sync does everything
	failing   map[string]string // operation -> its last failure, logged once
	failedNow map[string]bool   // operations that failed in this sync

	sb      Sandbox
	sbNets  []Network
	sbStale bool // the engine reported the container started, died or went

	host        l4.DataPlane
	hostApplied bool // the host's table may hold rules
	inner       l4.DataPlane
	innerPath   string
	fwOn        bool
}

func newController(store Store, ev Events, p parts, node string, reconcile time.Duration, log *slog.Logger, m *metrics) *Controller {
	if reconcile <= 0 {
		reconcile = 30 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// A previous agent may have left rules, a container and listeners:
	// the first sync checks everything.
	return &Controller{store: store, events: ev, p: p, node: node, reconcile: reconcile, log: log, m: m,
		problems: map[string]bool{}, failing: map[string]string{}, failedNow: map[string]bool{},
		dirty: true, hostApplied: true, fwOn: true}
}

// Run follows the state and the ingress container until ctx ends. On
// the way out the HTTP listeners close (requests in flight get a few
// seconds); the kernel rules and the ingress container stay, so the
// routing mesh keeps working while the agent restarts.
func (c *Controller) Run(ctx context.Context) {
	commits, stopWatch := c.store.Watch()
	defer func() { stopWatch() }()
	defer c.close()
	c.sync(ctx, time.Now(), true)
	sub := c.subscribe(ctx)
	defer func() { sub.cancel() }()
	tick := time.NewTicker(c.reconcile)
	defer tick.Stop()
	var retry <-chan time.Time
	backoff := time.Second
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-commits:
			at := time.Now()
			if !ok { // the store dropped the watch: watch again
				commits, stopWatch = c.store.Watch()
				c.dirty = true
			}
			evs := append(collect(commits), e)
			if ok && c.passOver(evs) {
				continue
			}
			c.sync(ctx, at, false)
		case <-sub.msgs:
			drain(sub.msgs)
			c.sbStale = true
			c.sync(ctx, time.Now(), false)
			backoff = time.Second
		case err := <-sub.errs:
			sub.cancel()
			sub = subscription{cancel: func() {}}
			c.m.fail("events")
			c.log.Warn("engine event stream ended; retrying", "err", err, "in", backoff)
			retry = time.After(backoff)
			backoff = min(backoff*2, 30*time.Second)
		case <-retry:
			retry = nil
			sub = c.subscribe(ctx)
			c.sbStale = true
			c.sync(ctx, time.Now(), false)
		case <-tick.C:
			c.sync(ctx, time.Now(), true)
			c.reconcilePlanes(ctx)
		}
	}
}

// subscription is the engine's event stream about the ingress container.
type subscription struct {
	msgs   <-chan events.Message
	errs   <-chan error
	cancel context.CancelFunc
}

// ingressEvents selects the events of the ingress container that change
// its namespace or existence.
func ingressEvents() filters.Args {
	return filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)), filters.Arg("label", LabelIngress),
		filters.Arg("event", string(events.ActionStart)), filters.Arg("event", string(events.ActionDie)),
		filters.Arg("event", string(events.ActionDestroy)))
}

func (c *Controller) subscribe(ctx context.Context) subscription {
	ctx, cancel := context.WithCancel(ctx)
	msgs, errs := c.events.Events(ctx, events.ListOptions{Filters: ingressEvents()})
	return subscription{msgs: msgs, errs: errs, cancel: cancel}
}

// collect takes the events already queued on ch.
func collect(ch <-chan state.Event) []state.Event {
	var evs []state.Event
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return evs
			}
			evs = append(evs, e)
		default:
			return evs
		}
	}
}

// passOver tells whether the burst evs leaves the plan as it is (and
// then reports the state applied): nothing pending, nothing failed, and
// no commit about what the plan depends on.
func (c *Controller) passOver(evs []state.Event) bool {
	if c.dirty || c.sbStale || c.interest.services == nil {
		return false
	}
	var idx uint64
	affects := false
	c.store.View(func(tx state.ReadTx) { idx, affects = tx.Index(), c.interest.affects(tx, evs) })
	if affects {
		return false
	}
	c.m.passedOver()
	if c.applied != nil {
		c.applied(idx)
	}
	return true
}

func drain[T any](ch <-chan T) {
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		default:
			return
		}
	}
}

// sync recomputes the plan and applies what changed; full re-checks the
// container and the DOCKER-USER rules too. at is when the first commit
// of the burst arrived.
func (c *Controller) sync(ctx context.Context, at time.Time, full bool) {
	var plan Plan
	var idx uint64
	var in interest
	c.store.View(func(tx state.ReadTx) { idx, plan, in = tx.Index(), Compute(tx, c.node), interestOf(tx) })
	c.interest = in
	c.m.computed()
	defer func() {
		if c.applied != nil && !c.dirty { // dirty: something failed, the next sync retries
			c.applied(idx)
		}
	}()
	if !full && !c.dirty && !c.sbStale && reflect.DeepEqual(plan, c.plan) {
		return
	}
	full = full || c.dirty
	c.dirty = false
	c.plan = plan
	c.syncSandbox(ctx, full)
	c.syncIngress(ctx)
	hostState := plan.HostState(c.sb)
	c.syncHost(ctx, hostState)
	c.syncFirewall(ctx, len(hostState.Published) > 0, full)
	c.report(append(slices.Clone(plan.Problems), c.syncHTTP()...))
	c.recovered()
	c.m.setPorts(plan)
	c.m.synced(time.Since(at))
}

// OnApplied sets fn to be told the raft index of the state the
// controller applied (routing mesh rules, HTTP pools), none failing, on
// Run's goroutine. Call it before Run.
func (c *Controller) OnApplied(fn func(index uint64)) { c.applied = fn }

// report logs each problem once, while it lasts.
func (c *Controller) report(problems []string) {
	now := map[string]bool{}
	for _, p := range problems {
		now[p] = true
		if !c.problems[p] {
			c.log.Warn("a published port is not served as asked", "problem", p)
		}
	}
	c.problems = now
}

// failed records a failure: the next sync does everything again. A
// failure repeated as it was is logged at debug level only.
func (c *Controller) failed(op, msg string, err error, args ...any) {
	c.dirty = true
	c.m.fail(op)
	text := msg + ": " + err.Error()
	level := slog.LevelWarn
	if c.failing[op] == text {
		level = slog.LevelDebug
	}
	c.failing[op] = text
	c.failedNow[op] = true
	c.log.Log(context.Background(), level, msg+" (retried every reconcile interval)", append(args, "err", err)...)
}

// recovered forgets the failures of the operations that worked this time.
func (c *Controller) recovered() {
	for op := range c.failing {
		if !c.failedNow[op] {
			c.log.Info("published ports: works again", "op", op)
			delete(c.failing, op)
		}
	}
	clear(c.failedNow)
}

// close releases the planes (their rules stay), the listeners and the
// namespace.
func (c *Controller) close() {
	var errs []error
	for _, p := range []l4.DataPlane{c.host, c.inner} {
		if p != nil {
			errs = append(errs, p.Close())
		}
	}
	c.host, c.inner = nil, nil
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	errs = append(errs, c.p.front.Shutdown(ctx))
	c.p.dial.Close()
	if err := errors.Join(errs...); err != nil {
		c.log.Debug("closing the published ports' parts", "err", err)
	}
}

func shortID(id string) string { return id[:min(len(id), 12)] }
