package vip

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// Store is the replica the controller reads.
type Store interface {
	View(fn func(state.ReadTx))
	Watch() (<-chan state.Event, func())
}

// Engine is the part of the local Docker engine's API the controller
// reads.
type Engine interface {
	Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error)
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error)
}

// OpenPlane opens the data plane of the network namespace at nsPath.
type OpenPlane func(nsPath string) (l4.DataPlane, error)

// remover is a plane that can take its rules out of a namespace that
// stays (nft.Plane).
type remover interface{ Remove() error }

// Options configure a Controller.
type Options struct {
	Node      string        // this node's ID: only its endpoints are local
	Plane     string        // the data plane's name, for logs and xo_lb_dataplane_info
	Open      OpenPlane     // opens Plane in a namespace
	Reconcile time.Duration // how often the engine is listed and the kernel checked (default 30s)
	Log       *slog.Logger
	Metrics   *Metrics
	// Applied, when set, is told the raft index of the state the
	// controller applied to every namespace (none failing), on Run's
	// goroutine.
	Applied func(index uint64)
}

// Controller keeps the VIPs of every local container's namespace in step
// with the state. Run owns everything; nothing else may touch it.
type Controller struct {
	store  Store
	engine Engine
	opt    Options
	log    *slog.Logger
	m      *Metrics

	trk   *tracker              // the VIP table, kept up with the commits
	batch []state.Event         // reused by Run for each burst
	ns    map[string]*namespace // container ID -> what it has
}

// namespace is one container as the controller knows it.
type namespace struct {
	id       string
	path     string   // its network namespace
	eps      []string // the engine's endpoint IDs of its networks
	networks []string // the xoverlay networks of this node it is on (sorted)
	plane    l4.DataPlane
	failed   bool // the last open or apply failed: retried every period
}

// New returns a controller; Run starts it.
func New(store Store, engine Engine, opt Options) *Controller {
	if opt.Reconcile <= 0 {
		opt.Reconcile = 30 * time.Second
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	return &Controller{store: store, engine: engine, opt: opt, log: opt.Log, m: opt.Metrics,
		trk: newTracker(), ns: map[string]*namespace{}}
}

// Run follows the state and the engine until ctx ends, then closes every
// plane. The kernel planes leave their rules in place, so traffic to the
// VIPs keeps flowing while the agent restarts; the next agent's first
// apply replaces them.
func (c *Controller) Run(ctx context.Context) {
	c.m.setPlane(c.opt.Plane)
	commits, stopWatch := c.store.Watch()
	defer func() { stopWatch() }()
	defer c.closeAll()
	c.syncState(ctx, time.Now(), nil, true)
	sub := c.subscribe(ctx)
	defer func() { sub.cancel() }()
	c.syncEngine(ctx)
	tick := time.NewTicker(c.opt.Reconcile)
	defer tick.Stop()
	var retry <-chan time.Time
	backoff := time.Second
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-commits:
			at := time.Now()
			batch := append(c.batch[:0], e)
			if !ok { // the store dropped the watch: watch again and rebuild
				commits, stopWatch = c.store.Watch()
				batch = nil
			} else {
				batch, ok = drain(commits, batch)
			}
			c.syncState(ctx, at, batch, !ok)
			c.batch = batch[:0]
		case m := <-sub.msgs:
			c.onEngineEvents(ctx, m, sub.msgs)
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
			c.syncEngine(ctx)
		case <-tick.C:
			c.syncEngine(ctx)
			c.syncState(ctx, time.Now(), nil, true)
			c.reconcile(ctx)
		}
	}
}

// drain appends every commit event already queued to batch (one update
// covers them all); false when the store dropped the watch meanwhile.
func drain(ch <-chan state.Event, batch []state.Event) ([]state.Event, bool) {
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return batch, false
			}
			batch = append(batch, e)
		default:
			return batch, true
		}
	}
}

// syncState brings the table up to date with a burst of commit events
// (or rebuilds it: full) and applies it to the namespaces of the networks
// that changed, and to those whose own networks changed. at is when the
// first commit of the burst arrived.
func (c *Controller) syncState(ctx context.Context, at time.Time, events []state.Event, full bool) {
	var changed map[string]bool
	var nets map[string][]string
	var idx uint64
	var delta map[string]*netDelta // nil: patch nothing, apply
	c.store.View(func(tx state.ReadTx) {
		idx = tx.Index()
		ok := false
		if !full {
			changed, ok = c.trk.update(tx, events)
			delta = c.trk.delta
		}
		if !ok {
			changed, delta = c.trk.rebuild(tx), nil
		}
		nets = make(map[string][]string, len(c.ns))
		for id, n := range c.ns {
			nets[id] = c.networksOf(tx, n.eps)
		}
	})
	applied := 0
	for _, id := range sortedIDs(c.ns) {
		n := c.ns[id]
		if slices.Equal(nets[id], n.networks) && !n.failed && !touches(n.networks, changed) {
			continue
		}
		if slices.Equal(nets[id], n.networks) && !n.failed && c.patch(ctx, n, delta) {
			applied++
			continue
		}
		n.networks = nets[id]
		c.apply(ctx, n)
		applied++
	}
	if applied > 0 {
		c.m.synced(time.Since(at))
		c.log.Debug("state applied", "networks_changed", len(changed), "namespaces", applied, "took", time.Since(at))
	}
	c.applied(idx)
}

// applied reports index to Options.Applied unless a namespace failed.
func (c *Controller) applied(index uint64) {
	if c.opt.Applied == nil {
		return
	}
	for _, n := range c.ns {
		if n.failed {
			return
		}
	}
	c.opt.Applied(index)
}

func touches(networks []string, changed map[string]bool) bool {
	for _, n := range networks {
		if changed[n] {
			return true
		}
	}
	return false
}

// networksOf returns the xoverlay networks of this node behind a
// container's endpoint IDs.
func (c *Controller) networksOf(tx state.ReadTx, eps []string) []string {
	var out []string
	for _, id := range eps {
		if ep := tx.Endpoint(id); ep != nil && ep.Node == c.opt.Node {
			out = append(out, ep.NetworkID)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// patcher is a plane that can change some services only (nft.Plane):
// the work grows with the change, not with the number of services.
type patcher interface {
	Patch(ctx context.Context, upsert []l4.Service, remove []l4.Key) error
}

// patch gives a namespace the changes of its networks only, when its
// plane can take them; false when it must apply the whole state.
func (c *Controller) patch(ctx context.Context, n *namespace, delta map[string]*netDelta) bool {
	p, ok := n.plane.(patcher)
	if !ok || delta == nil {
		return false
	}
	var upsert []l4.Service
	var remove []l4.Key
	for _, net := range n.networks {
		if d := delta[net]; d != nil {
			upsert = append(upsert, d.upsert...)
			remove = append(remove, d.remove...)
		}
	}
	if err := p.Patch(ctx, upsert, remove); err != nil {
		c.log.Debug("patching a container's VIPs failed; applying them whole", "container", shortID(n.id), "err", err)
		return false
	}
	return true
}

// apply gives a namespace the VIPs of its networks, opening its plane on
// first use, and taking the rules out when it is on none any more.
func (c *Controller) apply(ctx context.Context, n *namespace) {
	if len(n.networks) == 0 {
		c.release(n, true)
		return
	}
	if n.plane == nil {
		p, err := c.opt.Open(n.path)
		if err != nil {
			n.failed = true
			c.m.fail("open")
			c.log.Warn("cannot balance VIPs in a container: its data plane did not open (retried every reconcile interval)",
				"container", shortID(n.id), "netns", n.path, "err", err)
			return
		}
		n.plane = p
		c.m.namespaces(len(c.planes()))
	}
	if err := n.plane.Apply(ctx, c.trk.table.Desired(n.networks)); err != nil {
		n.failed = true
		c.m.fail("apply")
		c.log.Warn("applying VIPs in a container failed (retried every reconcile interval)",
			"container", shortID(n.id), "netns", n.path, "err", err)
		return
	}
	n.failed = false
}

// release closes a namespace's plane; with remove, its rules are taken
// out first (the namespace stays, without xoverlay networks).
func (c *Controller) release(n *namespace, remove bool) {
	if n.plane == nil {
		n.failed = false
		return
	}
	var err error
	if remove {
		if r, ok := n.plane.(remover); ok {
			err = r.Remove()
		} else {
			err = n.plane.Apply(context.Background(), l4.Desired{})
		}
	}
	err = errors.Join(err, n.plane.Close())
	if err != nil {
		c.m.fail("close")
		c.log.Debug("closing a container's data plane", "container", shortID(n.id), "err", err)
	}
	n.plane, n.failed = nil, false
	c.m.namespaces(len(c.planes()))
}

// reconcile checks every plane against the kernel, and retries the
// namespaces whose last open or apply failed.
func (c *Controller) reconcile(ctx context.Context) {
	for _, id := range sortedIDs(c.ns) {
		n := c.ns[id]
		if n.failed {
			c.apply(ctx, n)
			continue
		}
		if n.plane == nil {
			continue
		}
		if fixes, err := n.plane.Reconcile(ctx); err != nil {
			c.m.fail("reconcile")
			c.log.Warn("reconciling a container's VIPs", "container", shortID(id), "err", err)
		} else if fixes > 0 {
			c.log.Info("container's VIP rules repaired", "container", shortID(id), "fixes", fixes)
		}
	}
}

func (c *Controller) planes() []l4.DataPlane {
	var out []l4.DataPlane
	for _, n := range c.ns {
		if n.plane != nil {
			out = append(out, n.plane)
		}
	}
	return out
}

func (c *Controller) closeAll() {
	for _, id := range sortedIDs(c.ns) {
		c.release(c.ns[id], false)
	}
	c.ns = map[string]*namespace{}
}

func sortedIDs(m map[string]*namespace) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func shortID(id string) string { return id[:min(len(id), 12)] }
