// Package state holds the cluster's replicated objects, the store that keeps
// them in memory, and the raft FSM that changes them through typed commands.
package state

import (
	"maps"
	"time"
)

// Node is a cluster member.
type Node struct {
	ID       string    `json:"id"`
	Hostname string    `json:"hostname"`
	Addr     string    `json:"addr,omitempty"`
	Role     string    `json:"role"`
	JoinedAt time.Time `json:"joined_at"`
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
	CreatedAt time.Time              `json:"created_at"`
}

// Reservation is an address held without an endpoint: an auxiliary address
// or an address asked for by `--ip` before its endpoint exists.
type Reservation struct {
	Node string `json:"node"`
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
}

// Data is everything the FSM replicates; it is also the snapshot format.
type Data struct {
	Nodes     map[string]*Node     `json:"nodes"`
	Networks  map[string]*Network  `json:"networks"`
	Endpoints map[string]*Endpoint `json:"endpoints"`
}

func newData() *Data {
	return &Data{
		Nodes:     map[string]*Node{},
		Networks:  map[string]*Network{},
		Endpoints: map[string]*Endpoint{},
	}
}

func (n *Network) clone() *Network {
	c := *n
	c.Options = maps.Clone(n.Options)
	c.Engines = maps.Clone(n.Engines)
	c.Blocks = maps.Clone(n.Blocks)
	c.Reserved = maps.Clone(n.Reserved)
	c.Released = maps.Clone(n.Released)
	return &c
}
