// Package state holds the cluster's replicated objects, the store that keeps
// them in memory, and the raft FSM that changes them through typed commands.
package state

import (
	"maps"
	"slices"
	"time"
)

// Node roles, availabilities and statuses.
const (
	RoleManager = "manager" // raft voter
	RoleWorker  = "worker"  // raft non-voter: full replica, no vote

	AvailabilityActive = "active"
	AvailabilityDrain  = "drain"

	StatusReady   = "ready"
	StatusSuspect = "suspect" // missed heartbeats, within the grace period
	StatusDown    = "down"
)

// Node is a cluster member.
type Node struct {
	ID           string            `json:"id"`
	Hostname     string            `json:"hostname"`
	Addr         string            `json:"addr,omitempty"`      // underlay (VXLAN) address
	RaftAddr     string            `json:"raft_addr,omitempty"` // host:port of raft and node RPC
	Role         string            `json:"role"`
	Availability string            `json:"availability,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	Status       string            `json:"status,omitempty"`
	StatusMsg    string            `json:"status_msg,omitempty"`
	StatusAt     time.Time         `json:"status_at,omitzero"`
	Capabilities Capabilities      `json:"capabilities"`
	Capacity     Resources         `json:"capacity,omitzero"` // what tasks may reserve; zero: unknown, not checked
	JoinedAt     time.Time         `json:"joined_at"`
}

// Capabilities are what a node's kernel and engine offer.
type Capabilities struct {
	Kernel    string `json:"kernel,omitempty"`
	IPVS      bool   `json:"ipvs"`
	NFTables  bool   `json:"nftables"`
	Engine    string `json:"engine,omitempty"`     // Docker engine version
	DataPlane string `json:"data_plane,omitempty"` // the service VIPs' data plane in use: ipvs, nftables or userspace
}

// Cluster is the cluster-wide identity: the CA certificate and the hashes
// of the join tokens' secrets. The CA key is never replicated: only
// managers hold it, on disk.
type Cluster struct {
	ID             string    `json:"id"`
	CACert         string    `json:"ca_cert"` // PEM
	CADigest       string    `json:"ca_digest"`
	ManagerSecret  string    `json:"manager_secret"` // sha256 of the secret, hex
	WorkerSecret   string    `json:"worker_secret"`
	ManagerSealed  string    `json:"manager_sealed"` // the secret sealed with the CA key (pki.SealSecret)
	WorkerSealed   string    `json:"worker_sealed"`
	CreatedAt      time.Time `json:"created_at"`
	TokensRotateAt time.Time `json:"tokens_rotated_at,omitzero"`
}

// Network is one xoverlay network. Its ID is also the IPAM pool ID that the
// engines hold. Engines maps node ID to that node's engine network ID; a
// network with no engine yet is pending (its pool was requested, the driver
// has not been asked to create it).
type Network struct {
	ID        string                 `json:"id"`
	Name      string                 `json:"name,omitempty"`
	VNI       uint32                 `json:"vni,omitempty"`
	Subnet    string                 `json:"subnet"`
	IPRange   string                 `json:"ip_range,omitempty"`
	Gateway   string                 `json:"gateway,omitempty"`
	MTU       int                    `json:"mtu,omitempty"`
	Options   map[string]string      `json:"options,omitempty"`
	Engines   map[string]string      `json:"engines,omitempty"`
	Blocks    map[string]string      `json:"blocks,omitempty"`   // block CIDR -> node ID
	Reserved  map[string]Reservation `json:"reserved,omitempty"` // IP -> holder
	Released  map[string]bool        `json:"released,omitempty"` // node -> its IPAM released the pool before its driver deleted the network
	Aux       map[string]string      `json:"aux,omitempty"`      // --aux-address name -> IP, from the first engine
	Deleting  bool                   `json:"deleting,omitempty"` // removed on one host: every engine removes its copy
	Errors    map[string]string      `json:"errors,omitempty"`   // node -> why its engine has no copy
	CreatedAt time.Time              `json:"created_at"`
}

// Reservation is an address held without an endpoint: an auxiliary address,
// an address asked for by `--ip` before its endpoint exists, or a
// service's virtual IP.
type Reservation struct {
	Node    string `json:"node"`
	Service string `json:"service,omitempty"` // the service whose virtual IP this is (Node is then "")
}

// Endpoint is one container interface on an xoverlay network.
type Endpoint struct {
	ID          string    `json:"id"`
	NetworkID   string    `json:"network_id"`
	Node        string    `json:"node"`
	IP          string    `json:"ip"`
	MAC         string    `json:"mac"`
	HostIface   string    `json:"host_iface"`
	ContainerID string    `json:"container_id,omitempty"`
	Container   string    `json:"container,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	// Drained: `xo drain` took this hand-run container out of service
	// (DNS, VIPs, routing mesh, HTTP pools) until it stops.
	Drained bool `json:"drained,omitempty"`
	EndpointStatus
}

// Health states of an endpoint's container, as Docker reports them; ""
// when the container has no healthcheck.
const (
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// EndpointStatus is what the engine of the endpoint's node observes of the
// container behind it; discovery answers only endpoints in service.
type EndpointStatus struct {
	Aliases []string `json:"aliases,omitempty"` // network aliases, without the container name
	Running bool     `json:"running,omitempty"`
	Health  string   `json:"health,omitempty"`
	Service string   `json:"service,omitempty"` // label xo.service: the service it belongs to
	Task    string   `json:"task,omitempty"`    // label xo.task: the managed task it runs ("" when hand-run)
}

// InService: running and, with a healthcheck, healthy.
func (s EndpointStatus) InService() bool {
	return s.Running && (s.Health == "" || s.Health == HealthHealthy)
}

// Equal compares two statuses.
func (s EndpointStatus) Equal(o EndpointStatus) bool {
	return s.Running == o.Running && s.Health == o.Health && s.Service == o.Service && s.Task == o.Task &&
		slices.Equal(s.Aliases, o.Aliases)
}

// Data is everything the FSM replicates; it is also the snapshot format.
type Data struct {
	Cluster   *Cluster             `json:"cluster,omitempty"`
	Nodes     map[string]*Node     `json:"nodes"`
	Networks  map[string]*Network  `json:"networks"`
	Endpoints map[string]*Endpoint `json:"endpoints"`
	Services  map[string]*Service  `json:"services"` // absent in snapshots older than services
	Tasks     map[string]*Task     `json:"tasks"`
	// Index is the raft index of the last command applied: the same on
	// every replica at the same point of the log, so snapshots carry it
	// (absent in snapshots older than it: 0).
	Index uint64 `json:"index,omitempty"`
}

func newData() *Data {
	return &Data{
		Nodes:     map[string]*Node{},
		Networks:  map[string]*Network{},
		Endpoints: map[string]*Endpoint{},
		Services:  map[string]*Service{},
		Tasks:     map[string]*Task{},
	}
}

func (n *Network) clone() *Network {
	c := *n
	c.Options = maps.Clone(n.Options)
	c.Engines = maps.Clone(n.Engines)
	c.Blocks = maps.Clone(n.Blocks)
	c.Reserved = maps.Clone(n.Reserved)
	c.Released = maps.Clone(n.Released)
	c.Aux = maps.Clone(n.Aux)
	c.Errors = maps.Clone(n.Errors)
	return &c
}
