package api

import (
	"strconv"
	"time"
)

// Service modes, endpoint modes, restart conditions, port protocols and
// publish modes, and mount types, spelled as `docker service create`
// takes them. ModeExternal is shown for a service whose members are
// containers run by hand with --label xo.service=NAME.
const (
	ModeReplicated = "replicated"
	ModeGlobal     = "global"
	ModeExternal   = "external"

	EndpointVIP   = "vip"
	EndpointDNSRR = "dnsrr"

	RestartAny       = "any"
	RestartOnFailure = "on-failure"
	RestartNone      = "none"

	ProtocolTCP = "tcp"
	ProtocolUDP = "udp"

	PublishIngress = "ingress"
	PublishHost    = "host"
	PublishHTTP    = "http"

	MountBind   = "bind"
	MountVolume = "volume"
	MountTmpfs  = "tmpfs"
)

// Service is a service as the cluster sees it: its spec and how many of
// its tasks run.
type Service struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Mode is replicated, global or external.
	Mode     string          `json:"mode"`
	Replicas ServiceReplicas `json:"replicas"`
	Image    string          `json:"image,omitempty"`
	Ports    []PortConfig    `json:"ports,omitempty"`
	Spec     ServiceSpec     `json:"spec"`
	// External: its members are containers run by hand with the label
	// xo.service=NAME; no tasks are managed.
	External   bool        `json:"external,omitempty"`
	VirtualIPs []VirtualIP `json:"virtual_ips,omitempty"` // sorted by network ID
	CreatedAt  time.Time   `json:"created_at"`
	UpdatedAt  time.Time   `json:"updated_at,omitzero"`
	// Version counts the spec's changes; an update names the version it
	// was made from, and is refused (409) when the service changed since.
	Version uint64 `json:"version"`
	// PreviousSpec is the spec before the last update: what xo service
	// rollback returns to.
	PreviousSpec *ServiceSpec `json:"previous_spec,omitempty"`
	// UpdateStatus is what the last rolling update or rollback did.
	UpdateStatus *UpdateStatus `json:"update_status,omitempty"`
}

// ShortID is the first 12 characters of the ID.
func (s Service) ShortID() string { return ShortID(s.ID) }

// ServiceReplicas counts a service's tasks. Running: tasks running on
// nodes that are not down. Desired: --replicas of a replicated service;
// for a global one, the nodes it may run on (active, not down, matching
// the constraints); for an external one, the containers labelled with
// its name.
type ServiceReplicas struct {
	Running uint64 `json:"running"`
	Desired uint64 `json:"desired"`
}

// String is the REPLICAS column of xo service ls: 2/3.
func (r ServiceReplicas) String() string {
	return strconv.FormatUint(r.Running, 10) + "/" + strconv.FormatUint(r.Desired, 10)
}

// VirtualIP is a service's virtual IP on one network (--endpoint-mode vip).
type VirtualIP struct {
	NetworkID string `json:"network_id"`
	Addr      string `json:"addr"`
}

// ServiceSpec is what `xo service create` asks for. It has the fields
// and JSON names of the cluster state's spec.
type ServiceSpec struct {
	Name    string            `json:"name"`
	Image   string            `json:"image,omitempty"`
	Command []string          `json:"command,omitempty"` // replaces the image's entrypoint
	Args    []string          `json:"args,omitempty"`
	Env     []string          `json:"env,omitempty"` // KEY=VALUE
	Labels  map[string]string `json:"labels,omitempty"`
	// Mode is replicated (the default) or global.
	Mode            string               `json:"mode,omitempty"`
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
	// UpdateConfig and RollbackConfig: how tasks are replaced on an
	// update and on a rollback; nil: one at a time, stop-first, pause on
	// failure, 5s of monitoring.
	UpdateConfig   *UpdateConfig `json:"update_config,omitempty"`
	RollbackConfig *UpdateConfig `json:"rollback_config,omitempty"`
	// ForceUpdate changes (xo service update --force) to replace every
	// task although nothing else changed.
	ForceUpdate uint64 `json:"force_update,omitempty"`
}

// NetworkAttachment puts a service's tasks on a network. Target is a
// network name, ID or unique ID prefix in a request, and the network's
// ID in an answer.
type NetworkAttachment struct {
	Target  string   `json:"target"`
	Aliases []string `json:"aliases,omitempty"`
}

// Resources is an amount of CPU (1e9 = one CPU) and memory.
type Resources struct {
	NanoCPUs    int64 `json:"nano_cpus,omitempty"`
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
}

// ResourceRequirements are what a task reserves on its node and what its
// container may use at most.
type ResourceRequirements struct {
	Reservations Resources `json:"reservations,omitzero"`
	Limits       Resources `json:"limits,omitzero"`
}

// RestartPolicy says when a task that stopped by itself is replaced.
type RestartPolicy struct {
	Condition   string        `json:"condition,omitempty"` // any (default), on-failure, none
	Delay       time.Duration `json:"delay,omitempty"`
	Window      time.Duration `json:"window,omitempty"`
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

// PortConfig publishes a task port.
type PortConfig struct {
	Target    uint16 `json:"target"`
	Published uint16 `json:"published,omitempty"`
	Protocol  string `json:"protocol,omitempty"` // tcp (default) or udp
	Mode      string `json:"mode,omitempty"`     // ingress (default), host or http
}

// Mount is a bind mount, a volume or a tmpfs.
type Mount struct {
	Type     string `json:"type,omitempty"` // volume (default), bind, tmpfs
	Source   string `json:"source,omitempty"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only,omitempty"`
}

// ServiceUpdateRequest is the body of POST /v1/services/{ref}/update.
type ServiceUpdateRequest struct {
	// Version is the service's Version the spec was read at; 0 skips the
	// check.
	Version uint64      `json:"version"`
	Spec    ServiceSpec `json:"spec"`
}

// Task is one container of a service on one node.
type Task struct {
	ID string `json:"id"`
	// Name is the task's container name: SERVICE.SLOT.ID, or
	// SERVICE.NODEID.ID for a global service.
	Name         string    `json:"name"`
	ServiceID    string    `json:"service_id"`
	Service      string    `json:"service"`        // the service's name
	Slot         uint64    `json:"slot,omitempty"` // 0 for a global service
	NodeID       string    `json:"node_id,omitempty"`
	Node         string    `json:"node,omitempty"` // the node's hostname
	Image        string    `json:"image,omitempty"`
	DesiredState string    `json:"desired_state"`
	State        string    `json:"state"`
	Message      string    `json:"message,omitempty"`
	Err          string    `json:"err,omitempty"`
	Timestamp    time.Time `json:"timestamp,omitzero"` // of the last state change
	ContainerID  string    `json:"container_id,omitempty"`
	ExitCode     int       `json:"exit_code,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	// Outdated: the task runs another spec than the service asks for; a
	// rolling update replaces it.
	Outdated bool `json:"outdated,omitempty"`
	// Draining: out of service before its stop (a rolling update's).
	Draining bool `json:"draining,omitempty"`
}

// SlotName is the NAME column of xo service ps, as Docker shows it:
// SERVICE.SLOT, or SERVICE.NODEID for a global service.
func (t Task) SlotName() string {
	if t.Slot == 0 && t.NodeID != "" {
		return t.Service + "." + t.NodeID
	}
	return t.Service + "." + strconv.FormatUint(t.Slot, 10)
}

// LogsOptions are the query of GET /v1/services/{ref}/logs and
// /v1/tasks/{ref}/logs.
type LogsOptions struct {
	Follow bool
	Tail   string // a number of lines, or "" or "all"
	Since  string // a timestamp or a duration such as 10m, as docker logs takes it
}

// LogLine is one line of a task container's output, or, with Err set,
// why the logs of a task could not be read. The logs routes stream them
// as JSON, one per line.
type LogLine struct {
	ServiceID string    `json:"service_id"`
	Service   string    `json:"service"`
	TaskID    string    `json:"task_id"`
	Slot      uint64    `json:"slot,omitempty"`
	NodeID    string    `json:"node_id"`
	Node      string    `json:"node"`             // hostname
	Stream    string    `json:"stream,omitempty"` // stdout or stderr
	Time      time.Time `json:"time,omitzero"`
	Line      string    `json:"line,omitempty"` // without its newline
	Err       string    `json:"err,omitempty"`
}
