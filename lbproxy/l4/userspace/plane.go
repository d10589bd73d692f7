//go:build linux

// Package userspace is the L4 data plane of last resort, for kernels
// where nftables is unusable: a TCP and UDP proxy inside the client's
// network namespace.
//
// Each VIP is added to the namespace's loopback device (label lo:xolb)
// and the proxy listens on VIP:port there; a published port listens on
// 0.0.0.0:port. The proxy dials backends from the same namespace, so a
// backend sees the client container's own address, as with the kernel
// planes (for a published port it sees the node's, as with the mesh's
// source NAT). TCP is copied with io.Copy between *net.TCPConn (splice);
// UDP keeps a flow per client address, closed after Options.UDPIdle of
// silence. A frontend without backends has no socket: connections are
// refused. Removing a backend stops new connections to it at once and
// closes its UDP flows; its TCP connections finish on their own.
//
// A proxy must listen on a port to serve it, so an address-only VIP
// (every port) is served on its known ports only (l4.Service.KnownPorts,
// the service's declared target ports): other ports of the VIP are
// refused.
package userspace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
	"github.com/xoverlay/xoverlay/lbproxy/l4/inns"
)

var _ l4.DataPlane = (*Plane)(nil)

// Options tune a Plane. The zero value is usable.
type Options struct {
	// UDPIdle closes a UDP flow after this long without a datagram
	// either way (default 30s).
	UDPIdle time.Duration
	// MaxUDPFlows bounds the flows of one frontend; datagrams of new
	// clients above it are dropped (default 4096).
	MaxUDPFlows int
	// DialTimeout bounds a connection attempt to one backend (default 2s).
	DialTimeout time.Duration
	Log         *slog.Logger
	Metrics     *l4.Metrics
}

// Plane is the userspace data plane of one network namespace. Close
// stops every proxy and removes the VIP addresses it added.
type Plane struct {
	opt     Options
	ns      *inns.NS
	link    *netlink.Handle
	log     *slog.Logger
	metrics *l4.Metrics
	gauges  *l4.Gauges
	wg      sync.WaitGroup // every goroutine of every frontend

	mu      sync.Mutex
	fronts  map[l4.Key]*frontend
	applied l4.Frontends
	byVIP   l4.VIPIndex // applied's keys by VIP, for Patch
	synced  bool        // an Apply ran: applied is the whole state, so Patch may change it
	closed  bool

	snat atomic.Pointer[[]l4.SNAT]
}

// vipLabel marks the loopback addresses this plane owns.
const vipLabel = "lo:xolb"

// New opens the namespace at nsPath. It changes nothing until Apply.
func New(nsPath string, opt Options) (*Plane, error) {
	if opt.UDPIdle <= 0 {
		opt.UDPIdle = 30 * time.Second
	}
	if opt.MaxUDPFlows <= 0 {
		opt.MaxUDPFlows = 4096
	}
	if opt.DialTimeout <= 0 {
		opt.DialTimeout = 2 * time.Second
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	ns, err := inns.Open(nsPath)
	if err != nil {
		return nil, fmt.Errorf("userspace: %w", err)
	}
	link, err := netlink.NewHandleAt(ns.Handle(), unix.NETLINK_ROUTE)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("userspace: netlink in %s: %w", nsPath, err)
	}
	p := &Plane{
		opt:     opt,
		ns:      ns,
		link:    link,
		log:     opt.Log.With("component", "lb-userspace", "netns", nsPath),
		metrics: opt.Metrics,
		gauges:  opt.Metrics.Gauges(),
		fronts:  map[l4.Key]*frontend{},
		applied: l4.Frontends{},
	}
	p.snat.Store(&[]l4.SNAT{})
	return p, nil
}

// Name returns l4.PlaneUserspace.
func (p *Plane) Name() string { return l4.PlaneUserspace }

// Apply starts, updates and stops proxies so that the namespace serves d.
// A frontend that cannot start (its port is taken) is reported and
// retried by Reconcile; the others are applied.
func (p *Plane) Apply(ctx context.Context, d l4.Desired) error {
	fronts, err := d.PerPort().Frontends()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("userspace: apply: %w", err)
	}
	snat := append([]l4.SNAT(nil), d.MeshSource...)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("userspace: apply on a closed plane")
	}
	start := time.Now()
	p.snat.Store(&snat)
	var errs []error
	// VIPs first: a proxy binds to its VIP.
	if err := p.syncAddresses(fronts, nil); err != nil {
		errs = append(errs, err)
	}
	deltas := l4.Diff(p.applied, fronts)
	for _, dl := range deltas {
		errs = append(errs, p.change(dl))
	}
	p.applied, p.synced = fronts, true
	p.byVIP.Update(deltas)
	p.metrics.ObserveUpdate(l4.PlaneUserspace, time.Since(start))
	p.gauges.Set(fronts)
	return errors.Join(errs...)
}

// change starts, updates or stops the proxy of one frontend.
func (p *Plane) change(dl l4.Delta) error {
	switch dl.Op {
	case l4.OpAdd:
		f := newFrontend(p, dl.Key)
		p.fronts[dl.Key] = f
		return f.setBackends(dl.Backends)
	case l4.OpUpdate:
		return p.fronts[dl.Key].setBackends(dl.Backends)
	case l4.OpRemove:
		p.fronts[dl.Key].stop()
		delete(p.fronts, dl.Key)
	}
	return nil
}

// Reconcile restores VIP addresses removed behind the plane's back,
// removes its addresses that no VIP needs, and restarts proxies whose
// socket failed (or that could not start).
func (p *Plane) Reconcile(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("userspace: reconcile: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, errors.New("userspace: reconcile on a closed plane")
	}
	fixes := 0
	err := p.syncAddresses(p.applied, &fixes)
	for _, f := range p.fronts {
		if f.broken() {
			fixes++
			err = errors.Join(err, f.restart())
		}
	}
	p.metrics.Fixed(l4.PlaneUserspace, fixes)
	if fixes > 0 {
		p.log.Info("repaired", "fixes", fixes)
	}
	return fixes, err
}

// Close stops every proxy, closes every connection and flow, and removes
// the plane's VIP addresses.
func (p *Plane) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for _, f := range p.fronts {
		f.stop()
		f.closeConns()
	}
	err := p.syncAddresses(l4.Frontends{}, nil)
	p.gauges.Clear()
	p.mu.Unlock()
	p.wg.Wait()
	p.link.Close()
	return errors.Join(err, p.ns.Close())
}

// syncAddresses makes the labelled loopback addresses the VIPs of fronts,
// counting changes in fixes when non-nil.
func (p *Plane) syncAddresses(fronts l4.Frontends, fixes *int) error {
	lo, err := p.link.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("userspace: loopback in %s: %w", p.ns.Path(), err)
	}
	if lo.Attrs().Flags&unix.IFF_UP == 0 {
		if err := p.link.LinkSetUp(lo); err != nil {
			return fmt.Errorf("userspace: set lo up in %s: %w", p.ns.Path(), err)
		}
	}
	addrs, err := p.link.AddrList(lo, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("userspace: addresses of lo in %s: %w", p.ns.Path(), err)
	}
	want := map[netip.Addr]bool{}
	for k := range fronts {
		if !k.Published() {
			want[k.VIP] = true
		}
	}
	var errs []error
	for _, a := range addrs {
		ip, _ := netip.AddrFromSlice(a.IP.To4())
		if want[ip] {
			delete(want, ip)
			continue
		}
		if a.Label != vipLabel {
			continue
		}
		if err := p.link.AddrDel(lo, &a); err != nil {
			errs = append(errs, fmt.Errorf("userspace: remove VIP %s from lo: %w", ip, err))
		} else if fixes != nil {
			*fixes++
		}
	}
	for ip := range want {
		a := &netlink.Addr{IPNet: netlinkPrefix(ip), Label: vipLabel}
		if err := p.link.AddrAdd(lo, a); err != nil {
			errs = append(errs, fmt.Errorf("userspace: add VIP %s to lo: %w", ip, err))
		} else if fixes != nil {
			*fixes++
		}
	}
	return errors.Join(errs...)
}

// sourceFor returns the address to dial a published port's backend from
// (invalid: let the kernel choose).
func (p *Plane) sourceFor(backend netip.Addr) netip.Addr {
	best := -1
	var src netip.Addr
	for _, s := range *p.snat.Load() {
		if s.Prefix.Contains(backend) && s.Prefix.Bits() > best {
			best, src = s.Prefix.Bits(), s.Source
		}
	}
	return src
}

func netlinkPrefix(ip netip.Addr) *net.IPNet {
	return &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(32, 32)}
}
