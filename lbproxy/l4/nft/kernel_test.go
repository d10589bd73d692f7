//go:build linux

package nft

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
	"github.com/xoverlay/xoverlay/lbproxy/l4/l4test"
)

func testLog(t testing.TB) *slog.Logger { return l4test.Logger(t) }

func newPlane(t testing.TB, path string, m *l4.Metrics) *Plane {
	t.Helper()
	p, err := New(path, Options{Log: testLog(t), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// outside is a second nftables connection into the namespace, playing
// someone who edits the table behind the plane's back.
func outside(t testing.TB, ns *l4test.NS) *nftables.Conn {
	t.Helper()
	c, err := nftables.New(nftables.AsLasting(), nftables.WithNetNSFd(ns.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseLasting() })
	return c
}

var table = &nftables.Table{Name: DefaultTable, Family: nftables.TableFamilyIPv4}

func TestSuite(t *testing.T) {
	l4test.Run(t, l4test.Harness{
		New: func(t *testing.T, path string) l4.DataPlane { return newPlane(t, path, nil) },
		Break: func(t *testing.T, ns *l4test.NS) {
			// Drop the VIP's map element and its chain's rule.
			c := outside(t, ns)
			k := l4.Key{VIP: l4test.VIP, Proto: l4.TCP, Port: l4test.VIPTCPPort}
			o := objects{conn: c, table: table}
			if err := c.SetDeleteElements(o.vips(), []nftables.SetElement{{Key: frontendKey(k)}}); err != nil {
				t.Fatal(err)
			}
			c.FlushChain(o.chain(chainName(k)))
			if err := c.Flush(); err != nil {
				t.Fatalf("break: %v", err)
			}
		},
	})
}

func TestProbe(t *testing.T) {
	n := l4test.NewNet(t, 0)
	if err := Probe(n.Client.Path()); err != nil {
		t.Fatalf("probe: %v", err)
	}
	tables, err := outside(t, n.Client).ListTables()
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 0 {
		t.Fatalf("probe left tables behind: %v", tables[0].Name)
	}
	if _, err := New("/nonexistent/netns", Options{}); err == nil || !strings.Contains(err.Error(), "/nonexistent/netns") {
		t.Fatalf("New on a missing namespace: %v, want an error naming it", err)
	}
}

func chainsOf(t *testing.T, c *nftables.Conn) []string {
	t.Helper()
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ch := range chains {
		if ch.Table.Name == DefaultTable {
			names = append(names, ch.Name)
		}
	}
	slices.Sort(names)
	return names
}

// A new owner (an agent restarted) replaces what the old one left, in
// one transaction, including frontends it does not know.
func TestNewOwnerReplacesTable(t *testing.T) {
	n := l4test.NewNet(t, 2)
	ctx := context.Background()
	old := newPlane(t, n.Client.Path(), nil)
	d := l4.Desired{Services: []l4.Service{
		{VIP: l4test.VIP, Port: 80, Proto: l4.TCP, Backends: n.TCPBackends()},
		{VIP: netip.MustParseAddr("10.77.200.2"), Port: 80, Proto: l4.TCP, Backends: n.TCPBackends()},
	}}
	if err := old.Apply(ctx, d); err != nil {
		t.Fatal(err)
	}
	old.Close()
	// Rules stay after Close: traffic flows while the agent restarts.
	if _, err := l4test.DialTCP(n.Client, netip.AddrPortFrom(l4test.VIP, 80)); err != nil {
		t.Fatalf("VIP after the owner closed: %v", err)
	}
	p := newPlane(t, n.Client.Path(), nil)
	defer p.Close()
	d.Services = d.Services[:1]
	if err := p.Apply(ctx, d); err != nil {
		t.Fatal(err)
	}
	got := chainsOf(t, outside(t, n.Client))
	want := []string{"out", "post", "pre", "v-10.77.200.1-tcp-80"}
	if !slices.Equal(got, want) {
		t.Fatalf("chains after the new owner's apply: %v, want %v", got, want)
	}
	if _, err := l4test.DialTCP(n.Client, netip.AddrPortFrom(l4test.VIP, 80)); err != nil {
		t.Fatalf("VIP after the new owner's apply: %v", err)
	}
	if err := p.Remove(); err != nil {
		t.Fatal(err)
	}
	if got := chainsOf(t, outside(t, n.Client)); len(got) != 0 {
		t.Fatalf("chains after Remove: %v", got)
	}
	if fixes, err := p.Reconcile(ctx); err != nil || fixes != 0 {
		t.Fatalf("reconcile after Remove: %d, %v; want nothing to do", fixes, err)
	}
}

func TestReconcileRemovesStaleAndRebuilds(t *testing.T) {
	n := l4test.NewNet(t, 2)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m, err := l4.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	p := newPlane(t, n.Client.Path(), m)
	defer p.Close()
	d := l4.Desired{Services: []l4.Service{{VIP: l4test.VIP, Port: 80, Proto: l4.TCP, Backends: n.TCPBackends()}}}
	if err := p.Apply(ctx, d); err != nil {
		t.Fatal(err)
	}

	// Someone adds a frontend of their own, rewrites a rule's backends
	// and empties a base chain.
	c := outside(t, n.Client)
	o := objects{conn: c, table: table, mark: DefaultMeshMark}
	stale := l4.Key{VIP: netip.MustParseAddr("10.77.200.9"), Proto: l4.TCP, Port: 80}
	if err := o.addFrontend(stale, n.TCPBackends()); err != nil {
		t.Fatal(err)
	}
	k := l4.Key{VIP: l4test.VIP, Proto: l4.TCP, Port: 80}
	c.FlushChain(o.chain(chainName(k)))
	o.addFrontendRule(k, n.TCPBackends()[:1]) // tagged with another fingerprint
	c.FlushChain(o.chain(chainPre))
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	fixes, err := p.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// stale element + stale chain + rewritten rule + base chain "pre".
	if fixes != 4 {
		t.Errorf("reconcile fixed %d things, want 4", fixes)
	}
	if got, want := chainsOf(t, c), []string{"out", "post", "pre", "v-10.77.200.1-tcp-80"}; !slices.Equal(got, want) {
		t.Fatalf("chains after reconcile: %v, want %v", got, want)
	}
	if v := metricValue(t, reg, "xo_lb_reconcile_fixes_total", "nftables"); v != 4 {
		t.Errorf("xo_lb_reconcile_fixes_total = %v, want 4", v)
	}

	// The whole table deleted: rebuilt.
	c.DelTable(table)
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if fixes, err := p.Reconcile(ctx); err != nil || fixes != 1 {
		t.Fatalf("reconcile of a deleted table: %d fixes, %v; want 1, nil", fixes, err)
	}
	seen := map[string]bool{}
	for range l4test.Tries {
		r, err := l4test.DialTCP(n.Client, netip.AddrPortFrom(l4test.VIP, 80))
		if err != nil {
			t.Fatal(err)
		}
		seen[r.Backend] = true
	}
	if len(seen) != 2 {
		t.Fatalf("after the rebuild the VIP reached %v, want b1 and b2", seen)
	}
	// Someone deleting the table makes the next Apply rebuild it too.
	c.DelTable(table)
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	d.Services[0].Backends = n.TCPBackends()[1:]
	if err := p.Apply(ctx, d); err != nil {
		t.Fatalf("apply after the table was deleted: %v", err)
	}
	if r, err := l4test.DialTCP(n.Client, netip.AddrPortFrom(l4test.VIP, 80)); err != nil || r.Backend != "b2" {
		t.Fatalf("VIP after the rebuild by Apply: %+v, %v", r, err)
	}
}

func TestMetrics(t *testing.T) {
	n := l4test.NewNet(t, 2)
	reg := prometheus.NewRegistry()
	m, err := l4.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.SetPlane(l4.PlaneNFTables)
	p := newPlane(t, n.Router.Path(), m)
	d := l4.Desired{
		Services:  []l4.Service{{VIP: l4test.VIP, Port: 80, Proto: l4.TCP, Backends: n.TCPBackends()}},
		Published: []l4.Published{{Port: 8080, Proto: l4.UDP, Backends: n.UDPBackends()[:1]}},
	}
	if err := p.Apply(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP xo_lb_backends Backends behind the programmed frontends, summed over namespaces, by frontend kind.
# TYPE xo_lb_backends gauge
xo_lb_backends{kind="published"} 1
xo_lb_backends{kind="vip"} 2
# HELP xo_lb_dataplane_info 1 for the L4 data plane this node uses (ipvs, nftables or userspace), 0 for the others.
# TYPE xo_lb_dataplane_info gauge
xo_lb_dataplane_info{plane="ipvs"} 0
xo_lb_dataplane_info{plane="nftables"} 1
xo_lb_dataplane_info{plane="userspace"} 0
# HELP xo_lb_virtual_services Frontends programmed, summed over namespaces: kind=vip (service VIPs) or published (routing mesh).
# TYPE xo_lb_virtual_services gauge
xo_lb_virtual_services{kind="published"} 1
xo_lb_virtual_services{kind="vip"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "xo_lb_backends", "xo_lb_dataplane_info", "xo_lb_virtual_services"); err != nil {
		t.Fatal(err)
	}
	if c := testutil.CollectAndCount(reg, "xo_lb_rule_update_seconds"); c != 3 {
		t.Fatalf("xo_lb_rule_update_seconds has %d series, want 3", c)
	}
	p.Close()
	if v := metricValue(t, reg, "xo_lb_virtual_services", "vip"); v != 0 {
		t.Fatalf("xo_lb_virtual_services{kind=vip} after Close = %v, want 0", v)
	}
}

// metricValue returns the value of the series of name whose one label
// has the given value.
func metricValue(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == label {
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no series %s{%s}", name, label)
	return 0
}

// Planes of several namespaces apply and reconcile at the same time, as
// an agent's do.
func TestConcurrentPlanes(t *testing.T) {
	const n = 4
	var nets []*l4test.Net
	var ps []*Plane
	for range n {
		net := l4test.NewNet(t, 2)
		nets = append(nets, net)
		p := newPlane(t, net.Client.Path(), nil)
		t.Cleanup(func() { p.Close() })
		ps = append(ps, p)
	}
	errs := make(chan error, n)
	for i, p := range ps {
		go func() {
			var err error
			for j := range 20 {
				d := l4.Desired{Services: []l4.Service{
					{VIP: l4test.VIP, Port: 80, Proto: l4.TCP, Backends: nets[i].TCPBackends()[j%2:]},
					{VIP: l4test.VIP, Port: 53, Proto: l4.UDP, Backends: nets[i].UDPBackends()[:1+j%2]},
				}}
				if err = p.Apply(context.Background(), d); err != nil {
					break
				}
				if _, err = p.Reconcile(context.Background()); err != nil {
					break
				}
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	for _, net := range nets {
		if _, err := l4test.DialTCP(net.Client, netip.AddrPortFrom(l4test.VIP, 80)); err != nil {
			t.Errorf("VIP after concurrent applies: %v", err)
		}
	}
}
