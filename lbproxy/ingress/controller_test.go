package ingress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
	"github.com/xoverlay/xoverlay/lbproxy/l7"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// recorder collects what the controller does, one line per call.
type recorder chan string

func (r recorder) add(format string, args ...any) { r <- fmt.Sprintf(format, args...) }

// want waits for the next calls, in order, and fails on any other.
func (r recorder) want(t *testing.T, lines ...string) {
	t.Helper()
	for _, w := range lines {
		select {
		case got := <-r:
			if got != w {
				t.Fatalf("got %q, want %q", got, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the controller did not %q", w)
		}
	}
}

// until skips calls until line comes (commits may be batched).
func (r recorder) until(t *testing.T, line string) {
	t.Helper()
	for {
		select {
		case got := <-r:
			if got == line {
				return
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the controller did not %q", line)
		}
	}
}

// quiet checks that nothing more happens for a moment.
func (r recorder) quiet(t *testing.T) {
	t.Helper()
	select {
	case got := <-r:
		t.Fatalf("unexpected %q", got)
	case <-time.After(100 * time.Millisecond):
	}
}

type recPlane struct {
	name string
	rec  recorder
}

func (p *recPlane) Name() string { return "fake" }
func (p *recPlane) Apply(_ context.Context, d l4.Desired) error {
	var parts []string
	for _, pub := range d.Published {
		parts = append(parts, fmt.Sprintf("%d/%s>%v", pub.Port, pub.Proto, pub.Backends))
	}
	for _, s := range d.MeshSource {
		parts = append(parts, fmt.Sprintf("snat %s>%s", s.Prefix, s.Source))
	}
	p.rec.add("%s apply %s", p.name, strings.Join(parts, " "))
	return nil
}
func (p *recPlane) Reconcile(context.Context) (int, error) { return 0, nil }
func (p *recPlane) Remove() error                          { p.rec.add("%s remove", p.name); return nil }
func (p *recPlane) Close() error                           { p.rec.add("%s close", p.name); return nil }

type recFirewall struct{ rec recorder }

func (f recFirewall) Set(_ context.Context, on bool) error { f.rec.add("firewall %v", on); return nil }

type recFront struct{ rec recorder }

func (f recFront) Apply(cfgs map[uint16]l7.Config) error {
	var ports []string
	for _, p := range sortedPorts(cfgs) {
		var ups []string
		for _, u := range cfgs[p].Upstreams {
			var addrs []string
			for _, s := range u.Servers {
				addrs = append(addrs, s.Addr)
			}
			ups = append(ups, u.Name+"="+strings.Join(addrs, ","))
		}
		ports = append(ports, fmt.Sprintf("%d:%s", p, strings.Join(ups, ";")))
	}
	f.rec.add("http %s", strings.Join(ports, " "))
	return nil
}
func (f recFront) Shutdown(context.Context) error { f.rec.add("http shutdown"); return nil }

type recDial struct {
	rec  recorder
	path string
}

func (d *recDial) Set(path string) error { d.rec.add("dial %s", path); d.path = path; return nil }
func (d *recDial) Path() string          { return d.path }
func (d *recDial) Close()                {}
func (d *recDial) DialContext(context.Context, string, string) (net.Conn, error) {
	return nil, errNoSandbox
}

type fakeEvents struct{ msgs chan events.Message }

func (f fakeEvents) Events(context.Context, events.ListOptions) (<-chan events.Message, <-chan error) {
	return f.msgs, nil
}

// The whole life of a published port on node n1: nothing, a mesh port,
// the ingress container restarting, an HTTP service, then nothing again.
func TestControllerLifecycle(t *testing.T) {
	c := newCluster(t)
	rec := make(recorder, 64)
	eng := newFakeEngine()
	ev := fakeEvents{msgs: make(chan events.Message, 4)}
	p := parts{
		box:      &sandboxes{eng: eng, node: "n1", image: func(context.Context) (string, error) { return "xo-ingress:t", nil }},
		fw:       recFirewall{rec},
		front:    recFront{rec},
		dial:     &recDial{rec: rec},
		openHost: func() (l4.DataPlane, error) { rec.add("host open"); return &recPlane{"host", rec}, nil },
		openIngress: func(ns string) (l4.DataPlane, error) {
			rec.add("ingress open %s", ns)
			return &recPlane{"ingress", rec}, nil
		},
	}
	m, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctl := newController(c, ev, p, "n1", time.Hour, testLog(t), m)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctl.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()

	// Start: whatever a previous agent left is cleaned up.
	rec.want(t, "host open", "host remove", "firewall false", "http ")
	rec.quiet(t)

	// A mesh port: the container, its rules, the host's, the firewall.
	c.service(t, "web", nil, state.PortConfig{Target: 8080, Published: 80})
	rec.want(t, "dial /ns/ctr1-1", "ingress open /ns/ctr1-1", "ingress apply 80/tcp>[] snat 10.1.0.0/24>10.5.0.101",
		"host apply 80/tcp>[10.5.0.101:80]", "firewall true", "http ")
	c.task(t, "w1", "web", "n1", "10.1.0.11")
	rec.want(t, "ingress apply 80/tcp>[10.1.0.11:8080] snat 10.1.0.0/24>10.5.0.101",
		"host apply 80/tcp>[10.5.0.101:80]", "http ")
	// A commit that changes nothing of it does nothing.
	c.apply(t, state.RegisterNode{Node: state.Node{ID: "n3", Hostname: "h3", Role: state.RoleWorker}})
	rec.quiet(t)

	// The container restarts (the engine's event): a new namespace.
	eng.die("ctr1")
	ev.msgs <- events.Message{Type: events.ContainerEventType, Action: events.ActionDie, Actor: events.Actor{ID: "ctr1"}}
	rec.want(t, "dial /ns/ctr1-2", "ingress close", "ingress open /ns/ctr1-2",
		"ingress apply 80/tcp>[10.1.0.11:8080] snat 10.1.0.0/24>10.5.0.101", "host apply 80/tcp>[10.5.0.101:80]", "http ")

	// An HTTP service next to it.
	c.service(t, "api", map[string]string{state.LabelHTTPHost: "a.example.com"}, state.PortConfig{Target: 8080, Published: 8081, Mode: state.PublishHTTP})
	c.task(t, "a2", "api", "n2", "10.1.0.12")
	rec.until(t, "http 8081:api=10.1.0.12:8080")
	rec.quiet(t)

	// The mesh port goes; the HTTP service keeps the container.
	c.apply(t, state.RemoveService{ID: "s-web"})
	rec.want(t, "ingress apply snat 10.1.0.0/24>10.5.0.101", "host remove", "firewall false", "http 8081:api=10.1.0.12:8080")
	// Nothing published: the container and its namespace go.
	c.apply(t, state.RemoveService{ID: "s-api"})
	rec.want(t, "dial ", "ingress close", "http ")
	rec.quiet(t)
	if len(eng.ctrs) != 0 {
		t.Fatalf("containers left: %v", eng.ctrs)
	}
	if calls := eng.Calls(); !slices.Contains(calls, "remove ctr1") {
		t.Fatalf("engine calls %q", calls)
	}
	cancel()
	<-done
	rec.want(t, "host close", "http shutdown")
}

// flakyBox fails its first Ensure, as an engine that is restarting would.
type flakyBox struct {
	rec   recorder
	fails int
}

func (b *flakyBox) Ensure(_ context.Context, nets []Network) (Sandbox, error) {
	if b.fails > 0 {
		b.fails--
		b.rec.add("ensure failed")
		return Sandbox{}, errors.New("engine not answering")
	}
	b.rec.add("ensure %d networks", len(nets))
	return Sandbox{ID: "c1", NS: "/ns/c1", Addrs: map[string]netip.Addr{"net": netip.MustParseAddr("10.1.0.200")}}, nil
}

func (b *flakyBox) Remove(context.Context) error { return nil }

// A failure is retried at the next reconcile, and counted.
func TestControllerRetriesFailures(t *testing.T) {
	c := newCluster(t)
	c.service(t, "web", nil, state.PortConfig{Target: 8080, Published: 80})
	rec := make(recorder, 64)
	p := parts{
		box:         &flakyBox{rec: rec, fails: 1},
		fw:          recFirewall{rec},
		front:       recFront{rec},
		dial:        &recDial{rec: rec},
		openHost:    func() (l4.DataPlane, error) { return &recPlane{"host", rec}, nil },
		openIngress: func(ns string) (l4.DataPlane, error) { return &recPlane{"ingress", rec}, nil },
	}
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctl := newController(c, fakeEvents{msgs: make(chan events.Message)}, p, "n1", 20*time.Millisecond, testLog(t), m)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctl.Run(ctx)
	}()
	defer func() { // every tick records more: keep taking it until Run returns
		cancel()
		for {
			select {
			case <-rec:
			case <-done:
				return
			}
		}
	}()
	// Without the container, the host has nothing to send the port to.
	rec.want(t, "ensure failed", "host remove", "firewall false", "http ")
	rec.until(t, "ensure 1 networks")
	rec.want(t, "dial /ns/c1", "ingress apply 80/tcp>[] snat 10.1.0.0/24>10.1.0.200", "host apply 80/tcp>[10.1.0.200:80]", "firewall true")
	if got := testutil.ToFloat64(m.errors.WithLabelValues("sandbox")); got != 1 {
		t.Fatalf("xo_lb_mesh_errors_total{op=sandbox} = %v, want 1", got)
	}
}
