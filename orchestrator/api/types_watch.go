package api

// WatchState is the cluster as templates see it (GET /v1/watch): the
// services, their tasks and every endpoint with whether it is in service.
// Lists are sorted so that the same state always encodes the same way.
//
// Index identifies the content: it changes when, and only when, anything
// in the state changes. A watch that names the index it has returns when
// the index is different, or when its wait ends (same index).
type WatchState struct {
	Index     string          `json:"index"`
	Nodes     []WatchNode     `json:"nodes"`     // by hostname
	Networks  []WatchNetwork  `json:"networks"`  // by name
	Services  []WatchService  `json:"services"`  // by name
	Tasks     []WatchTask     `json:"tasks"`     // by service name, slot (or node), creation
	Endpoints []WatchEndpoint `json:"endpoints"` // by network name, then address
}

// WatchNode is a node of the cluster.
type WatchNode struct {
	ID           string            `json:"id"`
	Hostname     string            `json:"hostname"`
	Addr         string            `json:"addr,omitempty"` // underlay address
	Role         string            `json:"role"`
	Availability string            `json:"availability,omitempty"`
	Status       string            `json:"status,omitempty"` // ready, suspect, down
	Labels       map[string]string `json:"labels,omitempty"`
}

// WatchNetwork is an xoverlay network.
type WatchNetwork struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Subnet  string `json:"subnet"`
	Gateway string `json:"gateway,omitempty"`
}

// WatchService is a service: its spec's public parts and its VIPs.
type WatchService struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	Mode         string            `json:"mode"` // replicated, global or external
	Image        string            `json:"image,omitempty"`
	EndpointMode string            `json:"endpoint_mode,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	Ports        []PortConfig      `json:"ports,omitempty"`
	VIPs         []WatchVIP        `json:"vips,omitempty"` // by network name
	Replicas     ServiceReplicas   `json:"replicas"`
}

// WatchVIP is a service's virtual IP on one network.
type WatchVIP struct {
	NetworkID string `json:"network_id"`
	Network   string `json:"network"`
	Addr      string `json:"addr"`
}

// WatchTask is a task of a managed service. Its messages and timestamps
// are left out: they change without changing what a template can use.
type WatchTask struct {
	ID           string `json:"id"`
	Name         string `json:"name"` // SERVICE.SLOT.ID, the container's name
	ServiceID    string `json:"service_id"`
	Service      string `json:"service"`
	Slot         uint64 `json:"slot,omitempty"`
	NodeID       string `json:"node_id,omitempty"`
	Node         string `json:"node,omitempty"` // hostname
	DesiredState string `json:"desired_state"`
	State        string `json:"state"`
	ContainerID  string `json:"container_id,omitempty"`
}

// WatchEndpoint is one container interface on a network.
type WatchEndpoint struct {
	ID          string   `json:"id"`
	NetworkID   string   `json:"network_id"`
	Network     string   `json:"network"`
	NodeID      string   `json:"node_id"`
	Node        string   `json:"node,omitempty"` // hostname
	IP          string   `json:"ip"`
	ContainerID string   `json:"container_id,omitempty"`
	Container   string   `json:"container,omitempty"`
	Aliases     []string `json:"aliases,omitempty"`
	Service     string   `json:"service,omitempty"`   // label xo.service
	TaskID      string   `json:"task_id,omitempty"`   // label xo.task
	TaskName    string   `json:"task_name,omitempty"` // SERVICE.SLOT.ID when the task is known
	Running     bool     `json:"running,omitempty"`
	Health      string   `json:"health,omitempty"` // starting, healthy, unhealthy; "" without healthcheck
	// InService: running, healthy when it has a healthcheck, and on a node
	// that is not down. Discovery DNS answers exactly these.
	InService bool `json:"in_service,omitempty"`
}
