package vip

import (
	"net/netip"
	"slices"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// tracker keeps the VIP table in step with the state one commit event at
// a time: an event costs what it changes (its endpoint, its task's
// endpoints, its service's entries), not a pass over every service. A
// node's event (its status decides whether its endpoints serve) and a
// lost watch rebuild everything, as does the periodic reconcile.
type tracker struct {
	table    Table
	delta    map[string]*netDelta           // what the last update changed, by network
	entries  map[bkey]l4.Service            // the entry of each (network, service) in table
	eps      map[string]epRef               // endpoint ID -> what it contributes
	byTask   map[string]map[string]struct{} // task ID -> its endpoints
	svcs     map[string]svcRef              // service ID -> what its entries are made of
	byName   map[string]string              // service name -> service ID
	backends map[bkey]map[netip.Addr]int    // (network, service name) -> serving addresses
}

// netDelta is a network's entries that an update replaced or added
// (upsert) and the VIPs whose entries went (remove).
type netDelta struct {
	upsert []l4.Service
	remove []l4.Key
}

// bkey is one service on one network.
type bkey struct{ network, service string }

// epRef is what an endpoint contributes: on, its address to its key.
type epRef struct {
	key  bkey
	task string
	addr netip.Addr
	on   bool
}

// svcRef is a service's part of its entries: its VIP per network (none
// for dnsrr) and its declared ports.
type svcRef struct {
	name  string
	vips  map[string]netip.Addr
	known []l4.PortProto
}

func newTracker() *tracker {
	return &tracker{table: Table{}, entries: map[bkey]l4.Service{}, eps: map[string]epRef{},
		byTask: map[string]map[string]struct{}{}, svcs: map[string]svcRef{}, byName: map[string]string{},
		backends: map[bkey]map[netip.Addr]int{}}
}

// rebuild recomputes everything from tx and returns the networks whose
// entries differ from before.
func (t *tracker) rebuild(tx state.ReadTx) map[string]bool {
	old := t.table
	*t = *newTracker() // delta nil: everything changed
	dirty := map[bkey]bool{}
	for _, svc := range tx.Services() {
		t.service(tx, svc.ID, dirty)
	}
	tx.EachEndpoint(func(ep *state.Endpoint) bool {
		t.endpoint(tx, ep.ID, dirty)
		return true
	})
	t.refresh(dirty)
	return t.table.Changed(old)
}

// update applies commit events and returns the networks whose entries
// changed. It reports false when an event needs a rebuild instead.
func (t *tracker) update(tx state.ReadTx, events []state.Event) (map[string]bool, bool) {
	dirty := map[bkey]bool{}
	t.delta = map[string]*netDelta{}
	for _, e := range events {
		switch e.Kind {
		case "endpoint":
			t.endpoint(tx, e.ID, dirty)
		case "task":
			for id := range t.byTask[e.ID] {
				t.endpoint(tx, id, dirty)
			}
		case "service":
			t.service(tx, e.ID, dirty)
		case "network":
			// Address blocks, reservations, engines: a removal comes
			// with its endpoints' and services' events.
		default: // "node", or anything new
			return nil, false
		}
	}
	return t.refresh(dirty), true
}

// endpoint re-reads one endpoint and moves its contribution.
func (t *tracker) endpoint(tx state.ReadTx, id string, dirty map[bkey]bool) {
	old, had := t.eps[id]
	ep := tx.Endpoint(id)
	var now epRef
	if ep != nil {
		now = epRef{key: bkey{ep.NetworkID, ep.Service}, task: ep.Task}
		if ip, err := netip.ParseAddr(ep.IP); err == nil && ip.Is4() && ep.Service != "" && serving(tx, ep) {
			now.addr, now.on = ip, true
		}
	}
	if had && ep != nil && old == now {
		return
	}
	if had {
		if old.on {
			t.count(old.key, old.addr, -1)
			dirty[old.key] = true
		}
		t.link(old.task, id, false)
	}
	if ep == nil {
		delete(t.eps, id)
		return
	}
	t.eps[id] = now
	t.link(now.task, id, true)
	if now.on {
		t.count(now.key, now.addr, 1)
		dirty[now.key] = true
	}
}

func (t *tracker) link(task, ep string, on bool) {
	if task == "" {
		return
	}
	set := t.byTask[task]
	if on {
		if set == nil {
			set = map[string]struct{}{}
			t.byTask[task] = set
		}
		set[ep] = struct{}{}
		return
	}
	delete(set, ep)
	if len(set) == 0 {
		delete(t.byTask, task)
	}
}

func (t *tracker) count(k bkey, addr netip.Addr, d int) {
	m := t.backends[k]
	if m == nil {
		m = map[netip.Addr]int{}
		t.backends[k] = m
	}
	if m[addr] += d; m[addr] <= 0 {
		delete(m, addr)
	}
	if len(m) == 0 {
		delete(t.backends, k)
	}
}

// service re-reads one service: its entries on the networks it had a
// VIP on and on those it has one on now are recomputed.
func (t *tracker) service(tx state.ReadTx, id string, dirty map[bkey]bool) {
	if old, ok := t.svcs[id]; ok {
		for n := range old.vips {
			dirty[bkey{n, old.name}] = true
		}
		if t.byName[old.name] == id {
			delete(t.byName, old.name)
		}
		delete(t.svcs, id)
	}
	svc := tx.Service(id)
	if svc == nil {
		return
	}
	ref := svcRef{name: svc.Name, vips: map[string]netip.Addr{}, known: knownPorts(svc.Spec.Ports)}
	if svc.Spec.EndpointMode != state.EndpointDNSRR {
		for n, v := range svc.VIPs {
			if vip, err := netip.ParseAddr(v); err == nil && vip.Is4() {
				ref.vips[n] = vip
				dirty[bkey{n, svc.Name}] = true
			}
		}
	}
	t.svcs[id] = ref
	t.byName[svc.Name] = id
}

// refresh recomputes the entries of the dirty keys and returns the
// networks whose entries changed. Every old entry leaves the table before
// any new one enters it: a VIP freed by one service can be taken by
// another in the same burst.
func (t *tracker) refresh(dirty map[bkey]bool) map[string]bool {
	changed := map[string]bool{}
	var add []bkey
	for k := range dirty {
		old, had := t.entries[k]
		now, ok := t.entry(k)
		if had && ok && sameServices([]l4.Service{old}, []l4.Service{now}) {
			continue
		}
		if had {
			t.remove(k.network, old.VIP)
			delete(t.entries, k)
			changed[k.network] = true
			if d := t.netDelta(k.network); d != nil {
				d.remove = append(d.remove, l4.Key{VIP: old.VIP, Proto: old.Proto, Port: old.Port})
			}
		}
		if ok {
			t.entries[k] = now
			add = append(add, k)
		}
	}
	for _, k := range add {
		t.insert(k.network, t.entries[k])
		changed[k.network] = true
		if d := t.netDelta(k.network); d != nil {
			d.upsert = append(d.upsert, t.entries[k])
		}
	}
	return changed
}

// entry is what the table holds for k, if its service has a VIP there.
func (t *tracker) entry(k bkey) (l4.Service, bool) {
	ref, ok := t.svcs[t.byName[k.service]]
	vip, hasVIP := ref.vips[k.network]
	if !ok || !hasVIP {
		return l4.Service{}, false
	}
	bs := make([]netip.AddrPort, 0, len(t.backends[k]))
	for a := range t.backends[k] {
		bs = append(bs, netip.AddrPortFrom(a, 0))
	}
	slices.SortFunc(bs, netip.AddrPort.Compare)
	return l4.Service{VIP: vip, Backends: bs, KnownPorts: ref.known}, true
}

// netDelta is network's part of the update under way; nil in a rebuild.
func (t *tracker) netDelta(network string) *netDelta {
	if t.delta == nil {
		return nil
	}
	d := t.delta[network]
	if d == nil {
		d = &netDelta{}
		t.delta[network] = d
	}
	return d
}

func (t *tracker) remove(network string, vip netip.Addr) {
	ss := t.table[network]
	i, found := slices.BinarySearchFunc(ss, vip, func(s l4.Service, v netip.Addr) int { return s.VIP.Compare(v) })
	if !found {
		return
	}
	ss = slices.Delete(ss, i, i+1)
	if len(ss) == 0 {
		delete(t.table, network)
		return
	}
	t.table[network] = ss
}

func (t *tracker) insert(network string, s l4.Service) {
	ss := t.table[network]
	i, _ := slices.BinarySearchFunc(ss, s.VIP, func(s l4.Service, v netip.Addr) int { return s.VIP.Compare(v) })
	t.table[network] = slices.Insert(ss, i, s)
}
