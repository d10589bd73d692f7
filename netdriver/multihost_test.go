package netdriver

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/docker/go-plugins-helpers/ipam"
	"github.com/docker/go-plugins-helpers/network"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

var _ Peers = (*fakeKernel)(nil)

// createCopy mimics what the agent's Docker call makes the engine of e's
// host do to create its copy of network id: the same requests as
// `docker network create`, with the pool asked for by network ID, the
// gateway and aux addresses given, and the VNI as a driver option.
func (e engine) createCopy(engineID, id string) error {
	var n state.Network
	e.d.cluster.View(func(tx state.ReadTx) { n = *tx.Network(id) })
	a, w := e.d.IPAM(), e.d.Network()
	pool, err := a.RequestPool(&ipam.RequestPoolRequest{AddressSpace: AddressSpace, Pool: n.Subnet, SubPool: n.IPRange,
		Options: map[string]string{IPAMOptNetwork: id}})
	if err != nil {
		return err
	}
	bits := strconv.Itoa(netip.MustParsePrefix(pool.Pool).Bits())
	gw, err := a.RequestAddress(&ipam.RequestAddressRequest{PoolID: pool.PoolID, Address: n.Gateway,
		Options: map[string]string{"RequestAddressType": gatewayRequest}})
	if err != nil {
		return err
	}
	aux := map[string]any{}
	for name, ip := range n.Aux {
		r, err := a.RequestAddress(&ipam.RequestAddressRequest{PoolID: pool.PoolID, Address: ip})
		if err != nil {
			return err
		}
		aux[name] = r.Address
	}
	opts := map[string]any{OptVNI: strconv.FormatUint(uint64(n.VNI), 10)}
	for k, v := range n.Options {
		opts[k] = v
	}
	err = w.CreateNetwork(&network.CreateNetworkRequest{
		NetworkID: engineID,
		Options:   map[string]any{"com.docker.network.generic": opts},
		IPv4Data:  []*network.IPAMData{{AddressSpace: AddressSpace, Pool: pool.Pool, Gateway: gw.Address, AuxAddresses: aux}},
	})
	if err != nil {
		// dockerd's clean-up after a failed create.
		for _, ip := range n.Aux {
			_ = a.ReleaseAddress(&ipam.ReleaseAddressRequest{PoolID: pool.PoolID, Address: ip})
		}
		_ = a.ReleaseAddress(&ipam.ReleaseAddressRequest{PoolID: pool.PoolID, Address: strings.TrimSuffix(gw.Address, "/"+bits)})
		_ = a.ReleasePool(&ipam.ReleasePoolRequest{PoolID: pool.PoolID})
	}
	return err
}

// remove mimics `docker network rm` (or the agent's NetworkRemove): the
// driver's DeleteNetwork, then the release of gateway, aux addresses and pool.
func (e engine) remove(engineID, poolID string, n state.Network) error {
	a, w := e.d.IPAM(), e.d.Network()
	if err := w.DeleteNetwork(&network.DeleteNetworkRequest{NetworkID: engineID}); err != nil {
		return err
	}
	for _, ip := range append(slices.Collect(maps.Values(n.Aux)), n.Gateway) {
		if err := a.ReleaseAddress(&ipam.ReleaseAddressRequest{PoolID: poolID, Address: ip}); err != nil {
			return err
		}
	}
	return a.ReleasePool(&ipam.ReleasePoolRequest{PoolID: poolID})
}

func (c *localCluster) network(t *testing.T, id string) state.Network {
	t.Helper()
	n, ok := c.NetworkCopy(id)
	if !ok {
		t.Fatalf("network %s not in state", id)
	}
	return *n
}

func TestCopyOnSecondHost(t *testing.T) {
	d1, c, k1 := newTestDriver(t)
	d2, k2 := addHost(t, c, "n2", "h2", "")
	e1, e2 := engine{t, d1}, engine{t, d2}
	id, err := e1.create("eng1", netReq{subnet: "10.1.0.0/24", rng: "10.1.0.128/25", gateway: "10.1.0.254",
		aux: map[string]string{"router": "10.1.0.250"}, opts: map[string]any{OptMTU: "1400"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Propose(context.Background(), state.RenameNetwork{NetworkID: id, Name: "appnet"}); err != nil {
		t.Fatal(err)
	}
	n := c.network(t, id)
	if n.Aux["router"] != "10.1.0.250" {
		t.Fatalf("aux addresses not recorded: %v", n.Aux)
	}
	_, nets, _ := c.Counts()
	writes := len(c.Writes())
	if err := e2.createCopy("eng2", id); err != nil {
		t.Fatal(err)
	}
	if got := len(c.Writes()) - writes; got != 1 {
		t.Errorf("creating a copy took %d cluster writes, want 1 (AttachEngine)", got)
	}
	if _, after, _ := c.Counts(); after != nets {
		t.Errorf("creating a copy made %d networks", after-nets)
	}
	n2 := c.network(t, id)
	if !maps.Equal(n2.Engines, map[string]string{"n1": "eng1", "n2": "eng2"}) || n2.VNI != n.VNI || n2.MTU != 1400 {
		t.Fatalf("after copy: engines %v vni %d mtu %d", n2.Engines, n2.VNI, n2.MTU)
	}
	b1, b2 := k1.bridges[BridgeName(n.VNI)], k2.bridges[BridgeName(n.VNI)]
	if b2.VNI != b1.VNI || b2.Gateway.String() != "10.1.0.254/24" || b2.MTU != 1400 {
		t.Fatalf("bridge on h2 %+v, on h1 %+v", b2, b1)
	}
	// Both hosts allocate from their own blocks; the aux address is never handed out.
	ip1, err := e1.run(id, "eng1", "ep1aaaaaaaaaaaa", "")
	if err != nil {
		t.Fatal(err)
	}
	ip2, err := e2.run(id, "eng2", "ep2aaaaaaaaaaaa", "")
	if err != nil || ip1 == ip2 {
		t.Fatalf("addresses %s %s %v", ip1, ip2, err)
	}
	if _, err := e2.run(id, "eng2", "epauxaaaaaaaaaa", "10.1.0.250"); err == nil {
		t.Error("container got the aux address")
	}
	if _, ok := c.network(t, id).Reserved["10.1.0.250"]; !ok {
		t.Error("aux reservation lost after a container asked for it")
	}
	// Creating the copy again on the same host fails without side effects.
	if err := e2.createCopy("eng2b", id); err == nil || !strings.Contains(err.Error(), "already belongs") {
		t.Errorf("second copy on one host: %v", err)
	}
	if got := c.network(t, id); !maps.Equal(got.Engines, n2.Engines) || got.Gateway != "10.1.0.254" {
		t.Errorf("failed copy changed the network: %+v", got)
	}
}

func TestGatewayRequestIsIdempotent(t *testing.T) {
	d, c, _ := newTestDriver(t)
	id, err := (engine{t, d}).create("eng", netReq{subnet: "10.3.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	// The FSM itself accepts the same gateway again ...
	if v, err := c.Propose(context.Background(), state.SetGateway{NetworkID: id, IP: "10.3.0.1"}); err != nil || v != "10.3.0.1" {
		t.Fatalf("SetGateway with the same IP: %v %v", v, err)
	}
	if _, err := c.Propose(context.Background(), state.SetGateway{NetworkID: id, IP: "10.3.0.2"}); err == nil {
		t.Fatal("SetGateway with another IP accepted")
	}
	// ... and the IPAM answers it without a write.
	writes := len(c.Writes())
	r, err := d.IPAM().RequestAddress(&ipam.RequestAddressRequest{PoolID: id, Address: "10.3.0.1",
		Options: map[string]string{"RequestAddressType": gatewayRequest}})
	if err != nil || r.Address != "10.3.0.1/24" || len(c.Writes()) != writes {
		t.Fatalf("gateway again: %+v %v (%d writes)", r, err, len(c.Writes())-writes)
	}
}

func TestAttachPoolRefusals(t *testing.T) {
	d1, c, _ := newTestDriver(t)
	d2, _ := addHost(t, c, "n2", "h2", "")
	id, err := (engine{t, d1}).create("eng1", netReq{subnet: "10.1.0.0/24", rng: "10.1.0.0/25"})
	if err != nil {
		t.Fatal(err)
	}
	pending, err := d1.IPAM().RequestPool(&ipam.RequestPoolRequest{AddressSpace: AddressSpace, Pool: "10.9.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	deleting, err := (engine{t, d1}).create("eng3", netReq{subnet: "10.2.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Propose(context.Background(), state.MarkNetworkDeleting{NetworkID: deleting}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		req  ipam.RequestPoolRequest
		want string
	}{
		{"unknown network", ipam.RequestPoolRequest{Pool: "10.1.0.0/24", Options: map[string]string{IPAMOptNetwork: "nope"}}, "not in the cluster state"},
		{"other subnet", ipam.RequestPoolRequest{Pool: "10.1.0.0/16", SubPool: "10.1.0.0/25", Options: map[string]string{IPAMOptNetwork: id}}, "has subnet 10.1.0.0/24"},
		{"other ip-range", ipam.RequestPoolRequest{Pool: "10.1.0.0/24", Options: map[string]string{IPAMOptNetwork: id}}, "has ip-range"},
		{"pending", ipam.RequestPoolRequest{Pool: "10.9.0.0/24", Options: map[string]string{IPAMOptNetwork: pending.PoolID}}, "not created on any host"},
		{"deleting", ipam.RequestPoolRequest{Pool: "10.2.0.0/24", Options: map[string]string{IPAMOptNetwork: deleting}}, "being removed"},
		{"other option", ipam.RequestPoolRequest{Pool: "10.1.0.0/24", SubPool: "10.1.0.0/25", Options: map[string]string{IPAMOptNetwork: id, "foo": "bar"}}, `unknown IPAM option "foo"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, nets, _ := c.Counts()
			writes := len(c.Writes())
			tc.req.AddressSpace = AddressSpace
			_, err := d2.IPAM().RequestPool(&tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if _, after, _ := c.Counts(); after != nets || len(c.Writes()) != writes {
				t.Fatalf("refused request wrote to the state")
			}
		})
	}
	r, err := d2.IPAM().RequestPool(&ipam.RequestPoolRequest{AddressSpace: AddressSpace, Pool: "10.1.0.0/24", SubPool: "10.1.0.0/25",
		Options: map[string]string{IPAMOptNetwork: id}})
	if err != nil || r.PoolID != id || r.Pool != "10.1.0.0/24" {
		t.Fatalf("attach: %+v %v", r, err)
	}
}

func TestDeleteAcrossHosts(t *testing.T) {
	d1, c, k1 := newTestDriver(t)
	d2, k2 := addHost(t, c, "n2", "h2", "")
	e1, e2 := engine{t, d1}, engine{t, d2}
	id, err := e1.create("eng1", netReq{subnet: "10.1.0.0/24", aux: map[string]string{"r": "10.1.0.200"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Propose(context.Background(), state.RenameNetwork{NetworkID: id, Name: "appnet"}); err != nil {
		t.Fatal(err)
	}
	if err := e2.createCopy("eng2", id); err != nil {
		t.Fatal(err)
	}
	n := c.network(t, id)
	ip2, err := e2.run(id, "eng2", "epweb000000000", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Propose(context.Background(), state.UpdateEndpoint{ID: "epweb000000000", ContainerID: "c1", Container: "web"}); err != nil {
		t.Fatal(err)
	}
	// A stale record of h1's own (the engine has no such container).
	if _, err := e1.run(id, "eng1", "epstale0000000", ""); err != nil {
		t.Fatal(err)
	}

	// The engine removes its copy even when the driver refuses: h1's copy
	// goes, the network stays, h1's agent creates the copy again.
	err = d1.Network().DeleteNetwork(&network.DeleteNetworkRequest{NetworkID: "eng1"})
	if err == nil || err.Error() != "xoverlay: network appnet still has endpoints on h2 (web); remove those containers first" {
		t.Fatalf("delete with a container on h2: %v", err)
	}
	got := c.network(t, id)
	if got.Deleting || !maps.Equal(got.Engines, map[string]string{"n2": "eng2"}) || len(k1.bridges) != 0 {
		t.Fatalf("refused delete: %+v bridges %v", got, k1.bridges)
	}
	if err := e1.createCopy("eng1b", id); err != nil {
		t.Fatalf("h1's copy again: %v", err)
	}
	var eps []string
	c.View(func(tx state.ReadTx) {
		for _, ep := range tx.Endpoints(id) {
			eps = append(eps, ep.ID)
		}
	})
	if !slices.Equal(eps, []string{"epweb000000000"}) {
		t.Fatalf("endpoints %v: the stale one should be gone, h2's kept", eps)
	}
	if _, ok := k1.veths["xohepstale00"]; ok {
		t.Error("stale endpoint's veth kept")
	}

	e2.stop(id, "eng2", "epweb000000000", ip2)
	if err := e1.remove("eng1b", id, n); err != nil {
		t.Fatal(err)
	}
	got = c.network(t, id)
	if !got.Deleting || !maps.Equal(got.Engines, map[string]string{"n2": "eng2"}) || len(k1.bridges) != 0 {
		t.Fatalf("after delete on h1: deleting %v engines %v bridges %v", got.Deleting, got.Engines, k1.bridges)
	}
	if _, ok := got.Reserved["10.1.0.200"]; ok {
		t.Error("h1's aux reservation kept after h1 left the network")
	}
	// No new copy while the network goes away.
	d3, _ := addHost(t, c, "n3", "h3", "")
	if err := (engine{t, d3}).createCopy("eng3", id); err == nil || !strings.Contains(err.Error(), "being removed") {
		t.Errorf("copy of a network being removed: %v", err)
	}
	// h2's agent removes its copy.
	if err := e2.remove("eng2", id, n); err != nil {
		t.Fatal(err)
	}
	if _, nets, eps := c.Counts(); nets != 0 || eps != 0 || len(k2.bridges) != 0 {
		t.Fatalf("left behind: %d networks, %d endpoints, bridges %v", nets, eps, k2.bridges)
	}
}

// TestDeleteStopsConcurrentCopy: the last engine removing the network
// marks it, so a copy being created meanwhile cannot keep it alive.
func TestDeleteStopsConcurrentCopy(t *testing.T) {
	d1, c, _ := newTestDriver(t)
	d2, k2 := addHost(t, c, "n2", "h2", "")
	e1 := engine{t, d1}
	id, err := e1.create("eng1", netReq{subnet: "10.1.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	n := c.network(t, id)
	// h2's engine got the pool and gateway, then h1 removes the network.
	a2 := d2.IPAM()
	if _, err := a2.RequestPool(&ipam.RequestPoolRequest{AddressSpace: AddressSpace, Pool: n.Subnet, Options: map[string]string{IPAMOptNetwork: id}}); err != nil {
		t.Fatal(err)
	}
	if err := d1.Network().DeleteNetwork(&network.DeleteNetworkRequest{NetworkID: "eng1"}); err != nil {
		t.Fatal(err)
	}
	err = d2.Network().CreateNetwork(&network.CreateNetworkRequest{NetworkID: "eng2",
		Options:  map[string]any{"com.docker.network.generic": map[string]any{OptVNI: strconv.FormatUint(uint64(n.VNI), 10)}},
		IPv4Data: []*network.IPAMData{{AddressSpace: AddressSpace, Pool: n.Subnet, Gateway: n.Gateway + "/24"}}})
	if err == nil || !strings.Contains(err.Error(), "being removed") {
		t.Fatalf("copy of a network removed meanwhile: %v", err)
	}
	if got := c.network(t, id); !got.Deleting || len(got.Engines) != 0 || len(k2.bridges) != 0 {
		t.Fatalf("network %+v, bridges on h2 %v", got, k2.bridges)
	}
	// dockerd's clean-up on h2, then h1's engine finishes: nothing is left.
	for _, a := range []IPAM{d2.IPAM(), d1.IPAM()} {
		if err := a.ReleasePool(&ipam.ReleasePoolRequest{PoolID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, nets, _ := c.Counts(); nets != 0 {
		t.Fatalf("%d networks left", nets)
	}
}
