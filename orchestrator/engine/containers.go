package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// ContainerDocker is the part of the engine API the container watcher uses.
type ContainerDocker interface {
	Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error)
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error)
}

// Containers records in the state what this node's engine observes of the
// containers behind its endpoints: name, aliases, running, health. It
// follows the engine's container and network events (a change reaches the
// state one inspect and one commit after its event) and compares
// everything periodically, so a missed event never leaves a ghost.
type Containers struct {
	docker  ContainerDocker
	cluster Cluster
	node    string
	every   time.Duration
	log     *slog.Logger
	ready   *Readiness
}

// NewContainers returns a container watcher for the engine of node that
// compares everything every period.
func NewContainers(docker ContainerDocker, cluster Cluster, node string, period time.Duration, log *slog.Logger) *Containers {
	return &Containers{docker: docker, cluster: cluster, node: node, every: period, log: log, ready: NewReadiness(log)}
}

// Run follows the engine until ctx ends, reconnecting with back-off.
func (c *Containers) Run(ctx context.Context) {
	followEngine(ctx, c.log, c.follow)
	c.ready.Wait()
}

func (c *Containers) follow(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f := filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)),
		filters.Arg("type", string(events.NetworkEventType)))
	msgs, errs := c.docker.Events(ctx, events.ListOptions{Filters: f})
	if err := c.Sync(ctx); err != nil {
		c.log.Warn("container sync", "err", err)
	}
	tick := time.NewTicker(c.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			return fmt.Errorf("engine: events: %w", err)
		case id := <-c.ready.Done(): // its app listens now
			if err := c.refresh(ctx, map[string]bool{id: true}); err != nil {
				c.log.Warn("container refresh after its ports answered", "err", err)
			}
		case m := <-msgs:
			// Take every event already queued: one pass, one commit.
			dirty := map[string]bool{}
			for more := true; more; {
				if id := eventContainer(m); id != "" {
					dirty[id] = true
				}
				select {
				case m = <-msgs:
				default:
					more = false
				}
			}
			if err := c.refresh(ctx, dirty); err != nil {
				c.log.Warn("container refresh after event", "err", err)
			}
		case <-tick.C:
			if err := c.Sync(ctx); err != nil {
				c.log.Warn("periodic container sync", "err", err)
			}
		}
	}
}

// eventContainer is the container an event is about, "" for events that
// change nothing discovery sees.
func eventContainer(m events.Message) string {
	switch m.Type {
	case events.NetworkEventType:
		if m.Action == events.ActionConnect || m.Action == events.ActionDisconnect {
			return m.Actor.Attributes["container"]
		}
	case events.ContainerEventType:
		switch m.Action {
		case events.ActionStart, events.ActionDie, events.ActionKill, events.ActionStop, events.ActionRename,
			events.ActionPause, events.ActionUnPause, events.ActionDestroy,
			events.ActionHealthStatusHealthy, events.ActionHealthStatusUnhealthy, events.ActionHealthStatusRunning:
			return m.Actor.ID
		}
		if len(m.Action) > len("health_status") && m.Action[:len("health_status")] == "health_status" {
			return m.Actor.ID
		}
	}
	return ""
}

// refresh inspects the given containers and commits what changed.
func (c *Containers) refresh(ctx context.Context, ids map[string]bool) error {
	var errs []error
	seen := map[string]state.EndpointUpdate{}
	gone := map[string]bool{}
	for id := range ids {
		in, err := c.docker.ContainerInspect(ctx, id)
		switch {
		case cerrdefs.IsNotFound(err):
			gone[id] = true
			c.ready.Forget(id)
		case err != nil:
			errs = append(errs, fmt.Errorf("engine: inspect container %.12s: %w", id, err))
		default:
			obs := Observed(in)
			c.ready.Hold(ctx, in, obs)
			for epID, u := range obs {
				seen[epID] = u
			}
			if !in.State.Running {
				gone[in.ID] = true // its endpoints the engine no longer lists stop too
			}
		}
	}
	var cmd state.SetEndpointStatus
	c.cluster.View(func(tx state.ReadTx) {
		cmd = planStatus(tx, c.node, seen, func(ep *state.Endpoint) bool { return gone[ep.ContainerID] })
	})
	return errors.Join(append(errs, c.commit(ctx, cmd))...)
}

// Sync compares every endpoint of this node with the engine's running
// containers.
func (c *Containers) Sync(ctx context.Context) error {
	list, err := c.docker.ContainerList(ctx, container.ListOptions{})
	if err != nil {
		return fmt.Errorf("engine: list containers: %w", err)
	}
	mine := map[string]bool{}
	c.cluster.View(func(tx state.ReadTx) {
		for _, n := range tx.Networks() {
			for _, ep := range tx.Endpoints(n.ID) {
				if ep.Node == c.node {
					mine[ep.ID] = true
				}
			}
		}
	})
	var errs []error
	seen := map[string]state.EndpointUpdate{}
	running := map[string]bool{}
	for _, s := range list {
		running[s.ID] = true
		if !hasEndpoint(s, mine) {
			continue
		}
		in, err := c.docker.ContainerInspect(ctx, s.ID)
		if err != nil {
			if !cerrdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("engine: inspect container %.12s: %w", s.ID, err))
			}
			continue
		}
		obs := Observed(in)
		c.ready.Hold(ctx, in, obs)
		for epID, u := range obs {
			seen[epID] = u
		}
	}
	c.ready.Keep(running)
	var cmd state.SetEndpointStatus
	c.cluster.View(func(tx state.ReadTx) { cmd = planStatus(tx, c.node, seen, func(*state.Endpoint) bool { return true }) })
	return errors.Join(append(errs, c.commit(ctx, cmd))...)
}

func hasEndpoint(s container.Summary, mine map[string]bool) bool {
	if s.NetworkSettings == nil {
		return false
	}
	for _, es := range s.NetworkSettings.Networks {
		if es != nil && mine[es.EndpointID] {
			return true
		}
	}
	return false
}

func (c *Containers) commit(ctx context.Context, cmd state.SetEndpointStatus) error {
	if len(cmd.Endpoints) == 0 {
		return nil
	}
	if _, err := c.cluster.Propose(ctx, cmd); err != nil {
		return fmt.Errorf("engine: record %d endpoint status(es): %w", len(cmd.Endpoints), err)
	}
	return nil
}
