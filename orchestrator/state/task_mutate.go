package state

import (
	"fmt"
)

// putTask stores t (a new object: tasks are copy-on-write).
func (w *writeTx) putTask(t *Task, action string) {
	w.s.data.Tasks[t.ID] = t
	w.s.indexTask(t.ServiceID, t.ID)
	w.emit("task", action, t.ID)
}

func (w *writeTx) dropTask(t *Task) {
	delete(w.s.data.Tasks, t.ID)
	w.s.unindexTask(t.ServiceID, t.ID)
	w.emit("task", "delete", t.ID)
}

func (s *Store) createTasks(c CreateTasks) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		for _, t := range c.Tasks {
			if err := w.checkNewTask(t); err != nil {
				return nil, err
			}
		}
		created := 0
		for _, in := range c.Tasks {
			svc := s.data.Services[in.ServiceID]
			if _, exists := s.data.Tasks[in.ID]; exists || svc == nil || svc.External || w.duplicates(&in) {
				continue
			}
			t := in
			t.SpecVersion, t.StopGracePeriod = svc.SpecVersion, svc.Spec.StopGracePeriod
			t.SpecDigest, t.Draining = svc.SpecDigest, false
			if t.DesiredState == "" {
				t.DesiredState = TaskRunning
			}
			if t.Status.State == "" {
				t.Status.State = TaskPending
			}
			w.putTask(&t, "create")
			created++
		}
		return created, nil
	})
}

// checkNewTask rejects a task no orchestrator should have made.
func (w *writeTx) checkNewTask(t Task) error {
	switch {
	case t.ID == "" || t.ServiceID == "":
		return fmt.Errorf("%w: task without ID or service", ErrInvalid)
	case t.DesiredState != "" && (!t.DesiredState.Valid() || !t.DesiredRunning()):
		return fmt.Errorf("%w: task %s: desired state %q: a new task is wanted running", ErrInvalid, t.ID, t.DesiredState)
	case t.Status.State != "" && t.Status.State != TaskNew && t.Status.State != TaskPending:
		return fmt.Errorf("%w: task %s: state %q: a new task is new or pending", ErrInvalid, t.ID, t.Status.State)
	}
	svc := w.s.data.Services[t.ServiceID]
	switch {
	case svc == nil:
	case svc.Global() && (t.Slot != 0 || t.NodeID == ""):
		return fmt.Errorf("%w: task %s of global service %s: want a node and no slot", ErrInvalid, t.ID, svc.Name)
	case !svc.Global() && t.Slot == 0:
		return fmt.Errorf("%w: task %s of replicated service %s: want a slot", ErrInvalid, t.ID, svc.Name)
	}
	return nil
}

// duplicates says whether t would be a second successor in its slot (or
// on its node, global): it must replace a live task of the slot that no
// other live task replaces yet, or, replacing nothing, find the slot
// without live tasks. Two leaders planning from the same state thus
// never both add a task.
func (w *writeTx) duplicates(t *Task) bool {
	found := t.Replaces == ""
	for id := range w.s.svcTasks[t.ServiceID] {
		o := w.s.data.Tasks[id]
		if !o.DesiredRunning() || o.Slot != t.Slot || (t.Slot == 0 && o.NodeID != t.NodeID) {
			continue
		}
		switch {
		case o.ID == t.Replaces:
			found = true
		case t.Replaces == "" || o.Replaces == t.Replaces:
			return true
		}
	}
	return !found
}

func (s *Store) updateTasks(c UpdateTasks) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		for _, u := range c.Updates {
			if (u.DesiredState != "" && !u.DesiredState.Valid()) || (u.Status != nil && !u.Status.State.Valid()) {
				return nil, fmt.Errorf("%w: task %s: unknown state in %+v", ErrInvalid, u.ID, u)
			}
		}
		changed := 0
		for _, u := range c.Updates {
			t, ok := s.data.Tasks[u.ID]
			if !ok || (u.NodeID != "" && t.NodeID != "" && t.NodeID != u.NodeID) {
				continue // gone, or a stale decision for a task assigned elsewhere
			}
			n, dirty := t.clone(), false
			if u.DesiredState != "" && n.DesiredState.Less(u.DesiredState) {
				n.DesiredState, dirty = u.DesiredState, true
			}
			if u.NodeID != "" && n.NodeID == "" {
				n.NodeID, dirty = u.NodeID, true
			}
			if u.Status != nil {
				dirty = n.setStatus(*u.Status) || dirty
			} else if u.Message != "" && n.Status.Message != u.Message {
				n.Status.Message, dirty = u.Message, true
			}
			if dirty {
				w.putTask(n, "update")
				changed++
			}
		}
		return changed, nil
	})
}

func (s *Store) setTaskStatus(c SetTaskStatus) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		for _, u := range c.Tasks {
			if !u.Status.State.Valid() {
				return nil, fmt.Errorf("%w: task %s: unknown state %q", ErrInvalid, u.ID, u.Status.State)
			}
		}
		changed := 0
		for _, u := range c.Tasks {
			t, ok := s.data.Tasks[u.ID]
			if !ok || t.NodeID != c.Node {
				continue
			}
			if n := t.clone(); n.setStatus(u.Status) {
				w.putTask(n, "update")
				changed++
			}
		}
		return changed, nil
	})
}

// setStatus records st unless it would move the state backwards; a zero
// ContainerID or ExitCode keeps the one known. It says whether t changed.
func (t *Task) setStatus(st TaskStatus) bool {
	if st.State.Less(t.Status.State) {
		return false
	}
	if st.ContainerID == "" {
		st.ContainerID = t.Status.ContainerID
	}
	if st.ExitCode == 0 {
		st.ExitCode = t.Status.ExitCode
	}
	old := t.Status
	if st.State == old.State && st.Message == old.Message && st.Err == old.Err &&
		st.ContainerID == old.ContainerID && st.ExitCode == old.ExitCode {
		return false // the same observation again: no write amplification by timestamps
	}
	t.Status = st
	return true
}

func (s *Store) deleteTasks(c DeleteTasks) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		deleted := 0
		for _, id := range c.IDs {
			if t, ok := s.data.Tasks[id]; ok && !t.DesiredRunning() {
				w.dropTask(t)
				deleted++
			}
		}
		return deleted, nil
	})
}
