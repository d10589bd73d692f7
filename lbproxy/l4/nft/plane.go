//go:build linux

package nft

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
	"github.com/xoverlay/xoverlay/lbproxy/l4/inns"
)

var _ l4.DataPlane = (*Plane)(nil)

// Options tune a Plane. The zero value is usable.
type Options struct {
	// Table is the nftables table (family ip) the plane owns; default
	// DefaultTable.
	Table string
	// MeshMark is the packet-mark bit used for routing-mesh traffic;
	// default DefaultMeshMark. Pick a bit nothing else on the host uses.
	MeshMark uint32
	Log      *slog.Logger
	Metrics  *l4.Metrics
}

// Plane is the nftables data plane of one network namespace.
//
// Close leaves the rules in the kernel: traffic keeps flowing while the
// agent restarts, and the next owner's first Apply replaces them in one
// transaction.
type Plane struct {
	mu      sync.Mutex
	ns      *inns.NS
	conn    *nftables.Conn
	ct      *netlink.Handle // conntrack of the namespace
	obj     objects
	log     *slog.Logger
	metrics *l4.Metrics
	gauges  *l4.Gauges

	synced  bool // the kernel holds applied (a full sync happened)
	applied l4.Frontends
	snat    []l4.SNAT
}

// New opens the namespace at nsPath and checks that nftables answers
// there. It changes nothing until the first Apply.
func New(nsPath string, opt Options) (*Plane, error) {
	if opt.Table == "" {
		opt.Table = DefaultTable
	}
	if opt.MeshMark == 0 {
		opt.MeshMark = DefaultMeshMark
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	ns, err := inns.Open(nsPath)
	if err != nil {
		return nil, fmt.Errorf("nft: %w", err)
	}
	conn, err := dial(ns)
	if err != nil {
		ns.Close()
		return nil, err
	}
	if _, err := conn.ListTablesOfFamily(nftables.TableFamilyIPv4); err != nil {
		conn.CloseLasting()
		ns.Close()
		return nil, fmt.Errorf("nft: nftables does not answer in %s: %w (the kernel needs nf_tables; otherwise use the userspace data plane)", nsPath, err)
	}
	ct, err := netlink.NewHandleAt(ns.Handle(), unix.NETLINK_NETFILTER)
	if err != nil {
		conn.CloseLasting()
		ns.Close()
		return nil, fmt.Errorf("nft: netlink to conntrack in %s: %w", nsPath, err)
	}
	return &Plane{
		ns:      ns,
		conn:    conn,
		ct:      ct,
		obj:     objects{conn: conn, table: &nftables.Table{Name: opt.Table, Family: nftables.TableFamilyIPv4}, mark: opt.MeshMark},
		log:     opt.Log.With("component", "lb-nft", "netns", nsPath),
		metrics: opt.Metrics,
		gauges:  opt.Metrics.Gauges(),
	}, nil
}

// Name returns l4.PlaneNFTables.
func (p *Plane) Name() string { return l4.PlaneNFTables }

// Apply programs d. The first Apply deletes and rebuilds the table in one
// transaction; later ones change only the frontends that differ, each
// change in one transaction, so a packet sees either the old or the new
// backends. UDP flows to backends that went are then deleted from
// conntrack (TCP connections to them finish on their own).
func (p *Plane) Apply(ctx context.Context, d l4.Desired) error {
	fronts, err := d.Frontends()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("nft: apply: %w", err)
	}
	snat := canonicalSNAT(d.MeshSource)
	p.mu.Lock()
	defer p.mu.Unlock()
	start := time.Now()
	var flows *udpFlows
	if p.synced {
		flows, err = p.incremental(fronts, snat)
		if err != nil {
			p.log.Warn("incremental update failed, rebuilding the table", "err", err)
			p.synced = false
		}
	}
	if !p.synced {
		if flows, err = p.fullSync(fronts, snat); err != nil {
			return err
		}
	}
	p.metrics.ObserveUpdate(l4.PlaneNFTables, time.Since(start))
	p.gauges.Set(fronts)
	if _, err := p.flushFlows(flows); err != nil {
		return err
	}
	return nil
}

func (p *Plane) incremental(fronts l4.Frontends, snat []l4.SNAT) (*udpFlows, error) {
	deltas := l4.Diff(p.applied, fronts)
	snatChanged := !slices.Equal(p.snat, snat)
	if len(deltas) == 0 && !snatChanged {
		return nil, nil
	}
	if err := p.program(deltas); err != nil {
		return nil, err
	}
	var flows *udpFlows // made only when UDP backends go: it reads every frontend
	for _, d := range deltas {
		if d.Key.CarriesUDP() && len(d.Gone) > 0 {
			if flows == nil {
				flows = newUDPFlows(p.applied, fronts)
			}
			flows.allow(d.Key, d.Backends)
		}
	}
	if snatChanged {
		p.obj.conn.FlushChain(p.obj.chain(chainPost))
		p.obj.addBaseRules(chainPost, snat)
	}
	if err := p.conn.Flush(); err != nil {
		return nil, fmt.Errorf("nft: commit %d frontend changes in %s: %w", len(deltas), p.ns.Path(), err)
	}
	p.applied, p.snat = fronts, snat
	p.log.Debug("applied", "changes", len(deltas), "frontends", len(fronts))
	return flows, nil
}

// program queues the deltas' changes of frontends in the batch.
func (p *Plane) program(deltas []l4.Delta) error {
	for _, d := range deltas {
		var err error
		switch d.Op {
		case l4.OpAdd:
			err = p.obj.addFrontend(d.Key, d.Backends)
		case l4.OpUpdate:
			err = p.obj.updateFrontend(d.Key, d.Backends)
		case l4.OpRemove:
			err = p.obj.removeFrontend(d.Key)
		}
		if err != nil {
			return p.abort(fmt.Errorf("nft: %s %s: %w", d.Op, d.Key, err))
		}
	}
	return nil
}

// fullSync replaces the table with fronts in one transaction. The UDP
// flows it returns cover the frontends of the table it replaced too.
func (p *Plane) fullSync(fronts l4.Frontends, snat []l4.SNAT) (*udpFlows, error) {
	flows := newUDPFlows(fronts)
	for _, k := range p.kernelKeys() {
		if k.CarriesUDP() {
			flows.allow(k, nil)
		}
	}
	for k, bs := range fronts {
		if k.CarriesUDP() {
			flows.allow(k, bs)
		}
	}
	p.conn.AddTable(p.obj.table) // so that the delete finds one
	p.conn.DelTable(p.obj.table)
	if err := p.obj.addSkeleton(snat); err != nil {
		return nil, p.abort(fmt.Errorf("nft: build table: %w", err))
	}
	for _, k := range fronts.SortedKeys() {
		if err := p.obj.addFrontend(k, fronts[k]); err != nil {
			return nil, p.abort(fmt.Errorf("nft: add %s: %w", k, err))
		}
	}
	if err := p.conn.Flush(); err != nil {
		return nil, fmt.Errorf("nft: replace table %s in %s (%d frontends): %w", p.obj.table.Name, p.ns.Path(), len(fronts), err)
	}
	p.synced, p.applied, p.snat = true, fronts, snat
	p.log.Info("table rebuilt", "frontends", len(fronts))
	return flows, nil
}

// kernelKeys returns the frontends the kernel's table has chains for
// (none if there is no table).
func (p *Plane) kernelKeys() []l4.Key {
	chains, err := p.conn.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil
	}
	var keys []l4.Key
	for _, c := range chains {
		if c.Table.Name != p.obj.table.Name {
			continue
		}
		if k, ok := parseChainName(c.Name); ok {
			keys = append(keys, k)
		}
	}
	return keys
}

// abort drops the queued batch after a serialisation error. The library
// keeps such an error in the connection for ever, so the connection is
// replaced.
func (p *Plane) abort(err error) error {
	_ = p.conn.Flush() // sends nothing, clears the queue
	conn, cerr := dial(p.ns)
	if cerr != nil {
		return errors.Join(err, cerr)
	}
	p.conn.CloseLasting()
	p.conn, p.obj.conn = conn, conn
	return err
}

// dial opens a lasting nftables connection into ns.
func dial(ns *inns.NS) (*nftables.Conn, error) {
	conn, err := nftables.New(nftables.AsLasting(), nftables.WithNetNSFd(ns.Fd()), nftables.WithSockOptions(bigBatches))
	if err != nil {
		return nil, fmt.Errorf("nft: netlink to nftables in %s: %w", ns.Path(), err)
	}
	return conn, nil
}

// Remove deletes the plane's table from the namespace, for a namespace
// that stays but needs no balancing any more (or moves to another data
// plane). The plane stays usable: the next Apply rebuilds the table.
func (p *Plane) Remove() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conn.AddTable(p.obj.table) // so that the delete finds one
	p.conn.DelTable(p.obj.table)
	if err := p.conn.Flush(); err != nil {
		return fmt.Errorf("nft: delete table %s in %s: %w", p.obj.table.Name, p.ns.Path(), err)
	}
	p.synced, p.applied, p.snat = false, nil, nil
	p.gauges.Clear()
	return nil
}

// Close releases the plane's netlink sockets and namespace handle.
func (p *Plane) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gauges.Clear()
	err := p.conn.CloseLasting()
	p.ct.Close()
	return errors.Join(err, p.ns.Close())
}

func canonicalSNAT(in []l4.SNAT) []l4.SNAT {
	out := make([]l4.SNAT, len(in))
	for i, s := range in {
		out[i] = l4.SNAT{Prefix: s.Prefix.Masked(), Source: s.Source}
	}
	// Longest prefix first: the first matching rule wins.
	slices.SortStableFunc(out, func(a, b l4.SNAT) int {
		if a.Prefix.Bits() != b.Prefix.Bits() {
			return b.Prefix.Bits() - a.Prefix.Bits()
		}
		return a.Prefix.Addr().Compare(b.Prefix.Addr())
	})
	return out
}

// backendSet is the set of a frontend's backends.
func backendSet(bs []netip.AddrPort) map[netip.AddrPort]bool {
	m := make(map[netip.AddrPort]bool, len(bs))
	for _, b := range bs {
		m[b] = true
	}
	return m
}

// Probe reports whether nftables in the namespace at nsPath accepts
// everything this plane uses (NAT chains, verdict maps, numgen, fib,
// reject, masquerade, marks): it commits a throwaway table and deletes it
// in the same transaction, so nothing stays. A nil error means usable.
func Probe(nsPath string) error {
	p, err := New(nsPath, Options{Table: DefaultTable + "-probe"})
	if err != nil {
		return err
	}
	defer p.Close()
	o := &p.obj
	probe := netip.MustParseAddr("192.0.2.1")
	err = errors.Join(
		o.addSkeleton([]l4.SNAT{{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Source: probe}}),
		o.addFrontend(l4.Key{VIP: probe, Proto: l4.TCP, Port: 80}, []netip.AddrPort{netip.AddrPortFrom(probe, 80)}),
		o.addFrontend(l4.Key{Proto: l4.TCP, Port: 80}, []netip.AddrPort{netip.AddrPortFrom(probe, 80)}),
		o.addFrontend(l4.Key{Proto: l4.UDP, Port: 80}, nil),
		o.addFrontend(l4.Key{VIP: probe}, []netip.AddrPort{netip.AddrPortFrom(probe, 0)}),
		o.addFrontend(l4.Key{VIP: probe.Next()}, nil),
	)
	if err != nil {
		return p.abort(fmt.Errorf("nft: probe: %w", err))
	}
	p.conn.DelTable(o.table)
	if err := p.conn.Flush(); err != nil {
		return fmt.Errorf("nft: the kernel refused this plane's rules in %s: %w (use the userspace data plane)", nsPath, err)
	}
	return nil
}
