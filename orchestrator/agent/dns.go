package agent

import (
	"context"
	"fmt"
	"log/slog"
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
	applied := a.dp.reporter(componentDNS)
	snap, idx := dnsSnapshotAt(store)
	srv.Update(snap)
	applied(idx)
	if err := srv.Start(); err != nil {
		return fmt.Errorf("agent: dns server on %s: %w", cfg.Addr, err)
	}
	stack.push("dns", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	})
	// What the records come from: tasks (most of the commits of a busy
	// cluster) reach DNS through their endpoints, not through task events.
	relevant := func(e state.Event) bool {
		switch e.Kind {
		case "network", "endpoint", "node", "service", "all":
			return true
		}
		return false
	}
	// The data-plane index: the records answer the state of the view
	// they were built from; a commit of nothing relevant, with no update
	// pending (dirty), changes no record.
	dirty := false
	match := func(e state.Event) bool {
		if relevant(e) {
			dirty = true
			return true
		}
		if !dirty {
			applied(e.Index)
		}
		return false
	}
	wg.Go(func() {
		engine.RunLoop(ctx, store.Watch, match, time.Millisecond, controllerPeriod, func(context.Context) time.Time {
			dirty = false
			snap, idx := dnsSnapshotAt(store)
			srv.Update(snap)
			applied(idx)
			return time.Time{}
		})
	})
	log.Info("dns ready", "addr", cfg.Addr, "upstreams", cfg.Upstreams, "ttl", cfg.TTL)
	if a.cfg.DNSIntercept {
		a.startDNSIntercept(ctx, stack, store, docker, node, log)
	}
	return nil
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
		for _, svc := range tx.Services() {
			snap.Services = append(snap.Services, dnsService(svc))
		}
	})
	return snap, index
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
