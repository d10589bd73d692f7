//go:build linux

package ingress

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
	"github.com/xoverlay/xoverlay/lbproxy/l4/nft"
	"github.com/xoverlay/xoverlay/lbproxy/l4/userspace"
	"github.com/xoverlay/xoverlay/lbproxy/l7"
)

// Tables and packet mark of the mesh's nftables planes: their own, so
// that they never touch the VIP controller's (table xo-lb, mark
// nft.DefaultMeshMark), which also programs the ingress container.
const (
	HostTable    = "xo-ingress"
	IngressTable = "xo-mesh"
	MeshMark     = 0x00400000
)

// hostNS is the agent's own network namespace: the host's.
const hostNS = "/proc/self/ns/net"

// Engine is the local Docker engine as the controller uses it.
type Engine interface {
	ContainerEngine
	ImageEngine
	Events
}

// Options configure a Controller.
type Options struct {
	Node string // this node's ID
	// Plane is the node's L4 data plane (vip.Pick): published ports use
	// nftables, or the userspace proxy where the node has to.
	Plane string
	// Binary is the xo binary, imported as the ingress container's
	// image (default: os.Executable).
	Binary    string
	Reconcile time.Duration // how often the container and the kernel are checked (default 30s)
	// HTTP are the HTTP proxy's settings (timeouts, access log); the
	// controller sets Logger, Registerer and Dial.
	HTTP       l7.Options
	Log        *slog.Logger
	Registerer prometheus.Registerer // the controller's and the HTTP proxy's metrics
	L4         *l4.Metrics           // the node's data-plane metrics, shared with the VIP controller (nil: none)
	Iptables   Iptables              // default RunIptables
	Listen     ListenFunc            // default ListenHost
}

// New returns a controller for the node's published ports; Run starts
// it.
func New(store Store, eng Engine, opt Options) (*Controller, error) {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("ingress: find the xo binary for the ingress image: %w", err)
		}
		opt.Binary = exe
	}
	if opt.Iptables == nil {
		opt.Iptables = RunIptables
	}
	if opt.Listen == nil {
		opt.Listen = ListenHost
	}
	m, err := newMetrics(opt.Registerer)
	if err != nil {
		return nil, err
	}
	log := opt.Log.With("component", "ingress")
	img := &selfImage{eng: eng, binary: opt.Binary}
	dial := &nsDialer{}
	host, inner := planes(opt.Plane, opt.Log, opt.L4)
	p := parts{
		box:         &sandboxes{eng: eng, node: opt.Node, image: img.Ref},
		fw:          forward{run: opt.Iptables},
		front:       newFront(opt.Listen, dial.DialContext, opt.Registerer, opt.HTTP, opt.Log.With("component", "http")),
		dial:        dial,
		openHost:    func() (l4.DataPlane, error) { return host(hostNS) },
		openIngress: inner,
	}
	return newController(store, eng, p, opt.Node, opt.Reconcile, log, m), nil
}

// planes returns the openers of the host's and the ingress container's
// data planes: nftables, each with its own table, or the userspace
// proxy on a node whose kernel refuses nftables (IPVS cannot serve
// published ports).
func planes(plane string, log *slog.Logger, m *l4.Metrics) (host, inner OpenPlane) {
	if plane == l4.PlaneUserspace {
		open := func(nsPath string) (l4.DataPlane, error) {
			return userspace.New(nsPath, userspace.Options{Log: log, Metrics: m})
		}
		return open, open
	}
	table := func(name string) OpenPlane {
		return func(nsPath string) (l4.DataPlane, error) {
			return nft.New(nsPath, nft.Options{Table: name, MeshMark: MeshMark, Log: log, Metrics: m})
		}
	}
	return table(HostTable), table(IngressTable)
}
