package state

import (
	"reflect"
	"time"
)

// Service modes, endpoint modes, restart conditions, port protocols and
// modes, and mount types, as `docker service create` spells them.
const (
	ModeReplicated = "replicated"
	ModeGlobal     = "global"

	EndpointVIP   = "vip"
	EndpointDNSRR = "dnsrr"

	RestartAny       = "any"
	RestartOnFailure = "on-failure"
	RestartNone      = "none"

	ProtocolTCP = "tcp"
	ProtocolUDP = "udp"

	PublishIngress = "ingress" // every node accepts and forwards (routing mesh)
	PublishHost    = "host"    // only the nodes running a task
	PublishHTTP    = "http"    // the L7 proxy

	MountBind   = "bind"
	MountVolume = "volume"
	MountTmpfs  = "tmpfs"
)

// Service is a replicated or global workload, or an external one: a name
// for containers run by hand with the label xo.service=NAME, for which no
// tasks are managed.
//
// Services and tasks are copy-on-write in the store: the FSM replaces the
// object instead of changing it, so a *Service read in View never changes
// afterwards and may be kept. Never modify it (clone maps first).
type Service struct {
	ID   string      `json:"id"`
	Name string      `json:"name"`
	Spec ServiceSpec `json:"spec"`
	// SpecVersion counts the spec's changes, from 1; UpdateService may
	// require it (optimistic concurrency) and tasks record it.
	SpecVersion uint64 `json:"spec_version"`
	// TaskVersion is the SpecVersion of the last change of what tasks
	// run (anything but Replicas): a task made from an older spec is
	// outdated (see Outdated). A scale keeps it, so it restarts nothing.
	TaskVersion  uint64            `json:"task_version"`
	PreviousSpec *ServiceSpec      `json:"previous_spec,omitempty"` // for a rollback
	External     bool              `json:"external,omitempty"`
	VIPs         map[string]string `json:"vips,omitempty"` // network ID -> virtual IP
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at,omitzero"`
	// SpecDigest is Spec.TaskDigest(): tasks record it, so a task is
	// outdated exactly when it runs something else (see Outdated).
	SpecDigest   string        `json:"spec_digest,omitempty"`
	UpdateStatus *UpdateStatus `json:"update_status,omitempty"` // the last rolling update or rollback
}

// ServiceSpec is what a user asks for with `xo service create`.
type ServiceSpec struct {
	Name            string               `json:"name"`
	Image           string               `json:"image,omitempty"`
	Command         []string             `json:"command,omitempty"` // replaces the image's entrypoint
	Args            []string             `json:"args,omitempty"`
	Env             []string             `json:"env,omitempty"` // KEY=VALUE
	Labels          map[string]string    `json:"labels,omitempty"`
	Mode            string               `json:"mode,omitempty"` // replicated (default) or global
	Replicas        uint64               `json:"replicas,omitempty"`
	Networks        []NetworkAttachment  `json:"networks,omitempty"`
	Constraints     []string             `json:"constraints,omitempty"` // node.labels.ssd==true
	Preferences     []string             `json:"preferences,omitempty"` // spread=node.labels.zone
	Resources       ResourceRequirements `json:"resources,omitzero"`
	RestartPolicy   RestartPolicy        `json:"restart_policy,omitzero"`
	Healthcheck     *Healthcheck         `json:"healthcheck,omitempty"` // nil: the image's
	StopGracePeriod time.Duration        `json:"stop_grace_period,omitempty"`
	EndpointMode    string               `json:"endpoint_mode,omitempty"` // vip (default) or dnsrr
	Ports           []PortConfig         `json:"ports,omitempty"`
	Mounts          []Mount              `json:"mounts,omitempty"`
	// UpdateConfig and RollbackConfig replace tasks when what they run
	// changes, and on a rollback; nil: DefaultUpdateConfig.
	UpdateConfig   *UpdateConfig `json:"update_config,omitempty"`
	RollbackConfig *UpdateConfig `json:"rollback_config,omitempty"`
	// ForceUpdate changes (xo service update --force) to replace every
	// task although nothing else did.
	ForceUpdate uint64 `json:"force_update,omitempty"`
}

// NetworkAttachment puts a service's tasks on a network. Target is a
// network name or ID as the user gave it; the FSM stores the ID.
type NetworkAttachment struct {
	Target  string   `json:"target"`
	Aliases []string `json:"aliases,omitempty"`
}

// Resources is an amount of CPU and memory: a node's capacity, a task's
// reservation or limit. Zero means none (or unknown, for a capacity).
type Resources struct {
	NanoCPUs    int64 `json:"nano_cpus,omitempty"` // 1e9 = one CPU
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
}

// ResourceRequirements are what a task reserves on its node (for the
// scheduler) and what its container may use at most.
type ResourceRequirements struct {
	Reservations Resources `json:"reservations,omitzero"`
	Limits       Resources `json:"limits,omitzero"`
}

// RestartPolicy says when a task that stopped by itself is replaced.
type RestartPolicy struct {
	Condition   string        `json:"condition,omitempty"` // any (default), on-failure, none
	Delay       time.Duration `json:"delay,omitempty"`     // between the failure and the replacement
	Window      time.Duration `json:"window,omitempty"`    // 0: attempts count forever
	MaxAttempts uint64        `json:"max_attempts,omitempty"`
}

// Healthcheck is Docker's: Test is ["CMD", args...], ["CMD-SHELL", cmd]
// or ["NONE"].
type Healthcheck struct {
	Test        []string      `json:"test,omitempty"`
	Interval    time.Duration `json:"interval,omitempty"`
	Timeout     time.Duration `json:"timeout,omitempty"`
	StartPeriod time.Duration `json:"start_period,omitempty"`
	Retries     int           `json:"retries,omitempty"`
}

// PortConfig publishes a task port. Published 0 lets the load balancer
// pick one.
type PortConfig struct {
	Target    uint16 `json:"target"`
	Published uint16 `json:"published,omitempty"`
	Protocol  string `json:"protocol,omitempty"` // tcp (default) or udp
	Mode      string `json:"mode,omitempty"`     // ingress (default), host or http
}

// Mount is a bind mount, a named or anonymous volume, or a tmpfs.
type Mount struct {
	Type     string `json:"type,omitempty"` // volume (default), bind, tmpfs
	Source   string `json:"source,omitempty"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only,omitempty"`
}

// Outdated says whether t runs something else than the service's spec
// asks for: its spec digest differs (or, for objects from before
// digests, it was made before the last change of what tasks run).
func (s *Service) Outdated(t *Task) bool {
	if s.SpecDigest != "" && t.SpecDigest != "" {
		return t.SpecDigest != s.SpecDigest
	}
	return t.SpecVersion < s.TaskVersion
}

// Global says whether the service runs one task per eligible node.
func (s *Service) Global() bool { return s.Spec.Mode == ModeGlobal }

// SameTasks says whether two specs run the same tasks: equal except for
// Replicas and the update and rollback policies. Both must be normalized
// (WithDefaults).
func (s ServiceSpec) SameTasks(o ServiceSpec) bool {
	s.Replicas, o.Replicas = 0, 0
	s.UpdateConfig, o.UpdateConfig, s.RollbackConfig, o.RollbackConfig = nil, nil, nil, nil
	return reflect.DeepEqual(s, o)
}

func (s *Service) clone() *Service {
	c := *s
	return &c
}
