package template

import (
	"maps"
	"slices"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

// Endpoint is one container interface on a network: a backend when it is
// in service. The functions service and endpoints return them.
type Endpoint struct {
	// Name is the task's name (web.1.ID) for a managed task, else the
	// container's name.
	Name        string
	Address     string // IP on the network
	Network     string // network name
	NetworkID   string
	Node        string // hostname
	NodeID      string
	Service     string // "" when the container belongs to none
	TaskID      string // "" for a container run by hand
	Container   string
	ContainerID string
	Aliases     []string
	Running     bool
	Health      string // starting, healthy, unhealthy; "" without healthcheck
	// Healthy: in service, as discovery DNS decides it: running, healthy
	// when it has a healthcheck, on a node that is not down.
	Healthy bool
}

// String is the address, so {{ join "," (service "web") }} lists them.
func (e Endpoint) String() string { return e.Address }

// Service is a service of the cluster.
type Service struct {
	Name         string
	ID           string
	Mode         string // replicated, global or external
	Image        string
	EndpointMode string // vip or dnsrr
	Labels       map[string]string
	Ports        []api.PortConfig
	VIPs         map[string]string // network name -> virtual IP
	Running      uint64            // tasks running
	Desired      uint64            // tasks wanted
}

// String is the name.
func (s Service) String() string { return s.Name }

// Task is a task of a managed service.
type Task struct {
	Name         string // SERVICE.SLOT.ID, its container's name
	ID           string
	Service      string
	Slot         uint64
	Node         string // hostname, "" before it is placed
	NodeID       string
	DesiredState string // running, shutdown...
	State        string // pending, running, failed...
	ContainerID  string
}

// String is the name.
func (t Task) String() string { return t.Name }

// Network is an xoverlay network.
type Network struct {
	Name    string
	ID      string
	Subnet  string
	Gateway string
}

// String is the name.
func (n Network) String() string { return n.Name }

// Node is a host of the cluster.
type Node struct {
	Hostname     string
	ID           string
	Addr         string // underlay address
	Role         string // manager or worker
	Availability string // active or drain
	Status       string // ready, suspect or down
	Labels       map[string]string
}

// String is the hostname.
func (n Node) String() string { return n.Hostname }

// View is the cluster state a template renders: also its dot, so
// {{ range .Services }} works like {{ range services }}.
type View struct {
	Services  []Service  // by name
	Tasks     []Task     // by service, slot (or node), creation
	Endpoints []Endpoint // by network name, then address
	Networks  []Network  // by name
	Nodes     []Node     // by hostname
	networks  map[string]bool
}

// NewView converts the agent's answer; it keeps the agent's order.
func NewView(st api.WatchState) *View {
	v := &View{networks: map[string]bool{}}
	for _, n := range st.Nodes {
		v.Nodes = append(v.Nodes, Node{Hostname: n.Hostname, ID: n.ID, Addr: n.Addr, Role: n.Role,
			Availability: n.Availability, Status: n.Status, Labels: maps.Clone(n.Labels)})
	}
	for _, n := range st.Networks {
		v.networks[n.Name] = true
		v.Networks = append(v.Networks, Network{Name: n.Name, ID: n.ID, Subnet: n.Subnet, Gateway: n.Gateway})
	}
	for _, s := range st.Services {
		svc := Service{Name: s.Name, ID: s.ID, Mode: s.Mode, Image: s.Image, EndpointMode: s.EndpointMode,
			Labels: maps.Clone(s.Labels), Ports: slices.Clone(s.Ports), VIPs: map[string]string{},
			Running: s.Replicas.Running, Desired: s.Replicas.Desired}
		for _, vip := range s.VIPs {
			svc.VIPs[vip.Network] = vip.Addr
		}
		v.Services = append(v.Services, svc)
	}
	for _, t := range st.Tasks {
		v.Tasks = append(v.Tasks, Task{Name: t.Name, ID: t.ID, Service: t.Service, Slot: t.Slot, Node: t.Node,
			NodeID: t.NodeID, DesiredState: t.DesiredState, State: t.State, ContainerID: t.ContainerID})
	}
	for _, e := range st.Endpoints {
		name := e.TaskName
		if name == "" {
			name = e.Container
		}
		v.Endpoints = append(v.Endpoints, Endpoint{Name: name, Address: e.IP, Network: e.Network,
			NetworkID: e.NetworkID, Node: e.Node, NodeID: e.NodeID, Service: e.Service, TaskID: e.TaskID,
			Container: e.Container, ContainerID: e.ContainerID, Aliases: slices.Clone(e.Aliases),
			Running: e.Running, Health: e.Health, Healthy: e.InService})
	}
	return v
}
