package state

import (
	"fmt"
	"slices"
	"time"
)

// SetUpdateStatus records the progress of a service's rolling update, as
// the leader's updater decided it for the spec of digest Digest. It is
// skipped when the service is gone or runs another spec since.
type SetUpdateStatus struct {
	ID     string
	Digest string
	Status UpdateStatus
}

// RollbackService puts a service back on its previous spec: the two
// specs swap (so a second rollback undoes the first), SpecVersion+1, and
// a rollback starts, with Reason in its status. Refused when the service
// has no previous spec.
type RollbackService struct {
	ID      string
	Version uint64 // the SpecVersion the decision was made at; 0 skips the check
	Reason  string // "" for a rollback asked for by hand
	At      time.Time
}

// DrainTasks takes tasks out of service before they are stopped: DNS
// and the load balancers leave them while their containers still run.
// With Undo, tasks drained for a stop that is no longer wanted come
// back. It answers the number of tasks changed.
type DrainTasks struct {
	IDs  []string
	Undo bool
}

// Type implementations.
func (SetUpdateStatus) Type() CommandType { return CmdSetUpdateStatus }
func (RollbackService) Type() CommandType { return CmdRollbackService }
func (DrainTasks) Type() CommandType      { return CmdDrainTasks }

func (s *Store) setUpdateStatus(c SetUpdateStatus) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		if !c.Status.State.Valid() {
			return nil, fmt.Errorf("%w: update state %q", ErrInvalid, c.Status.State)
		}
		svc := s.data.Services[c.ID]
		if svc == nil || svc.SpecDigest != c.Digest || (svc.UpdateStatus != nil && *svc.UpdateStatus == c.Status) {
			return nil, nil
		}
		n := svc.clone()
		st := c.Status
		n.UpdateStatus = &st
		w.putService(n, "update")
		return nil, nil
	})
}

// Valid says whether s is one of the update states.
func (s UpdateState) Valid() bool {
	return slices.Contains([]UpdateState{UpdateUpdating, UpdatePaused, UpdateCompleted,
		UpdateRollbackStarted, UpdateRollbackPaused, UpdateRollbackCompleted}, s)
}

func (s *Store) rollbackService(c RollbackService) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		svc, err := w.service(c.ID)
		if err != nil {
			return nil, err
		}
		switch {
		case svc.External:
			return nil, fmt.Errorf("%w: service %s is external: it has no spec to roll back", ErrConflict, svc.Name)
		case c.Version != 0 && c.Version != svc.SpecVersion:
			return nil, fmt.Errorf("%w: service %s changed since version %d (it is at version %d); read it again and retry",
				ErrConflict, svc.Name, c.Version, svc.SpecVersion)
		case svc.PreviousSpec == nil:
			return nil, fmt.Errorf("%w: service %s has no previous spec to roll back to: it was never updated",
				ErrConflict, svc.Name)
		}
		spec, err := w.checkSpec(*svc.PreviousSpec)
		if err != nil {
			return nil, fmt.Errorf("service %s: the previous spec no longer fits the cluster: %w", svc.Name, err)
		}
		n := svc.clone()
		cur := svc.Spec
		n.Spec, n.PreviousSpec, n.UpdatedAt = spec, &cur, c.At
		n.SpecVersion++
		if !cur.SameTasks(spec) {
			n.TaskVersion = n.SpecVersion
		}
		reason := c.Reason
		if reason == "" {
			reason = "rollback requested"
		}
		n.UpdateStatus = &UpdateStatus{State: UpdateRollbackStarted, StartedAt: c.At, Message: reason}
		if err := w.syncVIPs(n, false); err != nil {
			return nil, err
		}
		w.putService(n, "update")
		return n, nil
	})
}

func (s *Store) drainTasks(c DrainTasks) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		changed := map[string]bool{}
		for _, id := range c.IDs {
			t, ok := s.data.Tasks[id]
			if !ok || t.Draining == !c.Undo || (!c.Undo && !t.DesiredRunning()) {
				continue
			}
			n := t.clone()
			n.Draining = !c.Undo
			w.putTask(n, "update")
			changed[id] = true
		}
		if len(changed) > 0 && !c.Undo {
			s.noteDrain()
		}
		if len(changed) > 0 {
			// Discovery follows endpoints, not tasks: their service changed.
			for id, ep := range s.data.Endpoints {
				if ep.Task != "" && changed[ep.Task] {
					w.emit("endpoint", "update", id)
				}
			}
		}
		return len(changed), nil
	})
}

// taskOutOfService says whether the managed task behind an endpoint is
// out of service whatever its container does: drained, or wanted stopped.
func (tx ReadTx) taskOutOfService(ep *Endpoint) bool {
	if ep.Task == "" {
		return false
	}
	t := tx.Task(ep.Task)
	return t != nil && (t.Draining || !t.DesiredRunning())
}
