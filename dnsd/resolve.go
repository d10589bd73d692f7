package dnsd

import (
	"net/netip"
	"strings"
)

// The index answers the cluster stage's questions (records). Names given
// to it are already normalised: lower-case, no trailing dot, no cluster
// domain suffix.

var _ records = (*index)(nil)

// Scope returns the networks a query from src may see: those of the
// container owning src, or none for an unknown source.
func (ix *index) Scope(src netip.Addr) scope {
	return ix.scopes[src]
}

// IsCluster tells whether name belongs to the cluster, answered here and
// never forwarded: a single label, a known name, or a name ending in a
// network or service name.
func (ix *index) IsCluster(name string) bool {
	if !strings.Contains(name, ".") {
		return true
	}
	if _, ok := ix.names[name]; ok {
		return true
	}
	if _, ok := ix.tasks[name]; ok {
		return true
	}
	for i := strings.IndexByte(name, '.'); i >= 0; {
		if ix.inZone(name[i+1:]) {
			return true
		}
		j := strings.IndexByte(name[i+1:], '.')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return false
}

// InSubnet tells whether ip is inside a network's subnet, so its reverse
// name is a cluster name.
func (ix *index) InSubnet(ip netip.Addr) bool {
	for _, p := range ix.subnets {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ResolveName appends to dst the addresses name has for scope sc and
// returns the extended slice. The whole name is tried first, then, for
// NAME.NETWORK, NAME restricted to NETWORK (the longest network name
// first).
func (ix *index) ResolveName(name string, sc scope, dst []netip.Addr) []netip.Addr {
	n := len(dst)
	if dst = ix.resolveIn(name, sc, -1, dst); len(dst) > n {
		return dst
	}
	for i := strings.IndexByte(name, '.'); i > 0; {
		if net, ok := ix.netByName[name[i+1:]]; ok && sc.has(net) {
			if dst = ix.resolveIn(name[:i], sc, net, dst); len(dst) > n {
				return dst
			}
		}
		j := strings.IndexByte(name[i+1:], '.')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return dst
}

// resolveIn resolves name on the networks of sc, or only on network only
// when it is not negative. Container names and aliases come before
// services; then tasks.SERVICE and TASK.SERVICE.
func (ix *index) resolveIn(name string, sc scope, only int32, dst []netip.Addr) []netip.Addr {
	n := len(dst)
	if dst = appendVisible(dst, ix.names[name], sc, only); len(dst) > n {
		return dst
	}
	if s := ix.service(name); s != nil {
		if len(s.vips) > 0 {
			return appendVisible(dst, s.vips, sc, only)
		}
		return appendVisible(dst, s.members, sc, only)
	}
	if rest, ok := strings.CutPrefix(name, "tasks."); ok {
		if s := ix.service(rest); s != nil {
			if dst = appendVisible(dst, s.members, sc, only); len(dst) > n {
				return dst
			}
		}
	}
	return appendVisible(dst, ix.tasks[name], sc, only)
}

func appendVisible(dst []netip.Addr, rs []rec, sc scope, only int32) []netip.Addr {
	for _, r := range rs {
		if (only < 0 || r.net == only) && sc.has(r.net) {
			dst = append(dst, r.ip)
		}
	}
	return dst
}

// ResolveIP returns the PTR target of ip ("name.network.") if its
// network is visible in sc.
func (ix *index) ResolveIP(ip netip.Addr, sc scope) (string, bool) {
	p, ok := ix.ptrOf(ip)
	if !ok || !sc.has(p.net) {
		return "", false
	}
	return p.target, true
}
