package apiserver

import (
	"cmp"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

func (s *Server) listServices(*http.Request) (any, error) {
	out := []api.Service{}
	s.r.View(func(tx state.ReadTx) {
		for _, svc := range tx.Services() {
			out = append(out, buildService(tx, svc))
		}
	})
	return out, nil
}

func (s *Server) getService(r *http.Request) (any, error) {
	var out api.Service
	err := inView(s, r, resolveService, func(tx state.ReadTx, svc *state.Service) error {
		out = buildService(tx, svc)
		return nil
	})
	return out, err
}

// listTasks answers the tasks of a service, current and past, in the
// store's order: by slot (or node), then creation.
func (s *Server) listTasks(r *http.Request) (any, error) {
	out := []api.Task{}
	err := inView(s, r, resolveService, func(tx state.ReadTx, svc *state.Service) error {
		for _, t := range tx.Tasks(svc.ID) {
			out = append(out, buildTask(tx, svc, t))
		}
		return nil
	})
	return out, err
}

// inView finds the object the request's {ref} names and hands it to use,
// in one view of the store.
func inView[T any](s *Server, r *http.Request, find func(state.ReadTx, string) (*T, error), use func(state.ReadTx, *T) error) error {
	var err error
	s.r.View(func(tx state.ReadTx) {
		var v *T
		if v, err = find(tx, r.PathValue("ref")); err == nil {
			err = use(tx, v)
		}
	})
	return err
}

// resolveService finds a service by ID, name or unique ID prefix.
func resolveService(tx state.ReadTx, ref string) (*state.Service, error) {
	return lookup[state.Service]{
		noun: "service", byID: tx.Service, all: tx.Services(),
		name: func(s *state.Service) string { return s.Name },
		id:   func(s *state.Service) string { return s.ID },
		describe: func(ss []*state.Service) string {
			parts := make([]string, 0, len(ss))
			for _, s := range ss {
				parts = append(parts, api.ShortID(s.ID)+" ("+s.Name+")")
			}
			return strings.Join(parts, ", ")
		},
	}.resolve(ref)
}

// resolveTask finds a task by ID, name (SERVICE.SLOT.ID) or unique ID
// prefix.
func resolveTask(tx state.ReadTx, ref string) (*state.Task, error) {
	return lookup[state.Task]{
		noun: "task", byID: tx.Task, all: tx.Tasks(""),
		name: func(t *state.Task) string { return state.TaskName(serviceName(tx, t.ServiceID), t) },
		id:   func(t *state.Task) string { return t.ID },
		describe: func(ts []*state.Task) string {
			parts := make([]string, 0, len(ts))
			for _, t := range ts {
				parts = append(parts, state.TaskName(serviceName(tx, t.ServiceID), t))
			}
			return strings.Join(parts, ", ")
		},
	}.resolve(ref)
}

// serviceName is a service's name, "" when it is gone (its tasks may
// outlive it while their containers stop).
func serviceName(tx state.ReadTx, id string) string {
	if svc := tx.Service(id); svc != nil {
		return svc.Name
	}
	return ""
}

// buildService turns a state service into the wire form, with its
// replica counts.
func buildService(tx state.ReadTx, svc *state.Service) api.Service {
	spec := specToAPI(svc.Spec)
	out := api.Service{
		ID: svc.ID, Name: svc.Name, Mode: svc.Spec.Mode, Image: spec.Image, Ports: spec.Ports, Spec: spec,
		External: svc.External, CreatedAt: svc.CreatedAt, UpdatedAt: svc.UpdatedAt, Version: svc.SpecVersion,
		Replicas: replicas(tx, svc),
	}
	if svc.External {
		out.Mode = api.ModeExternal
	}
	addUpdate(&out, svc)
	for _, id := range slices.Sorted(maps.Keys(svc.VIPs)) {
		out.VirtualIPs = append(out.VirtualIPs, api.VirtualIP{NetworkID: id, Addr: svc.VIPs[id]})
	}
	return out
}

// replicas counts a service's running and desired tasks (see
// api.ServiceReplicas).
func replicas(tx state.ReadTx, svc *state.Service) api.ServiceReplicas {
	var r api.ServiceReplicas
	if svc.External {
		return members(tx, svc.Name)
	}
	for _, t := range tx.Tasks(svc.ID) {
		if n := tx.Node(t.NodeID); t.Status.State == state.TaskRunning && n != nil && n.Status != state.StatusDown {
			r.Running++
		}
	}
	if !svc.Global() {
		r.Desired = svc.Spec.Replicas
		return r
	}
	for _, n := range tx.Nodes() {
		if n.Availability != state.AvailabilityDrain && n.Status != state.StatusDown &&
			state.MatchesAll(n, svc.Spec.Constraints) {
			r.Desired++
		}
	}
	return r
}

// members counts the hand-run containers of an external service (one
// per container, whatever its networks) and those in service.
func members(tx state.ReadTx, name string) api.ServiceReplicas {
	inService := map[string]bool{}
	for _, ep := range tx.Endpoints("") {
		if ep.Service == name {
			key := cmp.Or(ep.ContainerID, ep.ID)
			inService[key] = inService[key] || (ep.InService() && !ep.Drained)
		}
	}
	r := api.ServiceReplicas{Desired: uint64(len(inService))}
	for _, ok := range inService {
		if ok {
			r.Running++
		}
	}
	return r
}

// buildTask turns a task of svc into the wire form.
func buildTask(tx state.ReadTx, svc *state.Service, t *state.Task) api.Task {
	out := api.Task{
		ID: t.ID, Name: state.TaskName(svc.Name, t), ServiceID: t.ServiceID, Service: svc.Name, Slot: t.Slot,
		NodeID: t.NodeID, Image: taskImage(svc, t), DesiredState: string(t.DesiredState), State: string(t.Status.State),
		Message: t.Status.Message, Err: t.Status.Err, Timestamp: t.Status.Timestamp,
		ContainerID: t.Status.ContainerID, ExitCode: t.Status.ExitCode, CreatedAt: t.CreatedAt,
		Outdated: svc.Outdated(t), Draining: t.Draining,
	}
	if t.NodeID != "" {
		out.Node = hostname(tx, t.NodeID)
	}
	return out
}

// taskImage is the image a task runs: the spec's, or the previous spec's
// for a task made before the last change of what tasks run (the store
// keeps only those two specs).
func taskImage(svc *state.Service, t *state.Task) string { return svc.TaskSpec(t).Image }

// specToAPI copies a spec into the wire type, which has the same fields
// and JSON names (TestSpecConversion keeps them so). Requests go the other
// way when their body is decoded into state's type.
func specToAPI(spec state.ServiceSpec) api.ServiceSpec {
	var out api.ServiceSpec
	b, err := json.Marshal(spec)
	if err == nil {
		err = json.Unmarshal(b, &out)
	}
	if err != nil { // plain structs: cannot happen
		panic("apiserver: service spec conversion: " + err.Error())
	}
	return out
}
