package vip

import (
	"log/slog"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func compute(c *cluster) Table {
	var t Table
	c.View(func(tx state.ReadTx) { t = Compute(tx) })
	return t
}

func TestComputeBackends(t *testing.T) {
	c := newCluster(t)
	c.network(t, "net2", "backnet", "10.2.0.0/24")
	web := c.service(t, "s1", "web", "appnet", "backnet")
	api := c.service(t, "s2", "api", "appnet")
	up := state.EndpointStatus{Running: true, Service: "web"}
	c.endpoint(t, "w1", "net", "n1", "10.1.0.11", up)
	c.endpoint(t, "w2", "net", "n2", "10.1.0.12", up)
	c.endpoint(t, "w1b", "net2", "n1", "10.2.0.11", up)
	c.endpoint(t, "stopped", "net", "n1", "10.1.0.13", state.EndpointStatus{Service: "web"})
	c.endpoint(t, "starting", "net", "n1", "10.1.0.14", state.EndpointStatus{Running: true, Health: state.HealthStarting, Service: "web"})
	c.endpoint(t, "healthy", "net", "n1", "10.1.0.15", state.EndpointStatus{Running: true, Health: state.HealthHealthy, Service: "web"})
	c.endpoint(t, "client", "net", "n1", "10.1.0.16", state.EndpointStatus{Running: true})
	tbl := compute(c)
	want := Table{
		"net": {
			{VIP: netip.MustParseAddr(api.VIPs["net"]), Backends: nil},
			{VIP: netip.MustParseAddr(web.VIPs["net"]), Backends: addrs("10.1.0.11", "10.1.0.12", "10.1.0.15")},
		},
		"net2": {{VIP: netip.MustParseAddr(web.VIPs["net2"]), Backends: addrs("10.2.0.11")}},
	}
	if !reflect.DeepEqual(tbl, want) {
		t.Fatalf("table\n%+v\nwant\n%+v", tbl, want)
	}

	// h2 goes down: its endpoints leave, as they leave DNS.
	c.apply(t, state.SetNodeStatus{ID: "n2", Status: state.StatusDown, At: t0})
	if got := services(l4.Desired{Services: compute(c)["net"]})[web.VIPs["net"]]; !reflect.DeepEqual(got, addrs("10.1.0.11", "10.1.0.15")) {
		t.Fatalf("web backends with h2 down: %v", got)
	}
	if ch := compute(c).Changed(tbl); !reflect.DeepEqual(ch, map[string]bool{"net": true}) {
		t.Fatalf("changed networks %v, want net only", ch)
	}
	if ch := compute(c).Changed(compute(c)); len(ch) != 0 {
		t.Fatalf("a recompute of the same state changed %v", ch)
	}
}

// A task the orchestrator no longer wants running gets no new connection,
// even while its container still runs (stopping, grace period).
func TestComputeDrainsTasksNotMeantToRun(t *testing.T) {
	c := newCluster(t)
	web := c.service(t, "s1", "web", "appnet")
	c.apply(t, state.CreateTasks{Tasks: []state.Task{
		{ID: "t1", ServiceID: "s1", Slot: 1, CreatedAt: t0},
		{ID: "t2", ServiceID: "s1", Slot: 2, CreatedAt: t0},
	}})
	c.endpoint(t, "e1", "net", "n1", "10.1.0.11", state.EndpointStatus{Running: true, Service: "web", Task: "t1"})
	c.endpoint(t, "e2", "net", "n1", "10.1.0.12", state.EndpointStatus{Running: true, Service: "web", Task: "t2"})
	c.endpoint(t, "e3", "net", "n1", "10.1.0.13", state.EndpointStatus{Running: true, Service: "web", Task: "gone"})
	vip := web.VIPs["net"]
	if got := services(l4.Desired{Services: compute(c)["net"]})[vip]; len(got) != 3 {
		t.Fatalf("backends %v, want 3", got)
	}
	c.apply(t, state.UpdateTasks{Updates: []state.TaskUpdate{{ID: "t2", DesiredState: state.TaskShutdown}}})
	if got := services(l4.Desired{Services: compute(c)["net"]})[vip]; !reflect.DeepEqual(got, addrs("10.1.0.11", "10.1.0.13")) {
		t.Fatalf("backends after t2's shutdown was decided: %v", got)
	}
}

func TestComputeSkipsDNSRRAndKeepsKnownPorts(t *testing.T) {
	c := newCluster(t)
	spec := state.ServiceSpec{Name: "web", Image: "x", Networks: []state.NetworkAttachment{{Target: "appnet"}},
		Ports: []state.PortConfig{{Target: 8080, Published: 80}, {Target: 53, Published: 5353, Protocol: "udp"}, {Target: 8080, Published: 81}}}
	c.apply(t, state.CreateService{Service: state.Service{ID: "s1", Spec: spec}})
	rr := spec
	rr.Name, rr.EndpointMode, rr.Ports = "rr", state.EndpointDNSRR, nil
	c.apply(t, state.CreateService{Service: state.Service{ID: "s2", Spec: rr}})
	tbl := compute(c)
	if len(tbl["net"]) != 1 {
		t.Fatalf("table %+v, want web only", tbl)
	}
	want := []l4.PortProto{{Port: 8080, Proto: l4.TCP}, {Port: 53, Proto: l4.UDP}}
	if got := tbl["net"][0].KnownPorts; !reflect.DeepEqual(got, want) {
		t.Fatalf("known ports %v, want %v", got, want)
	}
	d := tbl.Desired([]string{"net", "nosuch"})
	if len(d.Services) != 1 || len(d.Published) != 0 {
		t.Fatalf("desired %+v", d)
	}
	if _, err := d.Frontends(); err != nil {
		t.Fatalf("the table is not a valid desired state: %v", err)
	}
}
