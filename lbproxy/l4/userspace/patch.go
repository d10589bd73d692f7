//go:build linux

package userspace

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
)

// The VIP controller hands changes, not the whole state, to a plane with
// this method.
var _ interface {
	Patch(ctx context.Context, upsert []l4.Service, remove []l4.Key) error
} = (*Plane)(nil)

// Patch changes the VIP services of the VIPs that upsert and remove name
// (see l4.PatchPerPort: upsert holds the whole new state of each VIP it
// names, the VIPs only in remove go), leaving the other VIPs and the
// published ports as they are. It starts, updates and stops the proxies
// of those VIPs only, and adds the loopback address of a VIP that gets
// its first proxy and removes that of a VIP that loses its last, without
// listing the namespace's addresses: the work grows with the change, not
// with the number of services. Before the first Apply it returns
// l4.ErrNeedApply. As with Apply, a proxy that cannot start is reported
// and retried by Reconcile.
func (p *Plane) Patch(ctx context.Context, upsert []l4.Service, remove []l4.Key) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("userspace: patch: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return errors.New("userspace: patch on a closed plane")
	case !p.synced:
		return l4.ErrNeedApply
	}
	start := time.Now()
	pp, err := l4.PlanPerPort(p.applied, &p.byVIP, upsert, remove)
	if err != nil || len(pp.Deltas) == 0 {
		return err
	}
	deltas := pp.Deltas
	come, gone := minusVIPs(pp.Next, pp.Old), minusVIPs(pp.Old, pp.Next)
	var lo netlink.Link
	if len(come)+len(gone) > 0 {
		if lo, err = p.link.LinkByName("lo"); err != nil {
			return fmt.Errorf("userspace: loopback in %s: %w", p.ns.Path(), err)
		}
	}
	// VIPs first: a proxy binds to its VIP.
	errs := []error{p.addVIPs(lo, come)}
	for _, dl := range deltas {
		errs = append(errs, p.change(dl))
	}
	errs = append(errs, p.removeVIPs(lo, gone))
	pp.Commit(p.applied, &p.byVIP, p.gauges)
	p.metrics.ObserveUpdate(l4.PlaneUserspace, time.Since(start))
	p.log.Debug("patched", "changes", len(deltas), "vips_added", len(come), "vips_removed", len(gone))
	return errors.Join(errs...)
}

// minusVIPs returns, sorted, the VIPs of a's frontends that none of b's
// has.
func minusVIPs(a, b l4.Frontends) []netip.Addr {
	in := func(f l4.Frontends) map[netip.Addr]bool {
		out := map[netip.Addr]bool{}
		for k := range f {
			if !k.Published() {
				out[k.VIP] = true
			}
		}
		return out
	}
	inB := in(b)
	var out []netip.Addr
	for v := range in(a) {
		if !inB[v] {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// addVIPs puts vips on lo with the plane's label. An address already
// there serves as it is (Apply's syncAddresses counts it too).
func (p *Plane) addVIPs(lo netlink.Link, vips []netip.Addr) error {
	var errs []error
	for _, ip := range vips {
		err := p.link.AddrAdd(lo, &netlink.Addr{IPNet: netlinkPrefix(ip), Label: vipLabel})
		if err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("userspace: add VIP %s to lo: %w", ip, err))
		}
	}
	return errors.Join(errs...)
}

// removeVIPs takes the plane's addresses of vips off lo. The kernel
// deletes an address only if its label matches, so an address someone
// else put there stays; one already gone is no error.
func (p *Plane) removeVIPs(lo netlink.Link, vips []netip.Addr) error {
	var errs []error
	for _, ip := range vips {
		err := p.link.AddrDel(lo, &netlink.Addr{IPNet: netlinkPrefix(ip), Label: vipLabel})
		if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			errs = append(errs, fmt.Errorf("userspace: remove VIP %s from lo: %w", ip, err))
		}
	}
	return errors.Join(errs...)
}
