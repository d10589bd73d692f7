package state

import (
	"fmt"
	"slices"
	"strings"
)

// DrainContainer takes a hand-run container, a backend of a service
// through its label xo.service, out of service while it runs (`xo
// drain`): discovery stops answering it and every node's VIPs, routing
// mesh and HTTP pools leave it. The drain lasts until the container
// stops (SetEndpointStatus clears it), or until Undo. It answers the
// number of endpoints changed. Refused for a container without
// endpoints, one running a managed task (rolling updates drain those),
// one that is no backend of any service, and one that is not running.
type DrainContainer struct {
	ContainerID string
	Undo        bool
}

// Type implements Command.
func (DrainContainer) Type() CommandType { return CmdDrainContainer }

func (s *Store) drainContainer(c DrainContainer) (any, error) {
	return s.update(func(w *writeTx) (any, error) {
		var eps []*Endpoint
		for _, ep := range s.data.Endpoints {
			if c.ContainerID != "" && ep.ContainerID == c.ContainerID {
				eps = append(eps, ep)
			}
		}
		slices.SortFunc(eps, func(a, b *Endpoint) int { return strings.Compare(a.ID, b.ID) })
		if err := checkDrainable(c, eps); err != nil {
			return nil, err
		}
		changed := 0
		for _, ep := range eps {
			if ep.Drained != !c.Undo {
				ep.Drained = !c.Undo
				changed++
				w.emit("endpoint", "update", ep.ID)
			}
		}
		if changed > 0 && !c.Undo {
			s.noteDrain()
		}
		return changed, nil
	})
}

// checkDrainable refuses what xo drain cannot take out of service.
func checkDrainable(c DrainContainer, eps []*Endpoint) error {
	name := shortContainer(c.ContainerID)
	if len(eps) == 0 {
		return fmt.Errorf("%w: container %s has no endpoint on an xoverlay network", ErrNotFound, name)
	}
	if i := slices.IndexFunc(eps, func(ep *Endpoint) bool { return ep.Task != "" }); i >= 0 {
		return fmt.Errorf("%w: container %s runs a task of service %s, which xo manages: "+
			"xo service update, scale and rm take its tasks out of service themselves", ErrConflict, name, eps[i].Service)
	}
	if c.Undo {
		return nil
	}
	if !slices.ContainsFunc(eps, func(ep *Endpoint) bool { return ep.Service != "" }) {
		return fmt.Errorf("%w: container %s is no backend of any service (it has no label xo.service): "+
			"no service name, VIP or published port sends to it; run it with --label xo.service=NAME to make it one",
			ErrConflict, name)
	}
	if !slices.ContainsFunc(eps, func(ep *Endpoint) bool { return ep.Running }) {
		return fmt.Errorf("%w: container %s is not running: it takes no traffic already", ErrConflict, name)
	}
	return nil
}

func shortContainer(id string) string { return id[:min(len(id), 12)] }
