package dnsd

import "net/netip"

// Snapshot is everything the server answers from: the agent builds one
// from its replica of the cluster state after each commit and hands it to
// Server.Update. A Snapshot is never changed after Update.
type Snapshot struct {
	Networks  []Network
	Endpoints []Endpoint
	Services  []Service
}

// Network is one xoverlay network.
type Network struct {
	ID     string
	Name   string
	Subnet netip.Prefix
}

// Endpoint is one container interface on a network, on any host.
type Endpoint struct {
	NetworkID   string
	ContainerID string // full ID; its first 12 characters are a name too
	IP          netip.Addr
	// Names are the container name and its network aliases on this
	// network (docker run --name, --network-alias).
	Names []string
	// Service is the service this endpoint is a task of ("" for none);
	// Task is the task's name (TASK.SERVICE): the container name of a
	// hand-run member (label xo.service).
	Service string
	Task    string
	// InService: running, healthy if it has a healthcheck, and on a node
	// that is not down. Endpoints out of service are never answered, but
	// still scope the queries their container asks.
	InService bool
}

// Endpoint modes of a service.
const (
	ModeVIP   = "vip"
	ModeDNSRR = "dnsrr"
)

// Service is a named group of endpoints. Endpoints naming a service that
// is not listed form an implicit dnsrr service (hand-run members).
type Service struct {
	Name string
	Mode string                // ModeVIP or ModeDNSRR
	VIPs map[string]netip.Addr // network ID -> virtual IP (ModeVIP)
}
