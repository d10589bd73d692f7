//go:build linux

// Package ipvs is the IPVS data plane (github.com/moby/ipvs) for kernels
// that have ip_vs. It serves service VIPs only; published ports go to the
// nftables plane.
//
// An address-only VIP is served on its known ports only (one IPVS virtual
// service per port, l4.Desired.PerPort).
//
// moby/ipvs does not fail without ip_vs: it logs, runs modprobe, and its
// calls then go to a generic netlink family 0. So New calls Probe first
// and never touches the library on a kernel without IPVS. Probe is the
// only part that the machines of this project (no ip_vs) can exercise.
package ipvs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/moby/ipvs"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
)

var _ l4.DataPlane = (*Plane)(nil)

// The VIP controller hands changes, not the whole state, to a plane with
// this method.
var _ interface {
	Patch(ctx context.Context, upsert []l4.Service, remove []l4.Key) error
} = (*Plane)(nil)

// ErrUnavailable is returned (wrapped) when the kernel has no IPVS.
var ErrUnavailable = errors.New("the kernel has no IPVS (ip_vs)")

// Probe reports whether the kernel offers IPVS: its generic netlink
// family "IPVS" exists only when ip_vs is loaded or built in.
func Probe() error {
	if _, err := netlink.GenlFamilyGet("IPVS"); err != nil {
		return fmt.Errorf("ipvs: %w (generic netlink family IPVS: %v); load ip_vs, or use the nftables data plane", ErrUnavailable, err)
	}
	return nil
}

// handle is what the plane needs of moby/ipvs.
type handle interface {
	GetServices() ([]*ipvs.Service, error)
	NewService(*ipvs.Service) error
	DelService(*ipvs.Service) error
	GetDestinations(*ipvs.Service) ([]*ipvs.Destination, error)
	NewDestination(*ipvs.Service, *ipvs.Destination) error
	DelDestination(*ipvs.Service, *ipvs.Destination) error
}

// Plane programs IPVS virtual services in one network namespace, with
// round-robin scheduling and masquerading (NAT) to the backends.
type Plane struct {
	mu      sync.Mutex
	h       handle
	close   func()
	log     *slog.Logger
	metrics *l4.Metrics
	gauges  *l4.Gauges
	synced  bool // an Apply ran: applied is the whole state, so Patch may change it
	applied l4.Frontends
	byVIP   l4.VIPIndex // applied's keys by VIP, for Patch
}

// New probes IPVS and opens it in the namespace at nsPath.
func New(nsPath string, log *slog.Logger, m *l4.Metrics) (*Plane, error) {
	if err := Probe(); err != nil {
		return nil, err
	}
	h, err := ipvs.New(nsPath)
	if err != nil {
		return nil, fmt.Errorf("ipvs: open in %s: %w", nsPath, err)
	}
	return newPlane(h, h.Close, log, m), nil
}

func newPlane(h handle, closeFn func(), log *slog.Logger, m *l4.Metrics) *Plane {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Plane{h: h, close: closeFn, log: log.With("component", "lb-ipvs"), metrics: m,
		gauges: m.Gauges(), applied: l4.Frontends{}}
}

// Name returns l4.PlaneIPVS.
func (p *Plane) Name() string { return l4.PlaneIPVS }

// Apply programs the VIP services of d, changing only what differs.
func (p *Plane) Apply(ctx context.Context, d l4.Desired) error {
	if len(d.Published) > 0 {
		return errors.New("ipvs: published ports are served by the nftables data plane, not IPVS")
	}
	fronts, err := d.PerPort().Frontends()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ipvs: apply: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	start := time.Now()
	deltas := l4.Diff(p.applied, fronts)
	err = p.program(deltas)
	p.applied, p.synced = fronts, true
	p.byVIP.Update(deltas)
	p.metrics.ObserveUpdate(l4.PlaneIPVS, time.Since(start))
	p.gauges.Set(fronts)
	return err
}

// Patch changes the VIP services of the VIPs that upsert and remove name
// (see l4.PatchPerPort: upsert holds the whole new state of each VIP it
// names, the VIPs only in remove go) and leaves the others as they are.
// Only the virtual services of those VIPs are diffed and written, so the
// work grows with the change, not with the number of services. Before
// the first Apply it returns l4.ErrNeedApply.
func (p *Plane) Patch(ctx context.Context, upsert []l4.Service, remove []l4.Key) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ipvs: patch: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.synced {
		return l4.ErrNeedApply
	}
	start := time.Now()
	pp, err := l4.PlanPerPort(p.applied, &p.byVIP, upsert, remove)
	if err != nil || len(pp.Deltas) == 0 {
		return err
	}
	// As in Apply, what failed stays in applied: Reconcile repairs it.
	err = p.program(pp.Deltas)
	pp.Commit(p.applied, &p.byVIP, p.gauges)
	p.metrics.ObserveUpdate(l4.PlaneIPVS, time.Since(start))
	return err
}

// program applies deltas to the kernel, going on past a failed one.
func (p *Plane) program(deltas []l4.Delta) error {
	var errs []error
	for _, dl := range deltas {
		errs = append(errs, p.change(dl, p.applied[dl.Key]))
	}
	return errors.Join(errs...)
}

// change applies one delta; old is the frontend's previous backends.
func (p *Plane) change(dl l4.Delta, old []netip.AddrPort) error {
	svc := service(dl.Key)
	switch dl.Op {
	case l4.OpRemove:
		if err := p.h.DelService(svc); err != nil {
			return fmt.Errorf("ipvs: remove %s: %w", dl.Key, err)
		}
		return nil
	case l4.OpAdd:
		if err := p.h.NewService(svc); err != nil {
			return fmt.Errorf("ipvs: add %s: %w", dl.Key, err)
		}
	}
	for _, b := range dl.Gone {
		if err := p.h.DelDestination(svc, destination(b)); err != nil {
			return fmt.Errorf("ipvs: remove backend %s of %s: %w", b, dl.Key, err)
		}
	}
	have := map[netip.AddrPort]bool{}
	for _, b := range old {
		have[b] = true
	}
	return p.addMissing(svc, dl.Key, dl.Backends, have)
}

func (p *Plane) addMissing(svc *ipvs.Service, k l4.Key, backends []netip.AddrPort, have map[netip.AddrPort]bool) error {
	for _, b := range backends {
		if have[b] {
			continue
		}
		if err := p.h.NewDestination(svc, destination(b)); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("ipvs: add backend %s to %s: %w", b, k, err)
		}
	}
	return nil
}

// Reconcile reads IPVS back and repairs missing or stale services and
// destinations.
func (p *Plane) Reconcile(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("ipvs: reconcile: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	svcs, err := p.h.GetServices()
	if err != nil {
		return 0, fmt.Errorf("ipvs: read services: %w", err)
	}
	fixes := 0
	var errs []error
	seen := map[l4.Key]bool{}
	for _, s := range svcs {
		k, ok := keyOf(s)
		want, wanted := p.applied[k]
		if !ok || !wanted {
			fixes++
			errs = append(errs, p.h.DelService(s))
			continue
		}
		seen[k] = true
		n, err := p.fixDestinations(s, k, want)
		fixes += n
		errs = append(errs, err)
	}
	for k, bs := range p.applied {
		if !seen[k] {
			fixes++
			errs = append(errs, p.change(l4.Delta{Op: l4.OpAdd, Key: k, Backends: bs}, nil))
		}
	}
	p.metrics.Fixed(l4.PlaneIPVS, fixes)
	return fixes, errors.Join(errs...)
}

func (p *Plane) fixDestinations(s *ipvs.Service, k l4.Key, want []netip.AddrPort) (int, error) {
	dests, err := p.h.GetDestinations(s)
	if err != nil {
		return 0, fmt.Errorf("ipvs: read backends of %s: %w", k, err)
	}
	keep := map[netip.AddrPort]bool{}
	for _, b := range want {
		keep[b] = true
	}
	have := map[netip.AddrPort]bool{}
	fixes := 0
	var errs []error
	for _, d := range dests {
		ip, _ := netip.AddrFromSlice(d.Address.To4())
		b := netip.AddrPortFrom(ip, d.Port)
		if !keep[b] {
			fixes++
			errs = append(errs, p.h.DelDestination(s, d))
			continue
		}
		have[b] = true
	}
	fixes += len(want) - len(have)
	errs = append(errs, p.addMissing(s, k, want, have))
	return fixes, errors.Join(errs...)
}

// Close releases the IPVS handle; the services stay in the kernel.
func (p *Plane) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gauges.Clear()
	if p.close != nil {
		p.close()
	}
	return nil
}

func service(k l4.Key) *ipvs.Service {
	return &ipvs.Service{Address: net.IP(k.VIP.AsSlice()), Protocol: uint16(k.Proto), Port: k.Port,
		SchedName: ipvs.RoundRobin, AddressFamily: unix.AF_INET, Netmask: 0xffffffff}
}

func destination(b netip.AddrPort) *ipvs.Destination {
	return &ipvs.Destination{Address: net.IP(b.Addr().AsSlice()), Port: b.Port(), Weight: 1,
		ConnectionFlags: ipvs.ConnectionFlagMasq, AddressFamily: unix.AF_INET}
}

func keyOf(s *ipvs.Service) (l4.Key, bool) {
	ip, ok := netip.AddrFromSlice(s.Address.To4())
	if !ok || s.FWMark != 0 {
		return l4.Key{}, false
	}
	return l4.Key{VIP: ip, Proto: l4.Proto(s.Protocol), Port: s.Port}, true
}
