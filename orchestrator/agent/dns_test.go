package agent

import (
	"context"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/dnsd"
	"github.com/xoverlay/xoverlay/orchestrator/state"
	"github.com/xoverlay/xoverlay/orchestrator/state/statetest"
)

func TestDNSSnapshot(t *testing.T) {
	cl := statetest.New()
	now := time.Now()
	running := state.EndpointStatus{Running: true}
	for _, c := range []state.Command{
		state.RegisterNode{Node: state.Node{ID: "n1", Hostname: "h1", Role: state.RoleManager}},
		state.RegisterNode{Node: state.Node{ID: "n2", Hostname: "h2", Role: state.RoleManager}},
		state.SetNodeStatus{ID: "n2", Status: state.StatusDown, At: now},
		state.CreateNetwork{ID: "net", Subnet: "10.1.0.0/24", CreatedAt: now},
		state.AttachEngine{NetworkID: "net", Node: "n1", EngineID: "e1"},
		state.AttachEngine{NetworkID: "net", Node: "n2", EngineID: "e2"},
		state.RenameNetwork{NetworkID: "net", Name: "appnet"},
		state.CreateEndpoint{Endpoint: state.Endpoint{ID: "a", NetworkID: "net", Node: "n1", IP: "10.1.0.2", ContainerID: "ca", Container: "web",
			EndpointStatus: state.EndpointStatus{Running: true, Aliases: []string{"www"}, Service: "front"}}},
		state.CreateEndpoint{Endpoint: state.Endpoint{ID: "b", NetworkID: "net", Node: "n2", IP: "10.1.0.3", ContainerID: "cb", Container: "db",
			EndpointStatus: running}},
		state.CreateEndpoint{Endpoint: state.Endpoint{ID: "c", NetworkID: "net", Node: "n1", IP: "10.1.0.4", ContainerID: "cc", Container: "sick",
			EndpointStatus: state.EndpointStatus{Running: true, Health: state.HealthUnhealthy}}},
		state.CreateEndpoint{Endpoint: state.Endpoint{ID: "d", NetworkID: "net", Node: "n1", IP: "10.1.0.5"}},
	} {
		if _, err := cl.Propose(context.Background(), c); err != nil {
			t.Fatalf("%T: %v", c, err)
		}
	}
	snap := dnsSnapshot(cl.Store)
	if want := []dnsd.Network{{ID: "net", Name: "appnet", Subnet: netip.MustParsePrefix("10.1.0.0/24")}}; !reflect.DeepEqual(snap.Networks, want) {
		t.Fatalf("networks %+v", snap.Networks)
	}
	got := map[string]dnsd.Endpoint{}
	for _, e := range snap.Endpoints {
		got[e.IP.String()] = e
	}
	web := got["10.1.0.2"]
	if !web.InService || !reflect.DeepEqual(web.Names, []string{"web", "www"}) || web.Service != "front" || web.Task != "web" {
		t.Errorf("web: %+v", web)
	}
	if got["10.1.0.3"].InService {
		t.Error("an endpoint on a node that is down is in service")
	}
	if got["10.1.0.4"].InService {
		t.Error("an unhealthy endpoint is in service")
	}
	if e := got["10.1.0.5"]; e.InService || e.Names != nil {
		t.Errorf("an endpoint whose container is not known yet: %+v", e)
	}
}

func TestDNSService(t *testing.T) {
	svc := &state.Service{Name: "web", VIPs: map[string]string{"net": "10.1.0.200", "bad": "x"}}
	got := dnsService(svc)
	want := dnsd.Service{Name: "web", Mode: dnsd.ModeVIP, VIPs: map[string]netip.Addr{"net": netip.MustParseAddr("10.1.0.200")}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("vip service: %+v", got)
	}
	svc = &state.Service{Name: "db", Spec: state.ServiceSpec{EndpointMode: state.EndpointDNSRR}}
	if got := dnsService(svc); got.Mode != dnsd.ModeDNSRR || got.VIPs != nil {
		t.Fatalf("dnsrr service: %+v", got)
	}
}

func TestDNSAddress(t *testing.T) {
	cases := map[string]string{"169.254.53.53:53": "169.254.53.53", "127.0.0.1:5353": "127.0.0.1:5353", "": ""}
	for addr, want := range cases {
		c := Config{DNS: dnsd.Config{Addr: addr}}
		if got := c.DNSAddress(); got != want {
			t.Errorf("DNSAddress(%q) = %q, want %q", addr, got, want)
		}
	}
	if DataPlane(state.Capabilities{IPVS: true, NFTables: true}) != DataPlaneIPVS ||
		DataPlane(state.Capabilities{NFTables: true}) != DataPlaneNFTables || DataPlane(state.Capabilities{}) != DataPlaneUserspace {
		t.Error("data plane choice")
	}
}
