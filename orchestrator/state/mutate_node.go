package state

import (
	"fmt"
	"maps"
)

func (w *writeTx) node(id string) (*Node, error) {
	n, ok := w.s.data.Nodes[id]
	if !ok {
		return nil, fmt.Errorf("%w: node %s", ErrNotFound, id)
	}
	return n, nil
}

func (s *Store) registerNode(c RegisterNode) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		in := c.Node
		if in.ID == "" {
			return nil, fmt.Errorf("%w: node without ID", ErrInvalid)
		}
		if old, ok := s.data.Nodes[in.ID]; ok {
			old.Hostname, old.Addr, old.RaftAddr, old.Capabilities = in.Hostname, in.Addr, in.RaftAddr, in.Capabilities
			old.Capacity = in.Capacity
			w.emit("node", "update", in.ID)
			return nil, nil
		}
		if in.Role != RoleManager && in.Role != RoleWorker {
			return nil, fmt.Errorf("%w: node role %q", ErrInvalid, in.Role)
		}
		if in.Availability == "" {
			in.Availability = AvailabilityActive
		}
		if in.Status == "" {
			in.Status = StatusReady
		}
		in.Labels = maps.Clone(in.Labels)
		s.data.Nodes[in.ID] = &in
		w.emit("node", "create", in.ID)
		return nil, nil
	})
}

func (s *Store) setCluster(c SetCluster) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		if old := s.data.Cluster; old != nil && old.ID != c.Cluster.ID {
			return nil, fmt.Errorf("%w: this node already belongs to cluster %s", ErrConflict, old.ID)
		}
		cl := c.Cluster
		s.data.Cluster = &cl
		w.emit("cluster", "update", cl.ID)
		return nil, nil
	})
}

func (s *Store) setNodeRole(c SetNodeRole) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		n, err := w.node(c.ID)
		if err != nil {
			return nil, err
		}
		if c.Role != RoleManager && c.Role != RoleWorker {
			return nil, fmt.Errorf("%w: node role %q: want manager or worker", ErrInvalid, c.Role)
		}
		if n.Role != c.Role {
			n.Role = c.Role
			w.emit("node", "update", n.ID)
		}
		return nil, nil
	})
}

func (s *Store) updateNode(c UpdateNode) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		n, err := w.node(c.ID)
		if err != nil {
			return nil, err
		}
		switch c.Availability {
		case "", AvailabilityActive, AvailabilityDrain:
		default:
			return nil, fmt.Errorf("%w: availability %q: want active or drain", ErrInvalid, c.Availability)
		}
		if c.Availability != "" {
			n.Availability = c.Availability
		}
		if len(c.LabelsAdd) > 0 && n.Labels == nil {
			n.Labels = map[string]string{}
		}
		maps.Copy(n.Labels, c.LabelsAdd)
		for _, k := range c.LabelsRm {
			delete(n.Labels, k)
		}
		w.emit("node", "update", n.ID)
		return nil, nil
	})
}

func (s *Store) setNodeStatus(c SetNodeStatus) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		n, err := w.node(c.ID)
		if err != nil {
			return nil, err
		}
		if n.Status != c.Status || n.StatusMsg != c.Msg {
			n.Status, n.StatusMsg, n.StatusAt = c.Status, c.Msg, c.At
			w.emit("node", "update", n.ID)
		}
		return nil, nil
	})
}

func (s *Store) removeNode(c RemoveNode) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		if _, ok := s.data.Nodes[c.ID]; !ok {
			return nil, nil
		}
		for id, ep := range s.data.Endpoints {
			if ep.Node == c.ID {
				w.deleteEndpoint(id)
			}
		}
		for _, n := range s.data.Networks {
			if _, ok := n.Engines[c.ID]; ok {
				delete(n.Engines, c.ID)
				w.emit("network", "update", n.ID)
			}
			for b, owner := range n.Blocks {
				if owner == c.ID {
					delete(n.Blocks, b)
				}
			}
		}
		delete(s.data.Nodes, c.ID)
		w.emit("node", "delete", c.ID)
		return nil, nil
	})
}
