package apiserver

import (
	"fmt"
	"net/http"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// rollbackService is POST /v1/services/{ref}/rollback: the service goes
// back to its previous spec (api.ServiceRollbackRequest).
func (s *Server) rollbackService(r *http.Request) (any, error) {
	var req api.ServiceRollbackRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	var id string
	err := inView(s, r, resolveService, func(_ state.ReadTx, svc *state.Service) error {
		id = svc.ID
		switch {
		case svc.External:
			return fmt.Errorf("%w: service %s is external: its tasks are containers run by hand with --label xo.service=%s; "+
				"it has no spec to roll back", state.ErrConflict, svc.Name, svc.Name)
		case svc.PreviousSpec == nil:
			return fmt.Errorf("%w: service %s has no previous spec to roll back to: it was never updated", state.ErrConflict, svc.Name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := s.ops.ServiceRollback(r.Context(), id, req.Version); err != nil {
		return nil, err
	}
	var out api.Service
	s.r.View(func(tx state.ReadTx) {
		if svc := tx.Service(id); svc != nil {
			out = buildService(tx, svc)
		}
	})
	return out, nil
}

// addUpdate adds a service's previous spec and update status to its
// wire form.
func addUpdate(out *api.Service, svc *state.Service) {
	if svc.PreviousSpec != nil {
		prev := specToAPI(*svc.PreviousSpec)
		out.PreviousSpec = &prev
	}
	if st := svc.UpdateStatus; st != nil {
		out.UpdateStatus = &api.UpdateStatus{State: string(st.State), StartedAt: st.StartedAt,
			CompletedAt: st.CompletedAt, Message: st.Message}
	}
}
