//go:build linux

package nft

import (
	"context"
	"fmt"
	"time"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
)

// ErrNeedApply is Patch before the first Apply: apply the whole state.
var ErrNeedApply = l4.ErrNeedApply

// Patch changes some VIP services of what the last Apply or Patch
// programmed: each of upsert replaces the service of its frontend key (or
// adds it), each of remove goes (a key also in upsert stays). Only those
// frontends are read and written, so the work grows with the change, not
// with the number of services. Published ports and mesh sources are left
// as they are. UDP flows to backends that went are deleted, as by Apply.
func (p *Plane) Patch(ctx context.Context, upsert []l4.Service, remove []l4.Key) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("nft: patch: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.synced {
		return ErrNeedApply
	}
	start := time.Now()
	next := l4.Frontends{}
	for _, s := range upsert {
		f, err := l4.Desired{Services: []l4.Service{s}}.Frontends()
		if err != nil {
			return err
		}
		for k, bs := range f {
			next[k] = bs
		}
	}
	old := l4.Frontends{}
	for k := range next {
		if bs, ok := p.applied[k]; ok {
			old[k] = bs
		}
	}
	for _, k := range remove {
		if _, kept := next[k]; kept {
			continue
		}
		if bs, ok := p.applied[k]; ok {
			old[k] = bs
		}
	}
	deltas := l4.Diff(old, next)
	if len(deltas) == 0 {
		return nil
	}
	if err := p.program(deltas); err != nil {
		p.synced = false // the next Apply rebuilds
		return err
	}
	gone := false
	for _, d := range deltas {
		gone = gone || (d.Key.CarriesUDP() && len(d.Gone) > 0)
	}
	if err := p.conn.Flush(); err != nil {
		p.synced = false
		return fmt.Errorf("nft: commit %d frontend changes in %s: %w", len(deltas), p.ns.Path(), err)
	}
	var flows *udpFlows // made only when UDP backends go: it reads every frontend
	if gone {
		flows = newUDPFlows(p.applied, next)
	}
	for _, d := range deltas {
		if d.Op == l4.OpRemove {
			delete(p.applied, d.Key)
		} else {
			p.applied[d.Key] = d.Backends
		}
		if flows != nil && d.Key.CarriesUDP() && len(d.Gone) > 0 {
			flows.allow(d.Key, d.Backends)
		}
	}
	p.metrics.ObserveUpdate(l4.PlaneNFTables, time.Since(start))
	p.gauges.Set(p.applied)
	p.log.Debug("patched", "changes", len(deltas), "frontends", len(p.applied))
	_, err := p.flushFlows(flows)
	return err
}
