package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

func (s *Server) createService(r *http.Request) (any, error) {
	var spec state.ServiceSpec
	if err := decodeSpec(r, &spec); err != nil {
		return nil, err
	}
	var err error
	s.r.View(func(tx state.ReadTx) { spec, err = checkSpec(tx, spec, nil) })
	if err != nil {
		return nil, err
	}
	id, err := s.ops.ServiceCreate(r.Context(), spec)
	if err != nil {
		return nil, err
	}
	return reply{code: http.StatusCreated, body: s.serviceAnswer(id, spec)}, nil
}

// serviceUpdate is the body of POST /v1/services/{ref}/update, decoded
// into state's spec (api.ServiceUpdateRequest on the wire).
type serviceUpdate struct {
	Version uint64            `json:"version"`
	Spec    state.ServiceSpec `json:"spec"`
}

func (s *Server) updateService(r *http.Request) (any, error) {
	var req serviceUpdate
	if err := decodeSpec(r, &req); err != nil {
		return nil, err
	}
	var id string
	err := inView(s, r, resolveService, func(tx state.ReadTx, svc *state.Service) (err error) {
		id = svc.ID
		if req.Spec.Name == "" {
			req.Spec.Name = svc.Name
		}
		req.Spec, err = checkSpec(tx, req.Spec, svc)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := s.ops.ServiceUpdate(r.Context(), id, req.Version, req.Spec); err != nil {
		return nil, err
	}
	return s.serviceAnswer(id, req.Spec), nil
}

func (s *Server) removeService(r *http.Request) (any, error) {
	var id string
	if err := inView(s, r, resolveService, func(_ state.ReadTx, svc *state.Service) error {
		id = svc.ID
		return nil
	}); err != nil {
		return nil, err
	}
	return nil, s.ops.ServiceRemove(r.Context(), id)
}

// serviceAnswer is the service as this replica has it after a write (a
// write returns once it is applied here), or, should it not be here, as
// it was asked for.
func (s *Server) serviceAnswer(id string, spec state.ServiceSpec) api.Service {
	var out api.Service
	s.r.View(func(tx state.ReadTx) {
		svc := tx.Service(id)
		if svc == nil {
			svc = &state.Service{ID: id, Name: spec.Name, Spec: spec, SpecVersion: 1}
		}
		out = buildService(tx, svc)
	})
	return out
}

// decodeSpec reads a request body holding a service spec. A field the
// spec does not have is an error, not silently dropped.
func decodeSpec(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	switch {
	case errors.Is(err, io.EOF):
		return invalid("a service spec is required")
	case err != nil:
		return invalid("malformed request body: %v", err)
	}
	return nil
}

// checkSpec checks a spec against the cluster before anything is
// proposed, so a refused spec stores nothing: the spec's own rules
// (state.ServiceSpec.Validate), its networks (by name, ID or unique ID
// prefix; answered as IDs), reservations no node can hold, and, for a new
// service (old nil), a name already taken. The FSM checks again when it
// applies the spec.
func checkSpec(tx state.ReadTx, spec state.ServiceSpec, old *state.Service) (state.ServiceSpec, error) {
	spec = spec.WithDefaults()
	if err := spec.Validate(); err != nil {
		return spec, err
	}
	seen := map[string]string{}
	for i, att := range spec.Networks {
		n, err := resolve(tx, att.Target)
		switch {
		case errors.Is(err, errNotFound):
			return spec, notFound("--network %s: no such xoverlay network; create it first with "+
				"docker network create -d xoverlay --ipam-driver xoverlay %s", att.Target, att.Target)
		case err != nil:
			return spec, invalid("--network %s: %s", att.Target, err)
		case n.Deleting:
			return spec, fmt.Errorf("%w: --network %s: the network is being removed from every host", state.ErrConflict, att.Target)
		}
		if first, dup := seen[n.ID]; dup {
			return spec, invalid("--network %s and --network %s are the same network", first, att.Target)
		}
		seen[n.ID] = att.Target
		spec.Networks[i].Target = n.ID
	}
	if err := checkCapacity(tx.Nodes(), spec.Resources.Reservations); err != nil {
		return spec, err
	}
	if other := tx.ServiceByName(spec.Name); old == nil && other != nil && !other.External {
		return spec, fmt.Errorf("%w: service %s already exists; scale it with xo service scale %s=N, remove it with "+
			"xo service rm %s, or choose another --name", state.ErrConflict, spec.Name, spec.Name, spec.Name)
	}
	return spec, nil
}

// checkCapacity refuses reservations that no node could ever hold: when
// every node's capacity of a resource is known, and none has as much.
// (Nodes that are down or drained may come back: they count.)
func checkCapacity(nodes []*state.Node, need state.Resources) error {
	if len(nodes) == 0 {
		return nil
	}
	var maxCPU, maxMem int64
	cpuKnown, memKnown := true, true
	for _, n := range nodes {
		maxCPU, maxMem = max(maxCPU, n.Capacity.NanoCPUs), max(maxMem, n.Capacity.MemoryBytes)
		cpuKnown = cpuKnown && n.Capacity.NanoCPUs > 0
		memKnown = memKnown && n.Capacity.MemoryBytes > 0
	}
	var msgs []string
	if cpuKnown && need.NanoCPUs > maxCPU {
		msgs = append(msgs, fmt.Sprintf("--reserve-cpu %s: more than any node has (the largest has %s)",
			state.HumanCPUs(need.NanoCPUs), state.HumanCPUs(maxCPU)))
	}
	if memKnown && need.MemoryBytes > maxMem {
		msgs = append(msgs, fmt.Sprintf("--reserve-memory %s: more than any node has (the largest has %s)",
			state.HumanBytes(need.MemoryBytes), state.HumanBytes(maxMem)))
	}
	if len(msgs) == 0 {
		return nil
	}
	return invalid("%s", strings.Join(msgs, "; "))
}
