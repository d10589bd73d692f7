package state

import "fmt"

// writeTx collects the events of one mutation; it is used with s.mu held.
type writeTx struct {
	s       *Store
	events  []Event
	members map[string]bool // services whose members changed (see memberChanged)
}

func (w *writeTx) emit(kind, action, id string) {
	w.events = append(w.events, Event{Kind: kind, Action: action, ID: id})
}

// update runs one mutation under the write lock and publishes its events
// only when it succeeded.
func (s *Store) update(fn func(w *writeTx) (any, error)) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := &writeTx{s: s}
	v, err := fn(w)
	if err != nil {
		return nil, err
	}
	w.syncMembers()
	s.publish(w.events)
	return v, nil
}

func (w *writeTx) network(id string) (*Network, error) {
	n, ok := w.s.data.Networks[id]
	if !ok {
		return nil, fmt.Errorf("%w: network %s", ErrNotFound, id)
	}
	return n, nil
}
