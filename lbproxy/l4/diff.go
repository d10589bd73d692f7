package l4

import (
	"net/netip"
	"slices"
)

// Op is what a data plane does to one frontend.
type Op uint8

// Operations of a Delta.
const (
	OpAdd Op = iota + 1
	OpUpdate
	OpRemove
)

func (o Op) String() string {
	switch o {
	case OpAdd:
		return "add"
	case OpUpdate:
		return "update"
	case OpRemove:
		return "remove"
	}
	return "op?"
}

// Delta is the change of one frontend between two states.
type Delta struct {
	Op  Op
	Key Key
	// Backends is the new list (nil for OpRemove).
	Backends []netip.AddrPort
	// Gone lists the backends that were there and are not any more (all
	// of them for OpRemove): their UDP flows must be dropped.
	Gone []netip.AddrPort
}

// Diff returns the changes that turn old into new, in key order. Only
// frontends that differ appear, so the work of applying it grows with the
// change, not with the number of frontends. Both maps must hold canonical
// (sorted) lists, as Desired.Frontends returns.
func Diff(old, new Frontends) []Delta {
	var out []Delta
	for k, nb := range new {
		ob, ok := old[k]
		switch {
		case !ok:
			out = append(out, Delta{Op: OpAdd, Key: k, Backends: nb})
		case !slices.Equal(ob, nb):
			out = append(out, Delta{Op: OpUpdate, Key: k, Backends: nb, Gone: minus(ob, nb)})
		}
	}
	for k, ob := range old {
		if _, ok := new[k]; !ok {
			out = append(out, Delta{Op: OpRemove, Key: k, Gone: slices.Clone(ob)})
		}
	}
	slices.SortFunc(out, func(a, b Delta) int { return a.Key.Compare(b.Key) })
	return out
}

// minus returns the elements of a (sorted) that are not in b (sorted).
func minus(a, b []netip.AddrPort) []netip.AddrPort {
	var out []netip.AddrPort
	for _, x := range a {
		if _, found := slices.BinarySearchFunc(b, x, netip.AddrPort.Compare); !found {
			out = append(out, x)
		}
	}
	return out
}

// Clone returns a copy of f that shares no map with it (the lists, never
// modified in place, are shared).
func (f Frontends) Clone() Frontends {
	out := make(Frontends, len(f))
	for k, v := range f {
		out[k] = v
	}
	return out
}
