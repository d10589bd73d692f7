package apiserver

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// ContainerDrainer is the optional part of Ops behind xo drain: without
// it, POST /v1/containers/{ref}/drain answers 501.
type ContainerDrainer interface {
	// ContainerDrain takes a hand-run container's endpoints out of
	// service (state.DrainContainer), or back in with undo, and waits
	// until every node that is not down acknowledged it, at most timeout
	// (0: the agent's default).
	ContainerDrain(ctx context.Context, containerID string, undo bool, timeout time.Duration) (DrainOutcome, error)
}

// DrainOutcome is what a ContainerDrainer did.
type DrainOutcome struct {
	Changed int      // endpoints changed
	Nodes   []string // hostnames of the nodes asked
	Missing []string // those that did not acknowledge in time
	Timeout time.Duration
}

// container is a container as the state's endpoints know it.
type container struct {
	id, name, node, host, service, task string
	running                             bool
	addrs                               []string
}

// drainContainer is POST /v1/containers/{ref}/drain.
func (s *Server) drainContainer(r *http.Request) (any, error) {
	d, ok := s.ops.(ContainerDrainer)
	if !ok {
		return nil, &classed{class: errNotImplemented, msg: "this agent cannot drain containers"}
	}
	var req api.ContainerDrainRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if req.Timeout < 0 {
		return nil, invalid("timeout %s: want a positive duration, or 0 for the agent's default", req.Timeout)
	}
	var c container
	var err error
	s.r.View(func(tx state.ReadTx) { c, err = resolveContainer(tx, r.PathValue("ref"), s.info().NodeID) })
	if err != nil {
		return nil, err
	}
	if err := drainable(c, req.Undo); err != nil {
		return nil, err
	}
	out, err := d.ContainerDrain(r.Context(), c.id, req.Undo, req.Timeout)
	if err != nil {
		return nil, err
	}
	return api.ContainerDrainResult{Container: c.name, ContainerID: c.id, Node: c.host, Service: c.service,
		Addresses: c.addrs, Undo: req.Undo, Changed: out.Changed > 0, Nodes: out.Nodes, Missing: out.Missing,
		Timeout: out.Timeout}, nil
}

// drainable refuses, with the fix, what xo drain cannot take out.
func drainable(c container, undo bool) error {
	switch {
	case c.task != "":
		return fmt.Errorf("%w: container %s runs a task of service %s, which xo manages: xo service update, scale and rm "+
			"take its tasks out of service themselves", state.ErrConflict, c.name, c.service)
	case undo:
		return nil
	case c.service == "":
		return fmt.Errorf("%w: container %s (on %s) is no backend of any service: it was run without --label xo.service=NAME, "+
			"so no service name, VIP or published port sends to it; to take its own name out of DNS, stop it or "+
			"disconnect it from its networks", state.ErrConflict, c.name, c.host)
	case !c.running:
		return fmt.Errorf("%w: container %s (on %s) is not running: it takes no traffic already", state.ErrConflict, c.name, c.host)
	}
	return nil
}

// containers groups the endpoints of the state by container.
func containers(tx state.ReadTx) []container {
	byID := map[string]*container{}
	for _, ep := range tx.Endpoints("") {
		if ep.ContainerID == "" {
			continue
		}
		c := byID[ep.ContainerID]
		if c == nil {
			c = &container{id: ep.ContainerID, name: cmp.Or(ep.Container, api.ShortID(ep.ContainerID)),
				node: ep.Node, host: hostname(tx, ep.Node)}
			byID[ep.ContainerID] = c
		}
		c.service = cmp.Or(c.service, ep.Service)
		c.task = cmp.Or(c.task, ep.Task)
		c.running = c.running || ep.Running
		c.addrs = append(c.addrs, ep.IP)
	}
	out := make([]container, 0, len(byID))
	for _, c := range byID {
		slices.SortFunc(c.addrs, compareAddrs)
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b container) int { return cmp.Or(strings.Compare(a.host, b.host), strings.Compare(a.id, b.id)) })
	return out
}

// resolveContainer finds a container on an xoverlay network, on any
// host, as Docker does: full ID, name, then unique ID prefix. A name
// used on several hosts means the one on local (this agent's node).
func resolveContainer(tx state.ReadTx, ref, local string) (container, error) {
	ref = strings.TrimPrefix(ref, "/")
	if ref == "" {
		return container{}, invalid("empty container name or ID")
	}
	all := containers(tx)
	var named, prefixed []container
	for _, c := range all {
		switch {
		case c.id == ref:
			return c, nil
		case c.name == ref:
			named = append(named, c)
		}
		if strings.HasPrefix(c.id, ref) {
			prefixed = append(prefixed, c)
		}
	}
	if len(named) > 1 {
		if i := slices.IndexFunc(named, func(c container) bool { return c.node == local }); i >= 0 {
			return named[i], nil
		}
		return container{}, invalid("container name %q is ambiguous: %s; use its ID, or run xo drain on its host", ref, describeContainers(named))
	}
	switch {
	case len(named) == 1:
		return named[0], nil
	case len(prefixed) == 1:
		return prefixed[0], nil
	case len(prefixed) > 1:
		return container{}, invalid("container ID prefix %q is ambiguous: %s; use a longer prefix", ref, describeContainers(prefixed))
	}
	return container{}, notFound("no container %q on an xoverlay network: xo drain takes the name or ID of a container "+
		"attached to an xoverlay network, on any host of the cluster (docker ps on its host lists it)", ref)
}

func describeContainers(cs []container) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%s on %s (%s)", c.name, c.host, api.ShortID(c.id))
	}
	return "it names " + strings.Join(parts, ", ")
}
