package dnsd

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
)

// index is the immutable record source built from one Snapshot. Every
// name is lower-case and without a trailing dot; networks are referred to
// by their position in nets, so a scope is a short sorted list of ints.
// Queries only read maps; nothing is changed once the index is published
// (withServices derives a new index from it, copying what it changes).
type index struct {
	nets      []netInfo
	netByName map[string]int32 // network name -> position
	netByID   map[string]int32 // network ID -> position
	// names maps container names, network aliases and 12-character short
	// container IDs to the in-service endpoints carrying them.
	names map[string][]rec
	// services maps service names (listed or implicit) to their records.
	services shardMap[string, *svcRecs]
	// tasks maps "task.service" to that task's in-service endpoints.
	tasks map[string][]rec
	// zone holds network and service names: a query name ending in one
	// of them is a cluster name even if nothing answers it.
	zone shardMap[string, struct{}]
	// ptr maps in-service endpoint IPs (and VIPs) to their PTR target.
	ptr shardMap[netip.Addr, ptrRec]
	// contested holds the addresses more than one record wanted the PTR
	// of (a VIP that is also an endpoint's address on another network):
	// which one won depends on the order of the whole snapshot, so a
	// service change touching one of them is not made in place.
	contested map[netip.Addr]struct{}
	// scopes maps every endpoint IP, in service or not, to the networks
	// its container is on: what a query from that IP may see.
	scopes  map[netip.Addr]scope
	subnets []netip.Prefix
}

type netInfo struct {
	id, name string
	subnet   netip.Prefix
}

// rec is one address on one network.
type rec struct {
	net int32
	ip  netip.Addr
}

type svcRecs struct {
	vips    []rec // ModeVIP with VIPs: the answer to SERVICE
	members []rec // in-service task endpoints: tasks.SERVICE, and SERVICE otherwise
}

type ptrRec struct {
	net    int32
	target string // "name.network."
}

// scope is the set of networks one asker may see: all of them (host
// sources), or those in nets (sorted), or none (zero value).
type scope struct {
	all  bool
	nets []int32
}

// has tells whether network n is visible.
func (s scope) has(n int32) bool {
	if s.all {
		return true
	}
	if len(s.nets) <= 8 {
		for _, x := range s.nets {
			if x == n {
				return true
			}
		}
		return false
	}
	_, ok := slices.BinarySearch(s.nets, n)
	return ok
}

// shortIDLen is the length of the short container ID Docker shows.
const shortIDLen = 12

// buildIndex makes the index of one snapshot, in time linear in its size
// (plus sorting each name's records).
func buildIndex(snap Snapshot) *index {
	ix := &index{
		netByName: make(map[string]int32, len(snap.Networks)),
		netByID:   make(map[string]int32, len(snap.Networks)),
		names:     make(map[string][]rec, 2*len(snap.Endpoints)),
		tasks:     make(map[string][]rec),
		scopes:    make(map[netip.Addr]scope, len(snap.Endpoints)),
	}
	netByID := ix.netByID
	// Sized for what they will hold, about.
	ix.services = newShardMap[string, *svcRecs](len(snap.Services))
	ix.zone = newShardMap[string, struct{}](len(snap.Networks) + len(snap.Services))
	ix.ptr = newShardMap[netip.Addr, ptrRec](len(snap.Endpoints) + len(snap.Services))
	for _, n := range snap.Networks {
		if _, dup := netByID[n.ID]; dup || n.ID == "" {
			continue
		}
		i := int32(len(ix.nets))
		name := normName(n.Name)
		ix.nets = append(ix.nets, netInfo{id: n.ID, name: name, subnet: n.Subnet})
		netByID[n.ID] = i
		if name != "" {
			if _, dup := ix.netByName[name]; !dup {
				ix.netByName[name] = i
			}
			ix.zone.own(strHash(name))[name] = struct{}{}
		}
		if n.Subnet.IsValid() {
			ix.subnets = append(ix.subnets, n.Subnet.Masked())
		}
	}

	svc := func(name string) *svcRecs {
		h := strHash(name)
		sh := ix.services.own(h)
		s := sh[name]
		if s == nil {
			s = &svcRecs{}
			sh[name] = s
			ix.zone.own(h)[name] = struct{}{}
		}
		return s
	}
	// The first claim of an address is its PTR: VIPs, then endpoints.
	claim := func(ip netip.Addr, p ptrRec) {
		sh := ix.ptr.own(addrHash(ip))
		if _, dup := sh[ip]; dup {
			if ix.contested == nil {
				ix.contested = make(map[netip.Addr]struct{})
			}
			ix.contested[ip] = struct{}{}
			return
		}
		sh[ip] = p
	}
	for _, s := range snap.Services {
		name := normName(s.Name)
		if name == "" {
			continue
		}
		r := svc(name)
		if s.Mode != ModeVIP {
			continue
		}
		for netID, vip := range s.VIPs {
			if n, ok := netByID[netID]; ok && vip.IsValid() {
				vip = vip.Unmap()
				r.vips = append(r.vips, rec{n, vip})
				claim(vip, ptrRec{n, name + "." + ix.nets[n].name + "."})
			}
		}
	}

	containerNets := make(map[string][]int32)
	containerOf := make(map[netip.Addr]string, len(snap.Endpoints))
	for _, e := range snap.Endpoints {
		n, ok := netByID[e.NetworkID]
		if !ok || !e.IP.IsValid() {
			continue
		}
		ip := e.IP.Unmap()
		cid := e.ContainerID
		if cid == "" {
			cid = "ip:" + ip.String()
		}
		containerNets[cid] = append(containerNets[cid], n)
		if _, seen := containerOf[ip]; !seen || e.InService {
			containerOf[ip] = cid
		}
		if !e.InService {
			continue
		}
		r := rec{n, ip}
		first := ""
		for _, nm := range e.Names {
			if nm = normName(nm); nm != "" {
				ix.names[nm] = append(ix.names[nm], r)
				if first == "" {
					first = nm
				}
			}
		}
		if short := normName(shortID(e.ContainerID)); short != "" {
			ix.names[short] = append(ix.names[short], r)
			if first == "" {
				first = short
			}
		}
		if first != "" {
			claim(ip, ptrRec{n, first + "." + ix.nets[n].name + "."})
		}
		if s := normName(e.Service); s != "" {
			sr := svc(s)
			sr.members = append(sr.members, r)
			if t := normName(e.Task); t != "" {
				key := t + "." + s
				ix.tasks[key] = append(ix.tasks[key], r)
			}
		}
	}

	for cid, nets := range containerNets {
		slices.Sort(nets)
		containerNets[cid] = slices.Compact(nets)
	}
	for ip, cid := range containerOf {
		ix.scopes[ip] = scope{nets: containerNets[cid]}
	}
	for k, v := range ix.names {
		ix.names[k] = sortRecs(v)
	}
	for k, v := range ix.tasks {
		ix.tasks[k] = sortRecs(v)
	}
	for _, s := range ix.services.all {
		s.vips = sortRecs(s.vips)
		s.members = sortRecs(s.members)
	}
	ix.services.count()
	ix.zone.count()
	ix.ptr.count()
	return ix
}

// service is the records of a service name, nil if none.
func (ix *index) service(name string) *svcRecs {
	return ix.services.shard(strHash(name))[name]
}

// inZone tells whether name is a network or service name.
func (ix *index) inZone(name string) bool {
	_, ok := ix.zone.shard(strHash(name))[name]
	return ok
}

// ptrOf is the PTR record of ip.
func (ix *index) ptrOf(ip netip.Addr) (ptrRec, bool) {
	p, ok := ix.ptr.shard(addrHash(ip))[ip]
	return p, ok
}

// sortRecs orders records by network and address and drops duplicates
// (a container name that is also its alias, say).
func sortRecs(rs []rec) []rec {
	slices.SortFunc(rs, func(a, b rec) int {
		if c := cmp.Compare(a.net, b.net); c != 0 {
			return c
		}
		return a.ip.Compare(b.ip)
	})
	return slices.Compact(rs)
}

// normName is the form names are stored and looked up in.
func normName(s string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "."))
}

func shortID(id string) string {
	if len(id) > shortIDLen {
		return id[:shortIDLen]
	}
	return id
}

// size is the number of names the index answers.
func (ix *index) size() int {
	return len(ix.names) + ix.services.n + len(ix.tasks) + ix.ptr.n
}
