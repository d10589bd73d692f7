package l4

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// ErrNeedApply is a Patch before the first Apply: a patch changes the
// state the last Apply programmed, so until there is one the caller must
// apply the whole state.
var ErrNeedApply = errors.New("l4: patch before the first apply: apply the whole state")

// VIPIndex lists the frontend keys of an applied state by VIP, so that a
// plane that serves address-only VIPs per known port (Desired.PerPort)
// finds the frontends of one VIP without reading all of them. Published
// ports are not indexed. The zero value is an index of no frontends.
type VIPIndex struct {
	keys map[netip.Addr][]Key
}

// Update moves the index through deltas: keys of OpAdd come in, keys of
// OpRemove go.
func (x *VIPIndex) Update(deltas []Delta) {
	for _, d := range deltas {
		if !d.Key.VIP.IsValid() {
			continue
		}
		switch d.Op {
		case OpAdd:
			x.add(d.Key)
		case OpRemove:
			x.remove(d.Key)
		}
	}
}

func (x *VIPIndex) add(k Key) {
	if x.keys == nil {
		x.keys = map[netip.Addr][]Key{}
	}
	ks := x.keys[k.VIP]
	if !slices.Contains(ks, k) {
		x.keys[k.VIP] = append(ks, k)
	}
}

func (x *VIPIndex) remove(k Key) {
	ks := slices.DeleteFunc(x.keys[k.VIP], func(o Key) bool { return o == k })
	if len(ks) == 0 {
		delete(x.keys, k.VIP)
		return
	}
	x.keys[k.VIP] = ks
}

// Keys returns the indexed keys of vip, in no particular order. The
// caller must not modify the list.
func (x *VIPIndex) Keys(vip netip.Addr) []Key { return x.keys[vip] }

// PatchPerPort turns a patch of VIP services into the frontends it
// touches, for a plane that serves address-only VIPs per known port.
//
// A patch names whole VIPs: the services of upsert are the whole new
// state of each VIP they name (its address-only service and any service
// of one of its ports, together), and every VIP of a key of remove that
// upsert does not name goes (a VIP in both stays, as upsert gives it).
// next is the per-port expansion of upsert; old holds every frontend of
// applied whose VIP the patch names, found through idx (the index of
// applied). So Diff(old, next) is exactly the change, and the work grows
// with the VIPs named, not with applied.
func PatchPerPort(applied Frontends, idx *VIPIndex, upsert []Service, remove []Key) (old, next Frontends, err error) {
	next, err = Desired{Services: upsert}.PerPort().Frontends()
	if err != nil {
		return nil, nil, err
	}
	named := make(map[netip.Addr]bool, len(upsert)+len(remove))
	for _, s := range upsert {
		named[s.VIP] = true
	}
	for _, k := range remove {
		if !k.VIP.IsValid() {
			return nil, nil, fmt.Errorf("l4: patch: cannot remove %s: a patch changes VIP services only, apply the whole state", k)
		}
		named[k.VIP] = true
	}
	old = Frontends{}
	for v := range named {
		for _, k := range idx.Keys(v) {
			if bs, ok := applied[k]; ok {
				old[k] = bs
			}
		}
	}
	return old, next, nil
}

// Patch moves the plane's share by a change from old to next (the
// frontends a patch touched, before and after), so that reporting a
// patch costs what it changed, not a count of every frontend.
func (g *Gauges) Patch(old, next Frontends) {
	if g == nil {
		return
	}
	ov, op, ovb, opb := old.Counts()
	nv, np, nvb, npb := next.Counts()
	now := g.last
	now[0] += nv - ov
	now[1] += np - op
	now[2] += nvb - ovb
	now[3] += npb - opb
	g.set(now)
}

// PerPortPatch is one patch of a per-port plane: the frontends of the
// VIPs it names before (Old) and after (Next), and the deltas between.
type PerPortPatch struct {
	Old, Next Frontends
	Deltas    []Delta
}

// PlanPerPort diffs a patch of applied (indexed by idx); see
// PatchPerPort for what upsert and remove mean.
func PlanPerPort(applied Frontends, idx *VIPIndex, upsert []Service, remove []Key) (PerPortPatch, error) {
	old, next, err := PatchPerPort(applied, idx, upsert, remove)
	if err != nil {
		return PerPortPatch{}, err
	}
	return PerPortPatch{Old: old, Next: next, Deltas: Diff(old, next)}, nil
}

// Commit records the patch as applied: applied and idx move through its
// deltas, and g by the change.
func (pp PerPortPatch) Commit(applied Frontends, idx *VIPIndex, g *Gauges) {
	for _, d := range pp.Deltas {
		if d.Op == OpRemove {
			delete(applied, d.Key)
		} else {
			applied[d.Key] = d.Backends
		}
	}
	idx.Update(pp.Deltas)
	g.Patch(pp.Old, pp.Next)
}
