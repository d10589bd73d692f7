package ingress

import (
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// interest is what the last computed plan depends on, so that a burst of
// commits that cannot change it is passed over without recomputing the
// whole plan (a walk over every service and endpoint): creating a
// service that publishes nothing, or a task of one, costs the controller
// a few map lookups, however many services the cluster has.
type interest struct {
	services  map[string]bool // IDs of the services with published ports or HTTP routes
	names     map[string]bool // their names (endpoints name their service)
	endpoints map[string]bool // IDs of the endpoints of those services, in service or not
	tasks     map[string]bool // IDs of the tasks those endpoints run (a task's desired state decides whether its endpoint is in service)
}

// interestOf reads what the plan computed from tx depends on.
func interestOf(tx state.ReadTx) interest {
	in := interest{services: map[string]bool{}, names: map[string]bool{}, endpoints: map[string]bool{}, tasks: map[string]bool{}}
	for _, svc := range tx.Services() {
		if !svc.External && publishes(svc) {
			in.services[svc.ID] = true
			in.names[svc.Name] = true
		}
	}
	if len(in.names) == 0 {
		return in
	}
	tx.EachEndpoint(func(ep *state.Endpoint) bool {
		if in.names[ep.Service] {
			in.endpoints[ep.ID] = true
			if ep.Task != "" {
				in.tasks[ep.Task] = true
			}
		}
		return true
	})
	return in
}

// publishes tells whether a service asks for anything of the ingress:
// a published port, an HTTP route, or routes it gets wrong (a problem
// to report).
func publishes(svc *state.Service) bool {
	if len(published(svc.Spec)) > 0 {
		return true
	}
	routes, err := svc.Spec.HTTPRoutes()
	return err != nil || len(routes) > 0
}

// affects tells whether the commits of evs may change the plan. It is
// conservative: any kind it does not know, a node, a network's
// identity, or a reset of the watch ("all") counts.
func (in interest) affects(tx state.ReadTx, evs []state.Event) bool {
	for _, e := range evs {
		switch e.Kind {
		case "service":
			if in.services[e.ID] {
				return true
			}
			if svc := tx.Service(e.ID); svc != nil && !svc.External && publishes(svc) {
				return true
			}
		case "endpoint":
			if in.endpoints[e.ID] {
				return true
			}
			if ep := tx.Endpoint(e.ID); ep != nil && in.names[ep.Service] {
				return true
			}
		case "task":
			// Tasks count only through the endpoints that run them; an
			// endpoint that starts running one is an endpoint commit.
			if in.tasks[e.ID] {
				return true
			}
		case "network":
			if e.Action != state.ActionReserve {
				return true
			}
		default:
			return true
		}
	}
	return false
}
