// Package engine follows the local Docker engine: its event streams and
// periodic syncs keep the names, aliases, running and health of networks
// and endpoints in the cluster state right, and drop records of networks
// and endpoints the engine no longer has.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// Docker is the part of the engine API the watcher uses.
type Docker interface {
	Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error)
	NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error)
	NetworkInspect(ctx context.Context, id string, options network.InspectOptions) (network.Inspect, error)
}

// Cluster is the part of the cluster the watcher uses.
type Cluster interface {
	Propose(ctx context.Context, cmd state.Command) (any, error)
	View(fn func(state.ReadTx))
}

// Watcher keeps the state in step with one engine.
type Watcher struct {
	docker  Docker
	cluster Cluster
	node    string
	driver  string
	grace   time.Duration // records younger than this are never judged stale
	every   time.Duration
	log     *slog.Logger
	now     func() time.Time

	mu      sync.Mutex
	missing map[string]bool // engine IDs of held networks the last Sync did not find
}

// New returns a watcher for the engine of node.
func New(docker Docker, cluster Cluster, node, driver string, log *slog.Logger) *Watcher {
	return &Watcher{
		docker: docker, cluster: cluster, node: node, driver: driver,
		grace: 30 * time.Second, every: 30 * time.Second, log: log, now: time.Now,
	}
}

// Run follows events until ctx ends, reconnecting with back-off.
func (w *Watcher) Run(ctx context.Context) { followEngine(ctx, w.log, w.follow) }

// followEngine runs follow until ctx ends; when the engine's event stream
// ends, it retries after 1, 2, 4 ... 30 seconds.
func followEngine(ctx context.Context, log *slog.Logger, follow func(context.Context) error) {
	backoff := time.Second
	for ctx.Err() == nil {
		err := follow(ctx)
		if ctx.Err() != nil {
			return
		}
		log.Warn("engine event stream ended; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func (w *Watcher) follow(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f := filters.NewArgs(filters.Arg("type", string(events.NetworkEventType)))
	msgs, errs := w.docker.Events(ctx, events.ListOptions{Filters: f})
	if err := w.Sync(ctx); err != nil {
		return err
	}
	tick := time.NewTicker(w.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			return fmt.Errorf("engine: events: %w", err)
		case m := <-msgs:
			if m.Actor.Attributes["type"] != w.driver {
				continue
			}
			if err := w.syncNetwork(ctx, m.Actor.ID); err != nil {
				w.log.Warn("sync network after event", "action", m.Action, "network", m.Actor.ID, "err", err)
			}
		case <-tick.C:
			if err := w.Sync(ctx); err != nil {
				w.log.Warn("periodic sync", "err", err)
			}
		}
	}
}

// Sync compares every xoverlay network of the engine with the state.
func (w *Watcher) Sync(ctx context.Context) error {
	// What this host held before the list: a copy whose creation is under
	// way holds its record before the engine lists it.
	held := map[string]string{}
	w.cluster.View(func(tx state.ReadTx) {
		for _, n := range tx.Networks() {
			if id, ok := n.Engines[w.node]; ok {
				held[n.ID] = id
			}
		}
	})
	list, err := w.docker.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("driver", w.driver))})
	if err != nil {
		return fmt.Errorf("engine: list networks: %w", err)
	}
	seen := map[string]bool{}
	var errs []error
	for _, n := range list {
		seen[n.ID] = true
		errs = append(errs, w.syncNetwork(ctx, n.ID))
	}
	errs = append(errs, w.dropGoneNetworks(ctx, held, seen))
	return errors.Join(errs...)
}

// syncNetwork records the engine's name for a network and drops endpoints
// the engine no longer has.
func (w *Watcher) syncNetwork(ctx context.Context, engineID string) error {
	in, err := w.docker.NetworkInspect(ctx, engineID, network.InspectOptions{})
	if err != nil {
		return fmt.Errorf("engine: inspect network %s: %w", engineID, err)
	}
	var cmds []state.Command
	w.cluster.View(func(tx state.ReadTx) {
		cmds = w.plan(tx, in)
	})
	var errs []error
	for _, c := range cmds {
		if _, err := w.cluster.Propose(ctx, c); err != nil {
			errs = append(errs, fmt.Errorf("engine: %T: %w", c, err))
		}
	}
	return errors.Join(errs...)
}

// plan is the pure part of syncNetwork.
func (w *Watcher) plan(tx state.ReadTx, in network.Inspect) []state.Command {
	var n *state.Network
	for _, nw := range tx.Networks() {
		if nw.Engines[w.node] == in.ID {
			n = nw
			break
		}
	}
	if n == nil {
		return nil
	}
	var cmds []state.Command
	if n.Name != in.Name {
		cmds = append(cmds, state.RenameNetwork{NetworkID: n.ID, Name: in.Name})
	}
	// The containers behind the endpoints are recorded by the container
	// watcher (Containers); this drops the endpoints the engine lost.
	listed := map[string]bool{}
	for _, res := range in.Containers {
		listed[res.EndpointID] = true
	}
	for _, ep := range tx.Endpoints(n.ID) {
		if ep.Node == w.node && !listed[ep.ID] && w.now().Sub(ep.CreatedAt) > w.grace {
			cmds = append(cmds, state.DeleteEndpoint{ID: ep.ID})
		}
	}
	return cmds
}

// dropGoneNetworks removes this node's hold on networks its engine lost:
// held before the list, still held, older than the grace period and
// missing from two Syncs in a row (a copy created on this host now can be
// recorded a moment before the engine lists it; CreatedAt is the time the
// network was first created, on whichever host).
func (w *Watcher) dropGoneNetworks(ctx context.Context, held map[string]string, seen map[string]bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var gone []string
	missing := map[string]bool{}
	w.cluster.View(func(tx state.ReadTx) {
		for id, engineID := range held {
			n := tx.Network(id)
			if n == nil || n.Engines[w.node] != engineID || seen[engineID] || w.now().Sub(n.CreatedAt) <= w.grace {
				continue
			}
			if w.missing[engineID] {
				gone = append(gone, n.ID)
			} else {
				missing[engineID] = true
			}
		}
	})
	w.missing = missing
	sort.Strings(gone)
	var errs []error
	for _, id := range gone {
		w.log.Info("engine no longer has network; dropping this host's copy", "network", id)
		if _, err := w.cluster.Propose(ctx, state.DetachEngine{NetworkID: id, Node: w.node}); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := w.cluster.Propose(ctx, state.RemoveNetwork{NetworkID: id, Node: w.node}); err != nil && !errors.Is(err, state.ErrConflict) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
