package api

import (
	"context"
	"net/http"
	"time"
)

// Update orders, failure actions and update states, as docker service
// update spells them.
const (
	OrderStopFirst  = "stop-first"
	OrderStartFirst = "start-first"

	FailurePause    = "pause"
	FailureContinue = "continue"
	FailureRollback = "rollback"

	UpdateUpdating          = "updating"
	UpdatePaused            = "paused"
	UpdateCompleted         = "completed"
	UpdateRollbackStarted   = "rollback_started"
	UpdateRollbackPaused    = "rollback_paused"
	UpdateRollbackCompleted = "rollback_completed"
)

// UpdateConfig is how a service's tasks are replaced (--update-*), or
// rolled back (--rollback-*).
type UpdateConfig struct {
	Parallelism     uint64        `json:"parallelism"` // 0: all at once
	Delay           time.Duration `json:"delay,omitempty"`
	FailureAction   string        `json:"failure_action,omitempty"` // pause (default), continue, rollback
	Monitor         time.Duration `json:"monitor,omitempty"`
	MaxFailureRatio float64       `json:"max_failure_ratio,omitempty"`
	Order           string        `json:"order,omitempty"` // stop-first (default) or start-first
}

// DefaultUpdateConfig is the policy of a spec without one.
func DefaultUpdateConfig() UpdateConfig {
	return UpdateConfig{Parallelism: 1, FailureAction: FailurePause, Monitor: 5 * time.Second, Order: OrderStopFirst}
}

// UpdateStatus is what the last rolling update or rollback of a service
// did: its state, and why.
type UpdateStatus struct {
	State       string    `json:"state"`
	StartedAt   time.Time `json:"started_at,omitzero"`
	CompletedAt time.Time `json:"completed_at,omitzero"`
	Message     string    `json:"message,omitempty"`
}

// ServiceRollbackRequest is the body of POST /v1/services/{ref}/rollback.
type ServiceRollbackRequest struct {
	// Version is the service's Version the rollback was decided at; 0
	// skips the check.
	Version uint64 `json:"version"`
}

// ServiceRollback puts a service back on its previous spec, replacing
// its tasks with its rollback policy. It fails with ErrConflict when the
// service has no previous spec, or is not at req.Version any more.
func (c *Client) ServiceRollback(ctx context.Context, ref string, req ServiceRollbackRequest) (Service, error) {
	var s Service
	path, err := servicePath(ref, "/rollback")
	if err != nil {
		return s, err
	}
	err = c.write(ctx, http.MethodPost, path, req, &s)
	return s, err
}
