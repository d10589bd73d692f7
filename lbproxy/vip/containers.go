package vip

import (
	"context"
	"fmt"
	"slices"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/xoverlay/xoverlay/lbproxy/ingress"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// subscription is one engine event stream.
type subscription struct {
	msgs   <-chan events.Message
	errs   <-chan error
	cancel context.CancelFunc
}

// subscribe follows the events that change a container's namespace or
// networks: start, die, network connect and disconnect.
func (c *Controller) subscribe(ctx context.Context) subscription {
	ctx, cancel := context.WithCancel(ctx)
	f := filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)), filters.Arg("type", string(events.NetworkEventType)),
		filters.Arg("event", string(events.ActionStart)), filters.Arg("event", string(events.ActionDie)),
		filters.Arg("event", string(events.ActionConnect)), filters.Arg("event", string(events.ActionDisconnect)))
	msgs, errs := c.engine.Events(ctx, events.ListOptions{Filters: f})
	return subscription{msgs: msgs, errs: errs, cancel: cancel}
}

// onEngineEvents handles m and every event already queued behind it, the
// last one per container.
func (c *Controller) onEngineEvents(ctx context.Context, m events.Message, more <-chan events.Message) {
	last := map[string]events.Action{}
	for queued := true; queued; {
		id := m.Actor.ID
		if m.Type == events.NetworkEventType {
			id = m.Actor.Attributes["container"]
		}
		if id != "" {
			last[id] = m.Action
		}
		select {
		case m, queued = <-more:
		default:
			queued = false
		}
	}
	ids := make([]string, 0, len(last))
	for id := range last {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if last[id] == events.ActionDie {
			c.forget(id)
			continue
		}
		c.refresh(ctx, id)
	}
}

// syncEngine compares the running containers with what the controller
// knows: new ones and ones whose networks changed are read again, gone
// ones forgotten. It catches whatever events were missed.
func (c *Controller) syncEngine(ctx context.Context) {
	list, err := c.engine.ContainerList(ctx, container.ListOptions{})
	if err != nil {
		c.m.fail("list")
		c.log.Warn("listing the engine's containers", "err", err)
		return
	}
	running := map[string]bool{}
	for _, s := range list {
		running[s.ID] = true
		n, known := c.ns[s.ID]
		if !known || !slices.Equal(n.eps, summaryEndpoints(s)) {
			c.refresh(ctx, s.ID)
		}
	}
	for _, id := range sortedIDs(c.ns) {
		if !running[id] {
			c.forget(id)
		}
	}
}

func summaryEndpoints(s container.Summary) []string {
	var out []string
	if s.NetworkSettings != nil {
		for _, es := range s.NetworkSettings.Networks {
			if es != nil && es.EndpointID != "" {
				out = append(out, es.EndpointID)
			}
		}
	}
	slices.Sort(out)
	return out
}

// refresh reads one container from the engine and applies its VIPs.
func (c *Controller) refresh(ctx context.Context, id string) {
	in, err := c.engine.ContainerInspect(ctx, id)
	if cerrdefs.IsNotFound(err) {
		c.forget(id)
		return
	}
	if err != nil {
		c.m.fail("inspect")
		c.log.Warn("inspecting a container", "container", shortID(id), "err", err)
		return
	}
	path, eps, ok := target(in)
	if !ok {
		c.forget(id)
		return
	}
	n := c.ns[id]
	if n != nil && n.path != path { // restarted: a new namespace
		c.release(n, false)
		n = nil
	}
	if n == nil {
		n = &namespace{id: id, path: path}
		c.ns[id] = n
	}
	var networks []string
	c.store.View(func(tx state.ReadTx) { networks = c.networksOf(tx, eps) })
	same := n.plane != nil && !n.failed && slices.Equal(networks, n.networks)
	n.eps, n.networks = eps, networks
	switch {
	case same: // an event about what the controller already applied
	case len(networks) == 0 && n.plane == nil: // on no xoverlay network of this node
	default:
		c.apply(ctx, n)
	}
}

// forget drops a container that is gone: its namespace goes with it.
func (c *Controller) forget(id string) {
	if n, ok := c.ns[id]; ok {
		c.release(n, false)
		delete(c.ns, id)
	}
}

// target returns a running container's network namespace and endpoint
// IDs; ok is false for a container that is not running or shares
// another's (or the host's) namespace.
func target(in container.InspectResponse) (path string, eps []string, ok bool) {
	if in.ContainerJSONBase == nil || in.State == nil || !in.State.Running {
		return "", nil, false
	}
	if hc := in.HostConfig; hc != nil {
		if mode := hc.NetworkMode; mode.IsHost() || mode.IsNone() || mode.IsContainer() {
			return "", nil, false
		}
	}
	if in.Config != nil && in.Config.Labels[ingress.LabelIngress] != "" {
		return "", nil, false // the routing mesh's sandbox: its own tables, no client of VIPs
	}
	if in.NetworkSettings != nil {
		path = in.NetworkSettings.SandboxKey
		for _, es := range in.NetworkSettings.Networks {
			if es != nil && es.EndpointID != "" {
				eps = append(eps, es.EndpointID)
			}
		}
	}
	if path == "" && in.State.Pid > 0 {
		path = fmt.Sprintf("/proc/%d/ns/net", in.State.Pid)
	}
	slices.Sort(eps)
	return path, eps, path != ""
}
