package engine

import (
	"slices"
	"strings"

	"github.com/docker/docker/api/types/container"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// Labels of service containers: xo.service makes a container (hand-run
// or a task) a member of a service; the executor adds xo.task to the
// containers of the tasks it runs.
const (
	ServiceLabel = "xo.service"
	TaskLabel    = "xo.task"
)

// Observed is what an inspect says of each of the container's endpoints,
// by endpoint ID.
func Observed(in container.InspectResponse) map[string]state.EndpointUpdate {
	if in.ContainerJSONBase == nil || in.NetworkSettings == nil {
		return nil
	}
	name := strings.TrimPrefix(in.Name, "/")
	st := state.EndpointStatus{}
	if s := in.State; s != nil {
		st.Running = s.Running && !s.Paused && !s.Restarting
		if s.Health != nil && st.Running {
			st.Health = string(s.Health.Status)
		}
	}
	if in.Config != nil {
		st.Service, st.Task = in.Config.Labels[ServiceLabel], in.Config.Labels[TaskLabel]
	}
	out := map[string]state.EndpointUpdate{}
	for _, es := range in.NetworkSettings.Networks {
		if es == nil || es.EndpointID == "" {
			continue
		}
		s := st
		s.Aliases = aliases(es.Aliases, name, in.ID)
		out[es.EndpointID] = state.EndpointUpdate{ID: es.EndpointID, ContainerID: in.ID, Container: name, Status: s}
	}
	return out
}

// aliases drops the names discovery knows anyway (the container name and
// the short ID Docker adds), sorted and without duplicates.
func aliases(in []string, name, id string) []string {
	var out []string
	for _, a := range in {
		if a == "" || a == name || (len(id) >= 12 && a == id[:12]) {
			continue
		}
		out = append(out, a)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// planStatus is the pure part of the watcher: updates for this node's
// endpoints whose observed container differs from the state. Endpoints
// the engine no longer shows running (stale(ep)) are marked stopped.
func planStatus(tx state.ReadTx, node string, seen map[string]state.EndpointUpdate, stale func(*state.Endpoint) bool) state.SetEndpointStatus {
	var cmd state.SetEndpointStatus
	for _, n := range tx.Networks() {
		for _, ep := range tx.Endpoints(n.ID) {
			if ep.Node != node {
				continue
			}
			u, ok := seen[ep.ID]
			if !ok {
				if !ep.Running || !stale(ep) {
					continue
				}
				u = state.EndpointUpdate{ID: ep.ID, ContainerID: ep.ContainerID, Container: ep.Container, Status: ep.EndpointStatus}
				u.Status.Running, u.Status.Health = false, ""
			}
			if u.ContainerID == ep.ContainerID && u.Container == ep.Container && u.Status.Equal(ep.EndpointStatus) {
				continue
			}
			cmd.Endpoints = append(cmd.Endpoints, u)
		}
	}
	return cmd
}
