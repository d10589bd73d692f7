package api

import "time"

// DefaultClusterPort is the port nodes join a cluster on when the address
// given to `xo cluster join` has none.
const DefaultClusterPort = 2378

// Node roles, availabilities and manager statuses as the API shows them.
const (
	RoleManager = "manager"
	RoleWorker  = "worker"

	AvailabilityActive = "active"
	AvailabilityDrain  = "drain"

	ManagerLeader      = "Leader"
	ManagerReachable   = "Reachable"
	ManagerUnreachable = "Unreachable"
)

// ClusterInitRequest is the body of POST /v1/cluster/init.
type ClusterInitRequest struct {
	// AdvertiseAddr is the address (host or IP, optional port) other
	// nodes reach this one on; "" lets the agent choose.
	AdvertiseAddr string `json:"advertise_addr,omitempty"`
}

// ClusterJoinRequest is the body of POST /v1/cluster/join.
type ClusterJoinRequest struct {
	Token         string `json:"token"`
	RemoteAddr    string `json:"remote_addr"` // host:port of a manager
	AdvertiseAddr string `json:"advertise_addr,omitempty"`
}

// ClusterInfo is the answer to init and join.
type ClusterInfo struct {
	ClusterID  string `json:"cluster_id"`
	NodeID     string `json:"node_id"`
	Role       string `json:"role"`
	RemoteAddr string `json:"remote_addr"` // host:port other nodes join on
	// The join tokens; filled only when this node is a manager.
	WorkerToken  string `json:"worker_token,omitempty"`
	ManagerToken string `json:"manager_token,omitempty"`
}

// JoinToken is the answer to GET /v1/cluster/token/{role}.
type JoinToken struct {
	Role  string `json:"role"`
	Token string `json:"token"`
}

// Node is one cluster member.
type Node struct {
	ID           string    `json:"id"`
	Hostname     string    `json:"hostname"`
	Addr         string    `json:"addr,omitempty"`      // underlay (VXLAN) address
	RaftAddr     string    `json:"raft_addr,omitempty"` // host:port of raft and node RPC
	Role         string    `json:"role"`                // manager or worker
	Availability string    `json:"availability"`        // active or drain
	Status       string    `json:"status"`              // ready, suspect or down
	StatusMsg    string    `json:"status_msg,omitempty"`
	StatusAt     time.Time `json:"status_at,omitzero"`
	// ManagerStatus is Leader, Reachable or Unreachable for managers, ""
	// for workers.
	ManagerStatus string            `json:"manager_status,omitempty"`
	Labels        map[string]string `json:"labels"`
	Capabilities  NodeCapabilities  `json:"capabilities"`
	JoinedAt      time.Time         `json:"joined_at"`
	Self          bool              `json:"self"` // the node answering the API
}

// NodeCapabilities are what a node's kernel and engine offer.
type NodeCapabilities struct {
	Kernel    string `json:"kernel,omitempty"`
	Engine    string `json:"engine,omitempty"` // Docker engine version
	IPVS      bool   `json:"ipvs"`
	NFTables  bool   `json:"nftables"`
	DataPlane string `json:"data_plane,omitempty"` // the service VIPs' data plane in use: ipvs, nftables or userspace
}

// NodeUpdateRequest is the body of POST /v1/nodes/{ref}/update.
type NodeUpdateRequest struct {
	LabelsAdd    map[string]string `json:"labels_add,omitempty"`
	LabelsRm     []string          `json:"labels_rm,omitempty"`
	Availability string            `json:"availability,omitempty"` // "" keeps it
}

// NetworkCreateRequest is the body of POST /v1/networks.
type NetworkCreateRequest struct {
	Name         string            `json:"name"`
	Subnet       string            `json:"subnet,omitempty"`
	IPRange      string            `json:"ip_range,omitempty"`
	Gateway      string            `json:"gateway,omitempty"`
	AuxAddresses map[string]string `json:"aux_addresses,omitempty"` // name -> IP
	Options      map[string]string `json:"options,omitempty"`
}
