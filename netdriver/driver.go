// Package netdriver is the xoverlay network and IPAM driver logic. It
// records every change in the cluster state first, then converges the
// kernel, so a restart can re-apply everything from state.
package netdriver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// Cluster is what the driver needs from the cluster: committed writes and
// reads of the local replica.
type Cluster interface {
	Propose(ctx context.Context, cmd state.Command) (any, error)
	View(fn func(state.ReadTx))
}

// Config holds the driver's settings.
type Config struct {
	Node        string // this node's cluster ID
	DefaultPool string // where subnets come from when none is given
	DefaultBits int    // prefix length carved from DefaultPool
	MTU         int    // container-side MTU (VXLAN overhead taken off 1500)
	Local       net.IP // underlay address for VXLAN; nil lets the kernel pick
	Timeout     time.Duration
}

// Defaults for Config.
const (
	DefaultPool  = "10.200.0.0/16"
	DefaultBits  = 24
	DefaultMTU   = 1450
	AddressSpace = "xoverlay"
	VXLANPort    = 4789
)

// Driver serves both plugin protocols from one state.
type Driver struct {
	cfg     Config
	cluster Cluster
	kernel  Kernel
	peers   Peers // nil: remote endpoints are not programmed
	log     *slog.Logger

	// kmu serialises kernel changes with Reconcile, so Reconcile never
	// mistakes a device being built for an orphan.
	kmu sync.Mutex

	mu      sync.Mutex
	pending map[string]map[netip.Addr]bool // network -> handed out, no endpoint yet
	cursor  map[string]netip.Addr          // network -> last address handed out
}

// New returns a driver. It touches nothing until called. When kernel also
// implements Peers, ReconcilePeers programs remote endpoints through it.
func New(cfg Config, cluster Cluster, kernel Kernel, log *slog.Logger) *Driver {
	if cfg.DefaultPool == "" {
		cfg.DefaultPool = DefaultPool
	}
	if cfg.DefaultBits == 0 {
		cfg.DefaultBits = DefaultBits
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 15 * time.Second
	}
	d := &Driver{
		cfg: cfg, cluster: cluster, kernel: kernel, log: log,
		pending: map[string]map[netip.Addr]bool{},
		cursor:  map[string]netip.Addr{},
	}
	if p, ok := kernel.(Peers); ok {
		d.peers = p
	}
	return d
}

// SetPeers replaces what ReconcilePeers programs remote endpoints through;
// call it before the driver is used.
func (d *Driver) SetPeers(p Peers) { d.peers = p }

func (d *Driver) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d.cfg.Timeout)
}

func (d *Driver) propose(cmd state.Command) (any, error) {
	ctx, cancel := d.ctx()
	defer cancel()
	return d.cluster.Propose(ctx, cmd)
}

// plain is a store error as the docker CLI shows it: "xoverlay: <what>".
func plain(err error) error {
	return errors.New("xoverlay: " + state.Message(err))
}

func newID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// networkByEngine finds the network this node's engine knows as engineID.
func (d *Driver) networkByEngine(engineID string) (n state.Network, ok bool) {
	d.cluster.View(func(tx state.ReadTx) {
		for _, nw := range tx.Networks() {
			if nw.Engines[d.cfg.Node] == engineID {
				n, ok = *nw, true
				return
			}
		}
	})
	return n, ok
}

func (d *Driver) bridgeSpec(n state.Network) BridgeSpec {
	subnet := netip.MustParsePrefix(n.Subnet)
	var gw *net.IPNet
	if n.Gateway != "" {
		gw = &net.IPNet{IP: net.ParseIP(n.Gateway), Mask: net.CIDRMask(subnet.Bits(), 32)}
	}
	mtu := n.MTU
	if mtu == 0 {
		mtu = d.cfg.MTU
	}
	return BridgeSpec{
		VNI: n.VNI, Bridge: BridgeName(n.VNI), VXLAN: VXLANName(n.VNI),
		Gateway: gw, MTU: mtu, Port: VXLANPort, Local: d.cfg.Local,
	}
}
