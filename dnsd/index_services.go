package dnsd

import (
	"net/netip"
	"slices"
)

// withServices is the index buildIndex would make of ix's snapshot with
// its listed services changed: every service named in removed dropped,
// then each of changed put in place of the listed services of its name
// (several of one name merge, as they do in a snapshot). ix is left as
// it is; the new index shares everything but the shards of services,
// zone and ptr that the change writes, so the cost follows the size of
// the change, not of the index.
//
// Listed services contribute only their entry in services (its vips; the
// members come from endpoints and stay), their name in zone and the PTR
// of their VIPs. It returns false when a VIP to add or drop is an address
// another record claims the PTR of: which claim wins depends on the order
// of the whole snapshot, so the caller builds the index anew.
func (ix *index) withServices(changed []Service, removed []string) (*index, bool) {
	c := serviceChange{ix: ix, services: editShards(ix.services, strHash),
		zone: editShards(ix.zone, strHash), ptr: editShards(ix.ptr, addrHash),
		names: make(map[string]*nameChange, len(changed)+len(removed))}
	for _, name := range removed {
		if _, ok := c.touch(normName(name)); !ok {
			return nil, false
		}
	}
	for _, s := range changed {
		if !c.add(s) {
			return nil, false
		}
	}
	for ip := range c.freed {
		c.ptr.del(addrHash(ip), ip)
	}
	for name, n := range c.names {
		c.settle(name, n)
	}
	nx := *ix
	nx.services, nx.zone, nx.ptr = c.services.m, c.zone.m, c.ptr.m
	return &nx, true
}

// serviceChange is withServices under way.
type serviceChange struct {
	ix       *index
	services shardEdit[string, *svcRecs]
	zone     shardEdit[string, struct{}]
	ptr      shardEdit[netip.Addr, ptrRec]
	names    map[string]*nameChange // the service names changed
	// freed holds the PTRs of the VIPs the changed names had: dropped at
	// the end unless a VIP of changed takes the address again.
	freed map[netip.Addr]ptrRec
}

// nameChange is what a service name had and will have.
type nameChange struct {
	old    *svcRecs // nil: no service of that name
	listed bool     // a service of changed has the name
	vips   []rec    // the VIPs of those services
}

// touch notes that name changes and frees the PTRs of its VIPs.
func (c *serviceChange) touch(name string) (*nameChange, bool) {
	if name == "" {
		return nil, true
	}
	if n := c.names[name]; n != nil {
		return n, true
	}
	n := &nameChange{}
	n.old, _ = c.services.get(strHash(name), name)
	c.names[name] = n
	if n.old == nil {
		return n, true
	}
	for _, v := range n.old.vips {
		if _, ok := c.ix.contested[v.ip]; ok {
			return nil, false
		}
		// Uncontested, the PTR of a VIP is its own; anything else means
		// the index is not what this code expects: rebuild.
		p, ok := c.ptr.get(addrHash(v.ip), v.ip)
		if !ok || p.net != v.net || !c.isVIPTarget(p.target, name, v.net) {
			return nil, false
		}
		if c.freed == nil {
			c.freed = make(map[netip.Addr]ptrRec)
		}
		c.freed[v.ip] = p
	}
	return n, true
}

// add notes the VIPs of s and claims their PTRs.
func (c *serviceChange) add(s Service) bool {
	name := normName(s.Name)
	n, ok := c.touch(name)
	if n == nil {
		return ok
	}
	n.listed = true
	if s.Mode != ModeVIP {
		return true
	}
	for netID, vip := range s.VIPs {
		net, ok := c.ix.netByID[netID]
		if !ok || !vip.IsValid() {
			continue
		}
		vip = vip.Unmap()
		p := ptrRec{net, c.vipTarget(name, net)}
		h := addrHash(vip)
		if was, freed := c.freed[vip]; freed {
			// Given back by a changed name and taken again: written only
			// if it differs.
			delete(c.freed, vip)
			if was != p {
				c.ptr.set(h, vip, p)
			}
		} else if _, taken := c.ptr.get(h, vip); taken {
			return false
		} else {
			c.ptr.set(h, vip, p)
		}
		n.vips = append(n.vips, rec{net, vip})
	}
	return true
}

// settle writes what name ends with: the listed services' VIPs and the
// endpoints' members, or the members alone (an implicit service), or
// nothing; and the name in zone while it is a service or a network.
// Entries that come out the same are not written, so their shards are
// not copied.
func (c *serviceChange) settle(name string, n *nameChange) {
	var members []rec
	if n.old != nil {
		members = n.old.members
	}
	final := n.old
	switch {
	case n.listed:
		vips := sortRecs(n.vips)
		if n.old == nil || !slices.Equal(vips, n.old.vips) {
			final = &svcRecs{vips: vips, members: members}
		}
	case len(members) > 0:
		if len(n.old.vips) > 0 {
			final = &svcRecs{members: members}
		}
	default:
		final = nil
	}
	h := strHash(name)
	if final != n.old {
		if final == nil {
			c.services.del(h, name)
		} else {
			c.services.set(h, name, final)
		}
	}
	_, isNet := c.ix.netByName[name]
	want := final != nil || isNet
	if _, have := c.zone.get(h, name); want != have {
		if want {
			c.zone.set(h, name, struct{}{})
		} else {
			c.zone.del(h, name)
		}
	}
}

// isVIPTarget tells whether target is vipTarget(name, n), without
// making it.
func (c *serviceChange) isVIPTarget(target, name string, n int32) bool {
	net := c.ix.nets[n].name
	return len(target) == len(name)+len(net)+2 && target[:len(name)] == name && target[len(name)] == '.' &&
		target[len(name)+1:len(target)-1] == net && target[len(target)-1] == '.'
}

// vipTarget is the PTR target of a VIP of service name on network n.
func (c *serviceChange) vipTarget(name string, n int32) string {
	return name + "." + c.ix.nets[n].name + "."
}
