// Package api holds the wire types of the xo agent's local HTTP API and a
// client that talks to it over a unix socket. The CLI depends only on this
// package.
package api

import (
	"runtime"
	"time"
)

// APIVersion is the version of the wire protocol; routes live under /v1.
const APIVersion = "1"

// DefaultSocket is where the agent serves the API unless told otherwise.
const DefaultSocket = "/run/xo/xo.sock"

// EnvSocket names the environment variable that overrides DefaultSocket.
const EnvSocket = "XO_API_SOCKET"

// Build information, set at link time with
//
//	-ldflags "-X github.com/xoverlay/xoverlay/orchestrator/api.Version=v1.2.3
//	          -X github.com/xoverlay/xoverlay/orchestrator/api.GitCommit=abc1234"
var (
	Version   = "dev"
	GitCommit = ""
)

// VersionInfo describes one binary: the CLI or the agent. (It is not named
// Version because that name is the link-time version string above.)
type VersionInfo struct {
	Version    string `json:"version"`
	GitCommit  string `json:"git_commit,omitempty"`
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	APIVersion string `json:"api_version"`
}

// BuildInfo returns the VersionInfo of the running binary.
func BuildInfo() VersionInfo {
	return VersionInfo{
		Version:    Version,
		GitCommit:  GitCommit,
		GoVersion:  runtime.Version(),
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
		APIVersion: APIVersion,
	}
}

// Info describes the agent answering the API. The agent fills the identity
// and configuration fields; the server adds the object counts.
type Info struct {
	ClusterID    string `json:"cluster_id,omitempty"` // "" before xo cluster init/join
	NodeID       string `json:"node_id"`
	Hostname     string `json:"hostname"`
	Role         string `json:"role"`
	Leader       bool   `json:"leader"`
	LeaderAddr   string `json:"leader_addr,omitempty"`
	RaftAddr     string `json:"raft_addr,omitempty"` // host:port other nodes reach this one on
	StateDir     string `json:"state_dir"`
	PluginSocket string `json:"plugin_socket"`
	APISocket    string `json:"api_socket"`
	MetricsAddr  string `json:"metrics_addr,omitempty"`
	DNSAddress   string `json:"dns_address,omitempty"`
	DataPlane    string `json:"data_plane"`
	Version      string `json:"version"`
	Nodes        int    `json:"nodes"`
	Networks     int    `json:"networks"`
	Endpoints    int    `json:"endpoints"`
	Services     int    `json:"services"`
	Tasks        int    `json:"tasks"`         // tasks meant to run
	TasksRunning int    `json:"tasks_running"` // of those, running
}

// Network is one xoverlay network as the cluster sees it.
type Network struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"`
	VNI     uint32            `json:"vni"`
	Subnet  string            `json:"subnet"`
	IPRange string            `json:"ip_range,omitempty"`
	Gateway string            `json:"gateway,omitempty"`
	MTU     int               `json:"mtu,omitempty"`
	Options map[string]string `json:"options,omitempty"`
	Created time.Time         `json:"created"`
	Hosts   []NetworkHost     `json:"hosts"` // sorted by hostname; empty while pending
	// Errors maps a hostname to why its engine has no copy of the network.
	Errors map[string]string `json:"errors,omitempty"`
	// Deleting: removed on one host; every engine is removing its copy.
	Deleting bool `json:"deleting,omitempty"`
}

// ShortID is the first 12 characters of the ID, as Docker shows IDs.
func (n Network) ShortID() string { return ShortID(n.ID) }

// EndpointCount is the number of endpoints over all hosts.
func (n Network) EndpointCount() int {
	c := 0
	for _, h := range n.Hosts {
		c += len(h.Endpoints)
	}
	return c
}

// NetworkHost is one node's share of a network.
type NetworkHost struct {
	NodeID          string     `json:"node_id"`
	Hostname        string     `json:"hostname"`
	EngineNetworkID string     `json:"engine_network_id,omitempty"`
	Blocks          []string   `json:"blocks"`    // address blocks this node allocates from, sorted
	Endpoints       []Endpoint `json:"endpoints"` // sorted by IP
}

// Endpoint is one container interface on a network.
type Endpoint struct {
	ID          string `json:"id"`
	Container   string `json:"container,omitempty"`
	ContainerID string `json:"container_id,omitempty"`
	IP          string `json:"ip"`
	MAC         string `json:"mac"`
	HostIface   string `json:"host_iface"`
}

// Error is the body of every non-2xx answer.
type Error struct {
	Message string `json:"message"`
}

// ShortID truncates an ID to 12 characters.
func ShortID(id string) string {
	return id[:min(12, len(id))]
}
