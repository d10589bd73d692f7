package ingress

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
	"github.com/xoverlay/xoverlay/lbproxy/l7"
	"github.com/xoverlay/xoverlay/lbproxy/l7/upstream"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

var appnet = Network{ID: "net", Name: "appnet", EngineID: "e-net", Subnet: netip.MustParsePrefix("10.1.0.0/24")}

func TestComputeMeshAndHostPorts(t *testing.T) {
	c := newCluster(t)
	if p := c.plan("n1"); !p.Empty() || len(p.Networks) != 0 {
		t.Fatalf("plan without services: %+v", p)
	}
	c.service(t, "web", nil, state.PortConfig{Target: 8080, Published: 80}, state.PortConfig{Target: 53, Published: 5353, Protocol: "udp"})
	c.service(t, "db", nil, state.PortConfig{Target: 5432, Published: 5432, Mode: state.PublishHost})
	c.service(t, "quiet", nil, state.PortConfig{Target: 9000}) // declares a port, publishes none
	c.task(t, "w1", "web", "n1", "10.1.0.11")
	c.task(t, "w2", "web", "n2", "10.1.0.12")
	c.task(t, "d2", "db", "n2", "10.1.0.22")
	c.task(t, "q1", "quiet", "n1", "10.1.0.31")

	p := c.plan("n1")
	want := Plan{
		Networks: []Network{appnet},
		Mesh: []MeshPort{
			{Port: 80, Proto: l4.TCP, Service: "web", Network: "net", Backends: aps("10.1.0.11:8080", "10.1.0.12:8080")},
			{Port: 5353, Proto: l4.UDP, Service: "web", Network: "net", Backends: aps("10.1.0.11:53", "10.1.0.12:53")},
		},
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("n1's plan\n%+v\nwant\n%+v", p, want)
	}
	// db's host port is served only where its task runs.
	if p := c.plan("n2"); len(p.Host) != 1 || !reflect.DeepEqual(p.Host[0], HostPort{Port: 5432, Proto: l4.TCP, Service: "db",
		Backends: aps("10.1.0.22:5432")}) {
		t.Fatalf("n2's host ports: %+v", p.Host)
	}

	// A task out of service leaves at once.
	c.status(t, "w2", state.EndpointStatus{Running: true, Health: state.HealthUnhealthy, Service: "web"})
	if got := c.plan("n1").Mesh[0].Backends; !reflect.DeepEqual(got, aps("10.1.0.11:8080")) {
		t.Fatalf("backends with w2 unhealthy: %v", got)
	}
	// So do the tasks of a node that is down.
	c.apply(t, state.SetNodeStatus{ID: "n1", Status: state.StatusDown, At: t0})
	if got := c.plan("n2").Mesh[0].Backends; len(got) != 0 {
		t.Fatalf("backends with n1 down and w2 unhealthy: %v", got)
	}
}

func TestComputeHTTP(t *testing.T) {
	c := newCluster(t)
	c.service(t, "api", map[string]string{state.LabelHTTPHost: "app.example.com", state.LabelHTTPPolicy: "least_conn"},
		state.PortConfig{Target: 8080, Published: 8081, Mode: state.PublishHTTP})
	c.service(t, "blog", map[string]string{state.LabelHTTPPath: "/blog"},
		state.PortConfig{Target: 8080, Published: 8081, Mode: state.PublishHTTP})
	c.service(t, "site", map[string]string{state.LabelHTTPPort: "3000"})
	c.task(t, "a1", "api", "n1", "10.1.0.11")
	c.task(t, "a2", "api", "n2", "10.1.0.12")
	c.task(t, "b2", "blog", "n2", "10.1.0.13")

	p := c.plan("n2")
	if len(p.Mesh) != 0 || len(p.Host) != 0 || !reflect.DeepEqual(p.Networks, []Network{appnet}) {
		t.Fatalf("plan %+v", p)
	}
	cfgs, problems := p.HTTPConfigs()
	if len(problems) != 0 {
		t.Fatalf("problems %v", problems)
	}
	want := map[uint16]l7.Config{
		8081: {
			Routes: []l7.Route{{Host: "app.example.com", Path: "/", Upstream: "api"}, {Path: "/blog", Upstream: "blog"}},
			Upstreams: []l7.Upstream{
				{Name: "api", Policy: upstream.LeastConn, Servers: []upstream.Server{{Addr: "10.1.0.11:8080"}, {Addr: "10.1.0.12:8080"}}},
				{Name: "blog", Servers: []upstream.Server{{Addr: "10.1.0.13:8080"}}},
			},
		},
		state.DefaultHTTPPort: {
			Routes:    []l7.Route{{Path: "/", Upstream: "site"}},
			Upstreams: []l7.Upstream{{Name: "site"}},
		},
	}
	if !reflect.DeepEqual(cfgs, want) {
		t.Fatalf("configs\n%+v\nwant\n%+v", cfgs, want)
	}
}

// A service the proxy cannot take is left out, the others are served.
func TestHTTPConfigsLeaveOutBadServices(t *testing.T) {
	p := Plan{HTTP: map[uint16][]HTTPService{80: {
		{Service: "a", Route: state.HTTPRoute{Port: 80, Target: 1, Path: "/"}},
		{Service: "b", Route: state.HTTPRoute{Port: 80, Target: 1, Path: "/"}},                 // same routes as a
		{Service: "c", Route: state.HTTPRoute{Port: 80, Target: 1, Path: "/", Policy: "hash"}}, // no key
		{Service: "d", Route: state.HTTPRoute{Port: 80, Target: 1, Path: "/d"}},
	}}}
	cfgs, problems := p.HTTPConfigs()
	if len(cfgs[80].Upstreams) != 2 || cfgs[80].Upstreams[0].Name != "a" || cfgs[80].Upstreams[1].Name != "d" {
		t.Fatalf("served %+v", cfgs[80])
	}
	if len(problems) != 2 || !strings.Contains(problems[0], "service b is not served") || !strings.Contains(problems[1], "service c") {
		t.Fatalf("problems %q", problems)
	}
}

func TestNamespaceStates(t *testing.T) {
	p := Plan{
		Networks: []Network{appnet, {ID: "net2", EngineID: "e2", Subnet: netip.MustParsePrefix("10.2.0.0/24")}},
		Mesh: []MeshPort{
			{Port: 80, Proto: l4.TCP, Network: "net", Backends: aps("10.1.0.11:8080")},
			{Port: 81, Proto: l4.TCP, Network: "net2", Backends: aps("10.2.0.11:8080")},
		},
		Host: []HostPort{{Port: 5432, Proto: l4.TCP, Backends: aps("10.1.0.22:5432")}},
	}
	// The container is not on net2 yet: its port waits in the host.
	sb := Sandbox{ID: "c", NS: "/ns", Addrs: map[string]netip.Addr{"net": netip.MustParseAddr("10.1.0.200")}}
	host := p.HostState(sb)
	want := l4.Desired{Published: []l4.Published{
		{Port: 80, Proto: l4.TCP, Backends: aps("10.1.0.200:80")},
		{Port: 5432, Proto: l4.TCP, Backends: aps("10.1.0.22:5432")},
	}}
	if !reflect.DeepEqual(host, want) {
		t.Fatalf("host state %+v", host)
	}
	in := p.IngressState(sb)
	wantIn := l4.Desired{
		Published: []l4.Published{
			{Port: 80, Proto: l4.TCP, Backends: aps("10.1.0.11:8080")},
			{Port: 81, Proto: l4.TCP, Backends: aps("10.2.0.11:8080")},
		},
		MeshSource: []l4.SNAT{{Prefix: netip.MustParsePrefix("10.1.0.0/24"), Source: netip.MustParseAddr("10.1.0.200")}},
	}
	if !reflect.DeepEqual(in, wantIn) {
		t.Fatalf("ingress state %+v", in)
	}
	for _, d := range []l4.Desired{host, in} {
		if _, err := d.Frontends(); err != nil {
			t.Fatalf("not a valid state: %v", err)
		}
	}
}
