package state

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"
)

// vipsOf returns a service's VIPs and, for each, who holds the address in
// its network's reservations.
func vipsOf(t *testing.T, s *Store, name string) map[string]string {
	t.Helper()
	var out map[string]string
	s.View(func(tx ReadTx) {
		svc := tx.ServiceByName(name)
		if svc == nil {
			t.Fatalf("no service %s", name)
		}
		out = maps.Clone(svc.VIPs)
		for netID, ip := range svc.VIPs {
			if r := tx.Network(netID).Reserved[ip]; r.Service != svc.ID || r.Node != "" {
				t.Fatalf("VIP %s of %s on %s is reserved as %+v", ip, name, netID, r)
			}
		}
	})
	return out
}

func reserved(s *Store, network, ip string) (Reservation, bool) {
	var r Reservation
	var ok bool
	s.View(func(tx ReadTx) { r, ok = tx.Network(network).Reserved[ip] })
	return r, ok
}

func spec(name string, networks ...string) ServiceSpec {
	sp := ServiceSpec{Name: name, Image: "xo-demo:v1", Replicas: 1}
	for _, n := range networks {
		sp.Networks = append(sp.Networks, NetworkAttachment{Target: n})
	}
	return sp
}

func TestVIPAllocation(t *testing.T) {
	s, f := newService(t, webSpec())
	// The highest address of the highest block no node claimed.
	if got := vipsOf(t, s, "web"); !reflect.DeepEqual(got, map[string]string{"net": "10.1.0.254"}) {
		t.Fatalf("web VIPs %v, want net -> 10.1.0.254", got)
	}
	mustApply(t, f, CreateService{Service: Service{ID: "s2", Spec: spec("api", "appnet")}})
	if got := vipsOf(t, s, "api")["net"]; got != "10.1.0.253" {
		t.Fatalf("api VIP %s, want 10.1.0.253", got)
	}
	dnsrr := spec("rr", "appnet")
	dnsrr.EndpointMode = EndpointDNSRR
	mustApply(t, f, CreateService{Service: Service{ID: "s3", Spec: dnsrr}})
	if got := vipsOf(t, s, "rr"); got != nil {
		t.Fatalf("dnsrr service got VIPs %v", got)
	}
	if got := vipsOf(t, s, "web"); got["net"] != "10.1.0.254" {
		t.Fatalf("a retried or later create moved web's VIP: %v", got)
	}
}

func TestVIPNeverCollides(t *testing.T) {
	s, f := newService(t, webSpec())
	ep := Endpoint{ID: "ep1", NetworkID: "net", Node: "n1", IP: "10.1.0.254"}
	if _, err := apply(t, f, CreateEndpoint{Endpoint: ep}); !errors.Is(err, ErrConflict) ||
		!strings.Contains(err.Error(), "address 10.1.0.254 is the virtual IP of service web on network appnet") {
		t.Fatalf("endpoint on the VIP: %v", err)
	}
	if _, err := apply(t, f, ReserveAddress{NetworkID: "net", IP: "10.1.0.254", Node: "n1"}); !errors.Is(err, ErrConflict) ||
		!strings.Contains(err.Error(), "virtual IP of service web") {
		t.Fatalf("--ip on the VIP: %v", err)
	}
	// A node's IPAM releasing an address it never held keeps the VIP.
	mustApply(t, f, ReleaseAddress{NetworkID: "net", IP: "10.1.0.254", Node: "n1"})
	if _, ok := reserved(s, "net", "10.1.0.254"); !ok {
		t.Fatal("ReleaseAddress by a node dropped a VIP")
	}
	// Addresses in use are skipped: an endpoint and a --ip reservation
	// at the top of the range.
	mustApply(t, f, CreateEndpoint{Endpoint: Endpoint{ID: "ep2", NetworkID: "net", Node: "n1", IP: "10.1.0.253"}})
	mustApply(t, f, ReserveAddress{NetworkID: "net", IP: "10.1.0.252", Node: "n1"})
	mustApply(t, f, CreateService{Service: Service{ID: "s2", Spec: spec("api", "appnet")}})
	if got := vipsOf(t, s, "api")["net"]; got != "10.1.0.251" {
		t.Fatalf("api VIP %s, want 10.1.0.251 (the free address below those in use)", got)
	}
}

func TestVIPAvoidsClaimedBlocks(t *testing.T) {
	s, f := newNet(t, "10.1.0.0/24", "")
	// n1 claims the last block first (as if the others were full).
	for range 16 {
		mustApply(t, f, ClaimBlock{NetworkID: "net", Node: "n1"})
	}
	mustApply(t, f, CreateEndpoint{Endpoint: Endpoint{ID: "ep", NetworkID: "net", Node: "n1", IP: "10.1.0.254"}})
	// Every block is claimed: the VIP comes from the top of the last one.
	mustApply(t, f, CreateService{Service: Service{ID: "s1", Spec: webSpec()}})
	if got := vipsOf(t, s, "web")["net"]; got != "10.1.0.253" {
		t.Fatalf("VIP %s, want 10.1.0.253", got)
	}

	s2, f2 := newNet(t, "10.1.0.0/24", "")
	mustApply(t, f2, ClaimBlock{NetworkID: "net", Node: "n1"}) // 10.1.0.0/28
	for i := range 15 {
		mustApply(t, f2, CreateService{Service: Service{ID: fmt.Sprintf("s%d", i), Spec: spec(fmt.Sprintf("svc%d", i), "appnet")}})
	}
	// 15 VIPs fit in the last block (10.1.0.240/28 without its broadcast).
	s2.View(func(tx ReadTx) {
		for ip, r := range tx.Network("net").Reserved {
			if r.Service != "" && !strings.HasPrefix(ip, "10.1.0.24") && !strings.HasPrefix(ip, "10.1.0.25") {
				t.Errorf("VIP %s left the last block", ip)
			}
		}
	})
	mustApply(t, f2, CreateService{Service: Service{ID: "s15", Spec: spec("svc15", "appnet")}})
	if got := vipsOf(t, s2, "svc15")["net"]; got != "10.1.0.239" {
		t.Fatalf("16th VIP %s, want 10.1.0.239 (top of the next unclaimed block)", got)
	}
}

func TestVIPExhaustedRefusesAndStoresNothing(t *testing.T) {
	s, f := newNet(t, "10.1.0.0/30", "") // .1 gateway, .2 the only address
	mustApply(t, f, CreateService{Service: Service{ID: "s1", Spec: webSpec()}})
	if got := vipsOf(t, s, "web")["net"]; got != "10.1.0.2" {
		t.Fatalf("VIP %s", got)
	}
	_, err := apply(t, f, CreateService{Service: Service{ID: "s2", Spec: spec("api", "appnet")}})
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "network appnet has no free address left in 10.1.0.0/30; "+
		"the virtual IP of service api needs one (or use --endpoint-mode dnsrr)") {
		t.Fatalf("create on a full network: %v", err)
	}
	var n int
	s.View(func(tx ReadTx) { n = len(tx.Services()) })
	if n != 1 {
		t.Fatalf("%d services after a refused create", n)
	}
	rr := spec("api", "appnet")
	rr.EndpointMode = EndpointDNSRR
	mustApply(t, f, CreateService{Service: Service{ID: "s2", Spec: rr}})
}

func TestVIPReleased(t *testing.T) {
	s, f := newService(t, webSpec())
	mustApply(t, f, CreateNetwork{ID: "net2", Subnet: "10.2.0.0/24"})
	mustApply(t, f, AttachEngine{NetworkID: "net2", Node: "n1", EngineID: "e2"})
	mustApply(t, f, RenameNetwork{NetworkID: "net2", Name: "backnet"})

	// Joins a second network: one more VIP, the first kept.
	both := webSpec()
	both.Networks = append(both.Networks, NetworkAttachment{Target: "backnet"})
	mustApply(t, f, UpdateService{ID: "s1", Spec: both})
	if got := vipsOf(t, s, "web"); !reflect.DeepEqual(got, map[string]string{"net": "10.1.0.254", "net2": "10.2.0.254"}) {
		t.Fatalf("VIPs after joining backnet: %v", got)
	}
	// Leaves the first: its VIP is released.
	only2 := webSpec()
	only2.Networks = []NetworkAttachment{{Target: "backnet"}}
	mustApply(t, f, UpdateService{ID: "s1", Spec: only2})
	if got := vipsOf(t, s, "web"); !reflect.DeepEqual(got, map[string]string{"net2": "10.2.0.254"}) {
		t.Fatalf("VIPs after leaving appnet: %v", got)
	}
	if _, ok := reserved(s, "net", "10.1.0.254"); ok {
		t.Fatal("the VIP on appnet is still reserved")
	}
	// dnsrr: none.
	rr := only2
	rr.EndpointMode = EndpointDNSRR
	mustApply(t, f, UpdateService{ID: "s1", Spec: rr})
	if got := vipsOf(t, s, "web"); got != nil {
		t.Fatalf("VIPs in dnsrr mode: %v", got)
	}
	mustApply(t, f, UpdateService{ID: "s1", Spec: only2})
	// Removed: released.
	mustApply(t, f, RemoveService{ID: "s1"})
	if _, ok := reserved(s, "net2", "10.2.0.254"); ok {
		t.Fatal("the VIP of a removed service is still reserved")
	}
	// The address is free for an endpoint again.
	mustApply(t, f, CreateEndpoint{Endpoint: Endpoint{ID: "ep", NetworkID: "net2", Node: "n1", IP: "10.2.0.254"}})

	// A network deleted under a service drops its VIP there.
	mustApply(t, f, CreateService{Service: Service{ID: "s2", Spec: spec("api", "appnet", "backnet")}})
	mustApply(t, f, DeleteEndpoint{ID: "ep"})
	mustApply(t, f, DetachEngine{NetworkID: "net2", Node: "n1"})
	mustApply(t, f, RemoveNetwork{NetworkID: "net2", Node: "n1"})
	if got := vipsOf(t, s, "api"); len(got) != 1 || got["net"] == "" {
		t.Fatalf("api VIPs after backnet was deleted: %v", got)
	}
}

func TestExternalServiceVIPsFollowMembers(t *testing.T) {
	s, f := newNet(t, "10.1.0.0/24", "")
	member := func(id, ip string) Endpoint {
		return Endpoint{ID: id, NetworkID: "net", Node: "n1", IP: ip}
	}
	mustApply(t, f, CreateEndpoint{Endpoint: member("ep1", "10.1.0.2")})
	mustApply(t, f, SetEndpointStatus{Endpoints: []EndpointUpdate{{ID: "ep1", ContainerID: "c1", Container: "ext1",
		Status: EndpointStatus{Running: true, Service: "ext"}}}})
	mustApply(t, f, CreateService{Service: Service{ID: "e1", Spec: ServiceSpec{Name: "ext"}, External: true}})
	if got := vipsOf(t, s, "ext"); got["net"] != "10.1.0.254" {
		t.Fatalf("external service VIPs %v, want one on its member's network", got)
	}
	// A second member; the first goes: the VIP stays while one is left.
	mustApply(t, f, CreateEndpoint{Endpoint: member("ep2", "10.1.0.3")})
	mustApply(t, f, SetEndpointStatus{Endpoints: []EndpointUpdate{{ID: "ep2", ContainerID: "c2", Container: "ext2",
		Status: EndpointStatus{Running: true, Service: "ext"}}}})
	mustApply(t, f, DeleteEndpoint{ID: "ep1"})
	if got := vipsOf(t, s, "ext"); got["net"] != "10.1.0.254" {
		t.Fatalf("VIPs with one member left: %v", got)
	}
	// Its label gone (the last member): released.
	mustApply(t, f, SetEndpointStatus{Endpoints: []EndpointUpdate{{ID: "ep2", ContainerID: "c2", Container: "ext2",
		Status: EndpointStatus{Running: true}}}})
	if got := vipsOf(t, s, "ext"); got != nil {
		t.Fatalf("VIPs without members: %v", got)
	}
	// A member returns: the VIP comes back, at the same address.
	mustApply(t, f, SetEndpointStatus{Endpoints: []EndpointUpdate{{ID: "ep2", ContainerID: "c2", Container: "ext2",
		Status: EndpointStatus{Running: true, Service: "ext"}}}})
	if got := vipsOf(t, s, "ext"); got["net"] != "10.1.0.254" {
		t.Fatalf("VIPs after a member returned: %v", got)
	}
	// A task's endpoint is not a hand-run member.
	mustApply(t, f, CreateService{Service: Service{ID: "e2", Spec: ServiceSpec{Name: "other"}, External: true}})
	mustApply(t, f, CreateEndpoint{Endpoint: member("ep3", "10.1.0.4")})
	mustApply(t, f, SetEndpointStatus{Endpoints: []EndpointUpdate{{ID: "ep3", Status: EndpointStatus{Service: "other", Task: "t1"}}}})
	if got := vipsOf(t, s, "other"); got != nil {
		t.Fatalf("a task endpoint gave an external service VIPs: %v", got)
	}
	// Adopted by xo service create: the VIP of its spec's network is kept.
	mustApply(t, f, CreateService{Service: Service{ID: "s9", Spec: spec("ext", "appnet")}})
	if got := vipsOf(t, s, "ext"); got["net"] != "10.1.0.254" {
		t.Fatalf("VIPs after adoption: %v", got)
	}
	// The member's node removed: a managed service keeps its VIP.
	mustApply(t, f, RemoveNode{ID: "n1"})
	if got := vipsOf(t, s, "ext"); got["net"] != "10.1.0.254" {
		t.Fatalf("VIPs of a managed service after its members went: %v", got)
	}
}

func TestVIPsDeterministicAndRestored(t *testing.T) {
	log := []Command{
		CreateService{Service: Service{ID: "s1", Spec: spec("a", "appnet")}},
		CreateService{Service: Service{ID: "s2", Spec: spec("b", "appnet")}},
		CreateEndpoint{Endpoint: Endpoint{ID: "ep", NetworkID: "net", Node: "n1", IP: "10.1.0.252"}},
		RemoveService{ID: "s1"},
		CreateService{Service: Service{ID: "s3", Spec: spec("c", "appnet")}},
		CreateService{Service: Service{ID: "s4", Spec: spec("d", "appnet")}},
	}
	run := func() (*Store, *FSM) {
		s, f := newNet(t, "10.1.0.0/24", "")
		for _, c := range log {
			mustApply(t, f, c)
		}
		return s, f
	}
	s1, f1 := run()
	s2, _ := run()
	if !reflect.DeepEqual(s1.data, s2.data) {
		t.Fatal("two replicas applying the same log differ")
	}
	want := map[string]string{"b": "10.1.0.253", "c": "10.1.0.254", "d": "10.1.0.251"}
	for name, ip := range want {
		if got := vipsOf(t, s1, name)["net"]; got != ip {
			t.Errorf("%s VIP %s, want %s", name, got, ip)
		}
	}
	r := restored(t, persist(t, f1))
	if !reflect.DeepEqual(s1.data, r.data) {
		t.Fatalf("restored state differs")
	}
	// Both go on allocating the same way.
	next := CreateService{Service: Service{ID: "s5", Spec: spec("e", "appnet")}}
	mustApply(t, f1, next)
	mustApply(t, NewFSM(r), next)
	if a, b := vipsOf(t, s1, "e"), vipsOf(t, r, "e"); !reflect.DeepEqual(a, b) || a["net"] != "10.1.0.250" {
		t.Fatalf("after restore: %v vs %v, want 10.1.0.250", a, b)
	}
	if _, err := apply(t, NewFSM(r), CreateEndpoint{Endpoint: Endpoint{ID: "x", NetworkID: "net", Node: "n1", IP: "10.1.0.253"}}); !errors.Is(err, ErrConflict) {
		t.Fatalf("endpoint on a restored VIP: %v", err)
	}
}

func TestReadTxInServiceNodeDown(t *testing.T) {
	s, f := newNet(t, "10.1.0.0/24", "")
	mustApply(t, f, RegisterNode{Node: Node{ID: "n2", Hostname: "h2", Role: "manager"}})
	ep := func(node string, st EndpointStatus) *Endpoint {
		return &Endpoint{Node: node, EndpointStatus: st}
	}
	mustApply(t, f, SetNodeStatus{ID: "n2", Status: StatusDown})
	s.View(func(tx ReadTx) {
		for _, c := range []struct {
			ep   *Endpoint
			want bool
		}{
			{ep("n1", EndpointStatus{Running: true}), true},
			{ep("n1", EndpointStatus{Running: true, Health: HealthHealthy}), true},
			{ep("n1", EndpointStatus{Running: true, Health: HealthStarting}), false},
			{ep("n1", EndpointStatus{Running: true, Health: HealthUnhealthy}), false},
			{ep("n1", EndpointStatus{}), false},
			{ep("n2", EndpointStatus{Running: true}), false}, // node down
			{ep("n9", EndpointStatus{Running: true}), true},  // node not known (yet)
		} {
			if got := tx.InService(c.ep); got != c.want {
				t.Errorf("InService(%+v on %s) = %v, want %v", c.ep.EndpointStatus, c.ep.Node, got, c.want)
			}
		}
	})
}
