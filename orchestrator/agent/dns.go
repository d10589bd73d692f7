package agent

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/xoverlay/xoverlay/dnsd"
	"github.com/xoverlay/xoverlay/netdriver/kernel"
	"github.com/xoverlay/xoverlay/orchestrator/engine"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// DNS defaults: the link-local address every engine's "dns" setting names.
const (
	DefaultDNSAddr = "169.254.53.53"
	dnsLink        = "xo-dns0"
	resolvConf     = "/etc/resolv.conf"
)

// dnsIP is the address of --dns-listen.
func (c Config) dnsIP() netip.Addr {
	host, _, err := net.SplitHostPort(c.DNS.Addr)
	if err != nil {
		return netip.Addr{}
	}
	ip, _ := netip.ParseAddr(host)
	return ip
}

// DNSAddress is what engines put in their "dns" setting: the address, with
// the port only when it is not 53.
func (c Config) DNSAddress() string {
	if c.DNS.Addr == "" {
		return ""
	}
	if _, port, err := net.SplitHostPort(c.DNS.Addr); err == nil && port == "53" {
		return c.dnsIP().String()
	}
	return c.DNS.Addr
}

// serveDNS puts the DNS address on this host, starts the server and keeps
// its records in step with the store until ctx ends (on wg). With
// --dns-intercept, the containers of this engine (docker) that are only on
// xoverlay networks get the fast path to the server.
func (a *Agent) serveDNS(ctx context.Context, stack *stopStack, wg *sync.WaitGroup, store *state.Store,
	k *kernel.Netlink, docker interceptEngine, node string, log *slog.Logger) error {
	if a.cfg.DNS.Addr == "" {
		return nil
	}
	cfg := a.cfg.DNS
	cfg.Defaults()
	ip := a.cfg.dnsIP()
	if ip.IsValid() && !ip.IsLoopback() && !ip.IsUnspecified() {
		dev, err := k.EnsureLocalAddress(dnsLink, netip.PrefixFrom(ip, ip.BitLen()))
		if err != nil {
			return fmt.Errorf("agent: dns address: %w", err)
		}
		log.Debug("dns address on this host", "addr", ip, "device", dev)
		cfg.HostAddrs = append(cfg.HostAddrs, ip)
	}
	if len(cfg.Upstreams) == 0 {
		ups, err := dnsd.ParseResolvConf(resolvConf, ip)
		if err != nil {
			log.Warn("no upstream resolvers: names outside the cluster get SERVFAIL", "err", err)
		}
		cfg.Upstreams = ups
	}
	srv, err := dnsd.New(cfg, log, a.reg)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	feed := newDNSFeed(store, srv, a.dp.reporter(componentDNS))
	feed.run(ctx)
	if err := srv.Start(); err != nil {
		feed.stop()
		return fmt.Errorf("agent: dns server on %s: %w", cfg.Addr, err)
	}
	stack.push("dns", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	})
	wg.Go(func() {
		defer feed.stop()
		engine.RunLoop(ctx, store.Watch, feed.match, time.Millisecond, controllerPeriod, feed.run)
	})
	log.Info("dns ready", "addr", cfg.Addr, "upstreams", cfg.Upstreams, "ttl", cfg.TTL)
	if a.cfg.DNSIntercept {
		a.startDNSIntercept(ctx, stack, store, docker, node, log)
	}
	return nil
}

// dnsRecords is what dnsFeed keeps up to date: a dnsd.Server.
type dnsRecords interface {
	Update(dnsd.Snapshot)
	UpdateServices(changed []dnsd.Service, removed []string) bool
}

// dnsFeed keeps the DNS records in step with the store, on RunLoop's
// goroutine (match and run are its match and callback). A burst of
// commits that changed only services (the usual commit of a busy load
// balancer) is given to the server as those services alone, at a cost
// that does not grow with the number of services; any other relevant
// change rebuilds the records from a whole snapshot.
//
// RunLoop calls match only for the first event of a burst, so the feed
// learns what changed from a watch of its own, read only by run while it
// holds a view of the store: commits publish their events under the
// store's lock, so those queued then are exactly the events of the
// commits the view shows.
type dnsFeed struct {
	store   *state.Store
	srv     dnsRecords
	applied func(uint64) // reports the raft index the records reflect
	events  <-chan state.Event
	stop    func() // ends the watch
	// services are the services last given to srv, by ID (nil before
	// the first rebuild): a removed service's name is found here.
	services map[string]dnsd.Service
	// dirty: a relevant event came since the last run.
	dirty bool
}

func newDNSFeed(store *state.Store, srv dnsRecords, applied func(uint64)) *dnsFeed {
	events, stop := store.Watch()
	return &dnsFeed{store: store, srv: srv, applied: applied, events: events, stop: stop}
}

// dnsRelevant tells whether an event changes DNS records. Tasks (most of
// the commits of a busy cluster) reach DNS through their endpoints, not
// through task events; the addresses a network reserves (the VIP of a
// service being created, say) are no record either.
func dnsRelevant(e state.Event) bool {
	switch e.Kind {
	case "network":
		return e.Action != state.ActionReserve
	case "endpoint", "node", "service", "all":
		return true
	}
	return false
}

// match is RunLoop's event filter. The records answer the state of the
// view they were built from; a commit of nothing relevant, with no
// update pending (dirty), changes no record, so its index is applied at
// once.
func (f *dnsFeed) match(e state.Event) bool {
	if dnsRelevant(e) {
		f.dirty = true
		return true
	}
	if !f.dirty {
		f.applied(e.Index)
	}
	return false
}

// run is RunLoop's callback: it brings the records up to date. A run
// that no event asked for (the first, the periodic one, after a lost
// watch) rebuilds them.
func (f *dnsFeed) run(context.Context) time.Time {
	full := !f.dirty
	f.dirty = false
	f.applied(f.sync(full))
	return time.Time{}
}

// sync brings the records up to the store's state and returns that
// state's raft index: from a whole snapshot with full, or when the
// queued events are not all service events or may be incomplete; else
// from the services the events name.
func (f *dnsFeed) sync(full bool) uint64 {
	var (
		idx      uint64
		snap     dnsd.Snapshot
		changed  []dnsd.Service
		removed  []string
		services map[string]dnsd.Service
	)
	f.store.View(func(tx state.ReadTx) {
		idx = tx.Index()
		ids, onlyServices := f.drain()
		if full || !onlyServices || f.services == nil {
			full = true
			snap, services = dnsSnapshotTx(tx)
			return
		}
		changed, removed = f.serviceChanges(tx, ids)
	})
	switch {
	case full:
		f.srv.Update(snap)
		f.services = services
	case len(changed) == 0 && len(removed) == 0:
	case !f.srv.UpdateServices(changed, removed):
		// Not doable in place (a VIP shares its address with another
		// record): the whole snapshot says which record wins.
		return f.sync(true)
	}
	return idx
}

// drain takes the queued events: the IDs of the services they name, and
// whether they are all service events (or irrelevant). A full queue may
// have lost events (the store drops what does not fit): only the feed
// takes from it, so one that overflowed since the last drain is still
// full.
func (f *dnsFeed) drain() (services []string, onlyServices bool) {
	onlyServices = len(f.events) < cap(f.events)
	for {
		select {
		case e, ok := <-f.events:
			if !ok {
				return services, false
			}
			if e.Kind == "service" {
				services = append(services, e.ID)
			} else if dnsRelevant(e) {
				onlyServices = false
			}
		default:
			return services, onlyServices
		}
	}
}

// serviceChanges is what the services of ids changed since they were
// last given to the server, and notes them as given: those created or
// changed, and the names of those removed or renamed. A change that
// leaves a service's name, mode and VIPs as they were (a scale, a new
// image) is none.
func (f *dnsFeed) serviceChanges(tx state.ReadTx, ids []string) (changed []dnsd.Service, removed []string) {
	seen := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = struct{}{}
		old, had := f.services[id]
		svc := tx.Service(id)
		if svc == nil {
			if had {
				removed = append(removed, old.Name)
				delete(f.services, id)
			}
			continue
		}
		cur := dnsService(svc)
		if had && old.Name == cur.Name && old.Mode == cur.Mode && maps.Equal(old.VIPs, cur.VIPs) {
			continue
		}
		if had && old.Name != cur.Name {
			removed = append(removed, old.Name)
		}
		changed = append(changed, cur)
		f.services[id] = cur
	}
	return changed, removed
}

// dnsSnapshot turns the replicated state into the records dnsd answers.
// Endpoints on nodes that are down are out of service: their host is
// presumed gone.
func dnsSnapshot(store *state.Store) dnsd.Snapshot {
	snap, _ := dnsSnapshotAt(store)
	return snap
}

// dnsSnapshotAt is dnsSnapshot and the raft index of the state it is
// made of.
func dnsSnapshotAt(store *state.Store) (snap dnsd.Snapshot, index uint64) {
	store.View(func(tx state.ReadTx) {
		index = tx.Index()
		snap, _ = dnsSnapshotTx(tx)
	})
	return snap, index
}

// dnsSnapshotTx is the snapshot of tx, and its services by ID.
func dnsSnapshotTx(tx state.ReadTx) (snap dnsd.Snapshot, services map[string]dnsd.Service) {
	for _, n := range tx.Networks() {
		p, err := netip.ParsePrefix(n.Subnet)
		if err != nil {
			continue
		}
		snap.Networks = append(snap.Networks, dnsd.Network{ID: n.ID, Name: n.Name, Subnet: p})
		for _, ep := range tx.Endpoints(n.ID) {
			ip, err := netip.ParseAddr(ep.IP)
			if err != nil {
				continue
			}
			e := dnsd.Endpoint{NetworkID: n.ID, ContainerID: ep.ContainerID, IP: ip,
				Service: ep.Service, Task: ep.Container, InService: tx.InService(ep)}
			if ep.Container != "" {
				e.Names = append([]string{ep.Container}, ep.Aliases...)
			}
			snap.Endpoints = append(snap.Endpoints, e)
		}
	}
	svcs := tx.Services()
	services = make(map[string]dnsd.Service, len(svcs))
	for _, svc := range svcs {
		s := dnsService(svc)
		snap.Services = append(snap.Services, s)
		services[svc.ID] = s
	}
	return snap, services
}

// dnsService is a service's DNS view: its VIPs, or its tasks (dnsrr, or
// no VIP yet).
func dnsService(svc *state.Service) dnsd.Service {
	out := dnsd.Service{Name: svc.Name, Mode: dnsd.ModeVIP}
	if svc.Spec.EndpointMode == state.EndpointDNSRR {
		out.Mode = dnsd.ModeDNSRR
	}
	for netID, vip := range svc.VIPs {
		if ip, err := netip.ParseAddr(vip); err == nil {
			if out.VIPs == nil {
				out.VIPs = map[string]netip.Addr{}
			}
			out.VIPs[netID] = ip
		}
	}
	return out
}
