package netdriver

import (
	"fmt"
	"strings"
	"testing"

	"github.com/docker/go-plugins-helpers/ipam"
	"github.com/docker/go-plugins-helpers/network"
)

// engine replays the calls dockerd makes, in its order.
type engine struct {
	t *testing.T
	d *Driver
}

type netReq struct {
	subnet, rng, gateway string
	aux                  map[string]string
	opts                 map[string]any
	space                string
}

// create mimics `docker network create`, including the clean-up dockerd
// does when a step fails.
func (e engine) create(engineID string, r netReq) (poolID string, err error) {
	a, w := e.d.IPAM(), e.d.Network()
	pool, err := a.RequestPool(&ipam.RequestPoolRequest{AddressSpace: AddressSpace, Pool: r.subnet, SubPool: r.rng})
	if err != nil {
		return "", err
	}
	gw, err := a.RequestAddress(&ipam.RequestAddressRequest{PoolID: pool.PoolID, Address: r.gateway,
		Options: map[string]string{"RequestAddressType": gatewayRequest}})
	if err != nil {
		_ = a.ReleasePool(&ipam.ReleasePoolRequest{PoolID: pool.PoolID})
		return "", err
	}
	release := func() {
		for _, ip := range r.aux {
			_ = a.ReleaseAddress(&ipam.ReleaseAddressRequest{PoolID: pool.PoolID, Address: ip})
		}
		_ = a.ReleaseAddress(&ipam.ReleaseAddressRequest{PoolID: pool.PoolID, Address: strings.Split(gw.Address, "/")[0]})
		_ = a.ReleasePool(&ipam.ReleasePoolRequest{PoolID: pool.PoolID})
	}
	aux := map[string]any{}
	for k, ip := range r.aux {
		if _, err := a.RequestAddress(&ipam.RequestAddressRequest{PoolID: pool.PoolID, Address: ip}); err != nil {
			release()
			return "", err
		}
		aux[k] = ip
	}
	space := r.space
	if space == "" {
		space = AddressSpace
	}
	err = w.CreateNetwork(&network.CreateNetworkRequest{
		NetworkID: engineID,
		Options:   map[string]any{"com.docker.network.generic": r.opts},
		IPv4Data:  []*network.IPAMData{{AddressSpace: space, Pool: pool.Pool, Gateway: gw.Address, AuxAddresses: aux}},
	})
	if err != nil {
		release()
		return "", err
	}
	return pool.PoolID, nil
}

// run mimics starting a container: address, endpoint, join.
func (e engine) run(poolID, engineNet, epID, ip string) (string, error) {
	a, w := e.d.IPAM(), e.d.Network()
	addr, err := a.RequestAddress(&ipam.RequestAddressRequest{PoolID: poolID, Address: ip})
	if err != nil {
		return "", err
	}
	if _, err := w.CreateEndpoint(&network.CreateEndpointRequest{NetworkID: engineNet, EndpointID: epID,
		Interface: &network.EndpointInterface{Address: addr.Address}}); err != nil {
		_ = a.ReleaseAddress(&ipam.ReleaseAddressRequest{PoolID: poolID, Address: strings.Split(addr.Address, "/")[0]})
		return "", err
	}
	if _, err := w.Join(&network.JoinRequest{NetworkID: engineNet, EndpointID: epID}); err != nil {
		return "", err
	}
	return strings.Split(addr.Address, "/")[0], nil
}

// stop mimics a container going away.
func (e engine) stop(poolID, engineNet, epID, ip string) {
	e.t.Helper()
	a, w := e.d.IPAM(), e.d.Network()
	for _, err := range []error{
		w.Leave(&network.LeaveRequest{NetworkID: engineNet, EndpointID: epID}),
		w.DeleteEndpoint(&network.DeleteEndpointRequest{NetworkID: engineNet, EndpointID: epID}),
		a.ReleaseAddress(&ipam.ReleaseAddressRequest{PoolID: poolID, Address: ip}),
	} {
		if err != nil {
			e.t.Fatal(err)
		}
	}
}

func TestLifecycle(t *testing.T) {
	d, c, k := newTestDriver(t)
	e := engine{t, d}
	pool, err := e.create("eng1", netReq{subnet: "10.1.0.0/24", opts: map[string]any{OptVNI: "5000"}})
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := k.bridges["xob-5000"]; !ok || b.Gateway.String() != "10.1.0.1/24" || b.MTU != 1450 || b.Port != 4789 {
		t.Fatalf("bridge = %+v", k.bridges)
	}
	ip1, err := e.run(pool, "eng1", "ep1aaaaaaaaaaaa", "")
	if err != nil {
		t.Fatal(err)
	}
	ip2, err := e.run(pool, "eng1", "ep2aaaaaaaaaaaa", "")
	if err != nil {
		t.Fatal(err)
	}
	if ip1 != "10.1.0.2" || ip2 != "10.1.0.3" {
		t.Fatalf("addresses %s %s", ip1, ip2)
	}
	if v, ok := k.veths["xohep1aaaaaaa"]; !ok || v.Bridge != "xob-5000" || v.MAC.String() != "02:42:0a:01:00:02" {
		t.Fatalf("veths = %+v", k.veths)
	}
	e.stop(pool, "eng1", "ep1aaaaaaaaaaaa", ip1)
	if _, ok := k.veths["xohep1aaaaaaa"]; ok {
		t.Fatal("veth left after stop")
	}
	// A released address is not handed out again at once.
	ip3, _ := e.run(pool, "eng1", "ep3aaaaaaaaaaaa", "")
	if ip3 == ip1 {
		t.Fatalf("released %s reused at once", ip1)
	}
	e.stop(pool, "eng1", "ep2aaaaaaaaaaaa", ip2)
	e.stop(pool, "eng1", "ep3aaaaaaaaaaaa", ip3)
	w, a := d.Network(), d.IPAM()
	if err := w.DeleteNetwork(&network.DeleteNetworkRequest{NetworkID: "eng1"}); err != nil {
		t.Fatal(err)
	}
	_ = a.ReleaseAddress(&ipam.ReleaseAddressRequest{PoolID: pool, Address: "10.1.0.1"})
	if err := a.ReleasePool(&ipam.ReleasePoolRequest{PoolID: pool}); err != nil {
		t.Fatal(err)
	}
	_, nets, eps := c.Counts()
	if nets != 0 || eps != 0 || len(k.bridges) != 0 || len(k.veths) != 0 {
		t.Fatalf("left behind: %d networks %d endpoints %v %v", nets, eps, k.bridges, k.veths)
	}
}

func TestBadNetworkInputLeavesNothing(t *testing.T) {
	cases := []struct {
		name string
		req  netReq
		want string
	}{
		{"unknown option", netReq{subnet: "10.5.0.0/24", opts: map[string]any{"foo": "bar"}}, `unknown option "foo"`},
		{"bad vni", netReq{subnet: "10.5.0.0/24", opts: map[string]any{OptVNI: "zero"}}, "want a VNI"},
		{"mtu too big", netReq{subnet: "10.5.0.0/24", opts: map[string]any{OptMTU: "1500"}}, "want an MTU"},
		{"overlap", netReq{subnet: "10.1.0.128/25"}, "overlaps subnet 10.1.0.0/24 of network"},
		{"gateway outside", netReq{subnet: "10.5.0.0/24", gateway: "10.6.0.1"}, "outside subnet"},
		{"default ipam", netReq{subnet: "10.5.0.0/24", space: "LocalDefault"}, "--ipam-driver xoverlay"},
		{"aux is gateway", netReq{subnet: "10.5.0.0/24", aux: map[string]string{"a": "10.5.0.1"}}, "gateway"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, cl, k := newTestDriver(t)
			e := engine{t, d}
			if _, err := e.create("first", netReq{subnet: "10.1.0.0/24"}); err != nil {
				t.Fatal(err)
			}
			_, err := e.create("bad", c.req)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
			if _, nets, _ := cl.Counts(); nets != 1 || len(k.bridges) != 1 {
				t.Fatalf("left behind: %d networks, bridges %v", nets, k.bridges)
			}
		})
	}
}

func TestKernelFailureUndoesRecord(t *testing.T) {
	d, cl, k := newTestDriver(t)
	k.failOn = "bridge"
	if _, err := (engine{t, d}).create("x", netReq{subnet: "10.5.0.0/24"}); err == nil {
		t.Fatal("create succeeded with a failing kernel")
	}
	if _, nets, _ := cl.Counts(); nets != 0 {
		t.Fatalf("%d network records left", nets)
	}
}

func TestExhaustionAndReuse(t *testing.T) {
	d, _, _ := newTestDriver(t)
	e := engine{t, d}
	pool, err := e.create("eng", netReq{subnet: "10.7.0.0/29"}) // 6 usable, 1 gateway
	if err != nil {
		t.Fatal(err)
	}
	var ips []string
	for i := range 5 {
		ip, err := e.run(pool, "eng", fmt.Sprintf("ep%013d", i), "")
		if err != nil {
			t.Fatalf("address %d: %v", i, err)
		}
		ips = append(ips, ip)
	}
	_, err = e.run(pool, "eng", "epfull00000000", "")
	if err == nil || !strings.Contains(err.Error(), "no free address") {
		t.Fatalf("exhausted pool: %v", err)
	}
	e.stop(pool, "eng", fmt.Sprintf("ep%013d", 2), ips[2])
	ip, err := e.run(pool, "eng", "epagain0000000", "")
	if err != nil || ip != ips[2] {
		t.Fatalf("reuse after release: %s %v", ip, err)
	}
}

func TestRequestedAddress(t *testing.T) {
	d, _, _ := newTestDriver(t)
	e := engine{t, d}
	pool, _ := e.create("eng", netReq{subnet: "10.8.0.0/24", rng: "10.8.0.128/25", aux: map[string]string{"r": "10.8.0.200"}})
	if ip, err := e.run(pool, "eng", "epfixed0000000", "10.8.0.10"); err != nil || ip != "10.8.0.10" {
		t.Fatalf("--ip outside ip-range but in subnet: %s %v", ip, err)
	}
	for _, bad := range []string{"10.8.0.10", "10.8.0.200", "10.8.0.1", "10.9.0.5"} {
		if _, err := e.run(pool, "eng", "epbad000000000", bad); err == nil {
			t.Errorf("--ip %s accepted", bad)
		}
	}
	ip, err := e.run(pool, "eng", "epdyn000000000", "")
	if err != nil || ip != "10.8.0.128" {
		t.Fatalf("dynamic address from ip-range: %s %v", ip, err)
	}
}

func TestOneRaftWritePerContainer(t *testing.T) {
	d, c, _ := newTestDriver(t)
	e := engine{t, d}
	pool, _ := e.create("eng", netReq{subnet: "10.9.0.0/24"})
	if _, err := e.run(pool, "eng", "epwarm00000000", ""); err != nil { // claims the first block
		t.Fatal(err)
	}
	before := len(c.Writes())
	if _, err := e.run(pool, "eng", "epnext00000000", ""); err != nil {
		t.Fatal(err)
	}
	if got := len(c.Writes()) - before; got != 1 {
		t.Fatalf("container start took %d cluster writes, want 1 (the endpoint)", got)
	}
}

func TestReconcile(t *testing.T) {
	d, _, k := newTestDriver(t)
	e := engine{t, d}
	pool, _ := e.create("eng", netReq{subnet: "10.1.0.0/24"})
	if _, err := e.run(pool, "eng", "eplive00000000", ""); err != nil {
		t.Fatal(err)
	}
	// As after a reboot: the kernel lost the bridge; orphans appeared.
	delete(k.bridges, "xob-4096")
	k.bridges["xob-7777"] = BridgeSpec{Bridge: "xob-7777", VXLAN: "xov-7777"}
	k.veths["xohdeadbeef00"] = VethSpec{Host: "xohdeadbeef00"}
	if err := d.Reconcile(); err != nil {
		t.Fatal(err)
	}
	if _, ok := k.bridges["xob-4096"]; !ok {
		t.Fatal("bridge not re-created")
	}
	if _, ok := k.bridges["xob-7777"]; ok {
		t.Fatal("orphan bridge kept")
	}
	if _, ok := k.veths["xohdeadbeef00"]; ok {
		t.Fatal("orphan veth kept")
	}
	if _, ok := k.veths["xoheplive0000"]; !ok {
		t.Fatal("live endpoint's veth removed")
	}
}
