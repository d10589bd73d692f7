package state

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

func (w *writeTx) service(id string) (*Service, error) {
	svc, ok := w.s.data.Services[id]
	if !ok {
		return nil, fmt.Errorf("%w: service %s", ErrNotFound, id)
	}
	return svc, nil
}

// putService stores svc (a new object: services are copy-on-write).
func (w *writeTx) putService(svc *Service, action string) {
	svc.SpecDigest = svc.Spec.TaskDigest()
	w.s.data.Services[svc.ID] = svc
	w.s.byName[svc.Name] = svc.ID
	w.emit("service", action, svc.ID)
}

func (s *Store) createService(c CreateService) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		in := c.Service
		name := in.Spec.Name
		if in.ID == "" {
			return nil, fmt.Errorf("%w: service without ID", ErrInvalid)
		}
		if old, ok := s.data.Services[in.ID]; ok {
			if old.Name == name {
				return old, nil // a retried write
			}
			return nil, fmt.Errorf("%w: service ID %s is taken", ErrConflict, in.ID)
		}
		existing := s.data.Services[s.byName[name]]
		if in.External {
			if existing != nil {
				return existing, nil
			}
			if msg := nameProblem(name); msg != "" {
				return nil, fmt.Errorf("%w: label xo.service: %s", ErrInvalid, strings.TrimPrefix(msg, "--name "))
			}
			svc := &Service{ID: in.ID, Name: name, Spec: ServiceSpec{Name: name}, External: true,
				SpecVersion: 1, TaskVersion: 1, CreatedAt: in.CreatedAt}
			_ = w.syncVIPs(svc, true)
			w.putService(svc, "create")
			return svc, nil
		}
		spec, err := w.checkSpec(in.Spec)
		if err != nil {
			return nil, err
		}
		if existing != nil && !existing.External {
			return nil, fmt.Errorf("%w: service %s already exists; change it with xo service update %s, or choose another --name",
				ErrConflict, name, name)
		}
		if existing != nil { // adopt the hand-run members' service: same ID and VIPs
			svc := existing.clone()
			svc.Spec, svc.External, svc.UpdatedAt = spec, false, in.CreatedAt
			svc.SpecVersion++
			svc.TaskVersion = svc.SpecVersion
			if err := w.syncVIPs(svc, false); err != nil {
				return nil, err
			}
			w.putService(svc, "update")
			return svc, nil
		}
		svc := &Service{ID: in.ID, Name: name, Spec: spec, SpecVersion: 1, TaskVersion: 1, CreatedAt: in.CreatedAt}
		if err := w.syncVIPs(svc, false); err != nil {
			return nil, err
		}
		w.putService(svc, "create")
		return svc, nil
	})
}

func (s *Store) updateService(c UpdateService) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		svc, err := w.service(c.ID)
		if err != nil {
			return nil, err
		}
		if svc.External {
			return nil, fmt.Errorf("%w: service %s is external: its tasks are containers run by hand with --label xo.service=%s; "+
				"run xo service create --name %s to manage it", ErrConflict, svc.Name, svc.Name, svc.Name)
		}
		if c.Version != 0 && c.Version != svc.SpecVersion {
			return nil, fmt.Errorf("%w: service %s changed since version %d (it is at version %d); read it again and retry",
				ErrConflict, svc.Name, c.Version, svc.SpecVersion)
		}
		if c.Spec.Name == "" {
			c.Spec.Name = svc.Name
		}
		if c.Spec.Name != svc.Name {
			return nil, fmt.Errorf("%w: --name %q: renaming service %s is not supported; create a new service",
				ErrInvalid, c.Spec.Name, svc.Name)
		}
		spec, err := w.checkSpec(c.Spec)
		if err != nil {
			return nil, err
		}
		if spec.Mode != svc.Spec.Mode {
			return nil, fmt.Errorf("%w: --mode cannot change from %s to %s; remove service %s and create it again",
				ErrInvalid, svc.Spec.Mode, spec.Mode, svc.Name)
		}
		if !c.Force && reflect.DeepEqual(spec, svc.Spec) {
			return svc, nil
		}
		n := svc.clone()
		prev := svc.Spec
		n.PreviousSpec, n.Spec, n.UpdatedAt = &prev, spec, c.At
		n.SpecVersion++
		if c.Force || !prev.SameTasks(spec) {
			n.TaskVersion = n.SpecVersion
		}
		n.noteSpecChange(svc, c.Force, c.At)
		if err := w.syncVIPs(n, false); err != nil {
			return nil, err
		}
		w.putService(n, "update")
		return n, nil
	})
}

// checkSpec validates a spec and resolves its networks to IDs.
func (w *writeTx) checkSpec(spec ServiceSpec) (ServiceSpec, error) {
	spec = spec.WithDefaults()
	if err := spec.Validate(); err != nil {
		return spec, err
	}
	seen := map[string]string{}
	for i, att := range spec.Networks {
		n, err := w.networkRef(att.Target)
		if err != nil {
			return spec, err
		}
		if first, dup := seen[n.ID]; dup {
			return spec, fmt.Errorf("%w: --network %s and --network %s are the same network", ErrInvalid, first, att.Target)
		}
		seen[n.ID] = att.Target
		spec.Networks[i].Target = n.ID
	}
	if err := w.checkPublished(spec); err != nil {
		return spec, err
	}
	return spec, nil
}

// networkRef finds a network by ID or by name.
func (w *writeTx) networkRef(ref string) (*Network, error) {
	n, ok := w.s.data.Networks[ref]
	if !ok {
		var named []*Network
		for _, m := range w.s.data.Networks {
			if m.Name == ref {
				named = append(named, m)
			}
		}
		switch len(named) {
		case 0:
			return nil, fmt.Errorf("%w: --network %s: no such xoverlay network; create it first with "+
				"docker network create -d xoverlay --ipam-driver xoverlay %s", ErrNotFound, ref, ref)
		case 1:
			n = named[0]
		default:
			ids := make([]string, len(named))
			for i, m := range named {
				ids[i] = m.ID
			}
			slices.Sort(ids)
			return nil, fmt.Errorf("%w: --network %s: %d networks have this name (%s); give the network's ID",
				ErrConflict, ref, len(named), strings.Join(ids, ", "))
		}
	}
	if n.Deleting {
		return nil, fmt.Errorf("%w: --network %s: the network is being removed from every host", ErrConflict, ref)
	}
	return n, nil
}

func (s *Store) removeService(c RemoveService) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		svc, ok := s.data.Services[c.ID]
		if !ok {
			return nil, nil // already gone: a retried write
		}
		for _, id := range slices.Sorted(maps.Keys(s.svcTasks[c.ID])) {
			t := s.data.Tasks[id]
			switch {
			case t.Status.State.Less(TaskAssigned): // no executor has seen it
				w.dropTask(t)
			case t.DesiredState.Less(TaskRemove):
				n := t.clone()
				n.DesiredState = TaskRemove
				w.putTask(n, "update")
			}
		}
		delete(s.data.Services, svc.ID)
		delete(s.byName, svc.Name)
		w.emit("service", "delete", svc.ID)
		w.releaseVIPs(svc)
		return nil, nil
	})
}
