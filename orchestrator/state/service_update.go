package state

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Update orders and failure actions, spelled as docker service update
// takes them.
const (
	OrderStopFirst  = "stop-first"  // stop the old task, then start the new one
	OrderStartFirst = "start-first" // start the new task, stop the old one once it serves

	FailurePause    = "pause"
	FailureContinue = "continue"
	FailureRollback = "rollback" // updates only: a rollback does not roll back

	// DefaultMonitor is how long a new task is watched for a failure
	// after it starts serving, when the spec has no update policy.
	DefaultMonitor = 5 * time.Second
)

// UpdateState is where a service's rolling update (or rollback) is.
type UpdateState string

// Update states, as Docker names them.
const (
	UpdateUpdating          UpdateState = "updating"
	UpdatePaused            UpdateState = "paused"
	UpdateCompleted         UpdateState = "completed"
	UpdateRollbackStarted   UpdateState = "rollback_started"
	UpdateRollbackPaused    UpdateState = "rollback_paused"
	UpdateRollbackCompleted UpdateState = "rollback_completed"
)

// Rollback says whether the state is one of a rollback's.
func (s UpdateState) Rollback() bool {
	return s == UpdateRollbackStarted || s == UpdateRollbackPaused || s == UpdateRollbackCompleted
}

// Active says whether the update (or rollback) still replaces tasks.
func (s UpdateState) Active() bool { return s == UpdateUpdating || s == UpdateRollbackStarted }

// UpdateConfig is how a service's tasks are replaced when what they run
// changes (--update-*), or rolled back (--rollback-*).
type UpdateConfig struct {
	// Parallelism is how many tasks are replaced at once; 0: all.
	Parallelism uint64 `json:"parallelism"`
	// Delay is the wait after a batch of tasks is replaced, before the next.
	Delay time.Duration `json:"delay,omitempty"`
	// FailureAction is what a failure past MaxFailureRatio does: pause
	// (the default), continue, or rollback (updates only).
	FailureAction string `json:"failure_action,omitempty"`
	// Monitor is how long a new task is watched for a failure once it
	// serves; a task that fails before it serves always counts.
	Monitor time.Duration `json:"monitor,omitempty"`
	// MaxFailureRatio is the share of the tasks that may fail (0 to 1)
	// before FailureAction runs.
	MaxFailureRatio float64 `json:"max_failure_ratio,omitempty"`
	// Order is stop-first (the default) or start-first.
	Order string `json:"order,omitempty"`
}

// DefaultUpdateConfig is the policy of a spec without one: one task at a
// time, stop-first, pause at the first failure, 5 s of monitoring.
func DefaultUpdateConfig() UpdateConfig {
	return UpdateConfig{Parallelism: 1, FailureAction: FailurePause, Monitor: DefaultMonitor, Order: OrderStopFirst}
}

// UpdateStatus is what the last rolling update or rollback of a service
// did, and why.
type UpdateStatus struct {
	State       UpdateState `json:"state"`
	StartedAt   time.Time   `json:"started_at,omitzero"`
	CompletedAt time.Time   `json:"completed_at,omitzero"`
	Message     string      `json:"message,omitempty"`
}

// UpdatePolicy is the spec's update policy, the defaults when it has none.
func (s ServiceSpec) UpdatePolicy() UpdateConfig { return s.UpdateConfig.orDefault() }

// RollbackPolicy is the spec's rollback policy, the defaults when it has
// none.
func (s ServiceSpec) RollbackPolicy() UpdateConfig { return s.RollbackConfig.orDefault() }

func (c *UpdateConfig) orDefault() UpdateConfig {
	if c == nil {
		return DefaultUpdateConfig()
	}
	return c.withDefaults()
}

func (c UpdateConfig) withDefaults() UpdateConfig {
	c.Order = or(c.Order, OrderStopFirst)
	c.FailureAction = or(c.FailureAction, FailurePause)
	return c
}

// validate names each problem of an update (flag "--update") or
// rollback ("--rollback") policy by its flag.
func (c *UpdateConfig) validate(flag string, p *problems) {
	if c == nil {
		return
	}
	p.nonNegative(flag+"-delay", c.Delay)
	p.nonNegative(flag+"-monitor", c.Monitor)
	switch c.Order {
	case OrderStopFirst, OrderStartFirst:
	default:
		p.add("%s-order %q: want start-first or stop-first", flag, c.Order)
	}
	switch a := c.FailureAction; {
	case a == FailurePause || a == FailureContinue:
	case a == FailureRollback && flag == "--update":
	case a == FailureRollback:
		p.add("%s-failure-action rollback: want pause or continue (a rollback cannot roll back)", flag)
	case flag == "--update":
		p.add("%s-failure-action %q: want pause, continue or rollback", flag, a)
	default:
		p.add("%s-failure-action %q: want pause or continue", flag, a)
	}
	if r := c.MaxFailureRatio; !(r >= 0 && r <= 1) {
		p.add("%s-max-failure-ratio %g: want a number from 0 to 1", flag, r)
	}
}

// validatePolicies checks the update and rollback policies.
func (s ServiceSpec) validatePolicies(p *problems) {
	s.UpdateConfig.validate("--update", p)
	s.RollbackConfig.validate("--rollback", p)
}

// policiesWithDefaults fills the empty fields of the policies a spec has.
func (s *ServiceSpec) policiesWithDefaults() {
	for _, c := range []**UpdateConfig{&s.UpdateConfig, &s.RollbackConfig} {
		if *c != nil {
			d := (*c).withDefaults()
			*c = &d
		}
	}
}

// TaskDigest identifies what a task made from the spec runs: a digest of
// the spec without what only concerns the service (replicas, update and
// rollback policies). Two specs with the same digest run the same tasks.
func (s ServiceSpec) TaskDigest() string {
	s.Replicas, s.UpdateConfig, s.RollbackConfig = 0, nil, nil
	b, err := json.Marshal(s)
	if err != nil { // plain data: cannot happen
		panic("state: task digest: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// TaskSpec is the spec task t was made from: the current one, or the
// previous one for a task made before the last change of what tasks run
// (only these two are kept; an older task gets the current one).
func (s *Service) TaskSpec(t *Task) ServiceSpec {
	if !s.Outdated(t) || s.PreviousSpec == nil {
		return s.Spec
	}
	if t.SpecDigest == "" || t.SpecDigest == s.PreviousSpec.TaskDigest() {
		return *s.PreviousSpec
	}
	return s.Spec
}

// Updating says whether the service's tasks are being replaced by a
// rolling update or a rollback.
func (s *Service) Updating() bool { return s.UpdateStatus != nil && s.UpdateStatus.State.Active() }

// noteSpecChange follows an UpdateService of old into s (its clone with
// the new spec): a forced update changes ForceUpdate so that every task
// is outdated, and a change of what tasks run starts a rolling update.
func (s *Service) noteSpecChange(old *Service, force bool, at time.Time) {
	if force && s.Spec.TaskDigest() == old.Spec.TaskDigest() {
		s.Spec.ForceUpdate = old.Spec.ForceUpdate + 1
	}
	if s.TaskVersion != old.TaskVersion {
		s.UpdateStatus = &UpdateStatus{State: UpdateUpdating, StartedAt: at, Message: "update in progress"}
	}
}
