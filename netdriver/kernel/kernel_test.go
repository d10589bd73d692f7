//go:build linux

package kernel

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/xoverlay/xoverlay/netdriver"
)

const testVNI = 4242

var nsCounter atomic.Int64

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("kernel tests need root (CI=true)")
	}
	t.Skip("kernel tests need root")
}

// testNS is a throwaway network namespace with the Netlink under test and
// a second, independent handle used to check results.
type testNS struct {
	path  string
	k     *Netlink
	check *netlink.Handle
}

func newTestNS(t *testing.T) *testNS {
	t.Helper()
	requireRoot(t)
	name := fmt.Sprintf("xo-ktest-%d-%d", os.Getpid(), nsCounter.Add(1))
	if err := createNamedNS(name); err != nil {
		t.Fatalf("create netns %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete netns %s: %v", name, err)
		}
	})
	path := filepath.Join("/var/run/netns", name)
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	k, err := NewInNamespace(path, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	check, err := netlink.NewHandleAt(ns, syscall.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(check.Close)
	return &testNS{path: path, k: k, check: check}
}

// createNamedNS creates a named netns from a goroutine locked to its OS
// thread and never unlocked: netns.NewNamed moves the calling thread into
// the new namespace, and the runtime discards a thread whose goroutine
// exits while locked, so no other goroutine (the test's included) can ever
// run in the wrong namespace.
func createNamedNS(name string) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := netns.NewNamed(name)
		if err == nil {
			ns.Close()
		}
		errc <- err
	}()
	return <-errc
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func bridgeSpec() netdriver.BridgeSpec {
	return netdriver.BridgeSpec{
		VNI:     testVNI,
		Bridge:  netdriver.BridgeName(testVNI),
		VXLAN:   netdriver.VXLANName(testVNI),
		Gateway: mustCIDR("10.42.0.1/24"),
		MTU:     1450,
		Port:    4789,
		Local:   net.ParseIP("192.0.2.1"),
	}
}

func mustCIDR(s string) *net.IPNet {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	n.IP = ip
	return n
}

func mustMAC(s string) net.HardwareAddr {
	mac, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return mac
}

func (ns *testNS) link(t *testing.T, name string) netlink.Link {
	t.Helper()
	l, err := ns.check.LinkByName(name)
	if err != nil {
		t.Fatalf("link %s: %v", name, err)
	}
	return l
}

func (ns *testNS) absent(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		if l, err := ns.check.LinkByName(name); err == nil {
			t.Errorf("link %s (%s) still exists", name, l.Type())
		} else if !isNotFound(err) {
			t.Errorf("link %s: %v", name, err)
		}
	}
}

// allLinks lists every device except lo, to prove nothing else is left.
func (ns *testNS) allLinks(t *testing.T) []string {
	t.Helper()
	links, err := ns.check.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range links {
		if l.Attrs().Name != "lo" {
			names = append(names, l.Attrs().Name)
		}
	}
	return names
}

// addDecoy creates a device of the wrong kind under name: a veth (with a
// throwaway peer) when bridge is wanted, else a bridge. (The dummy module
// is not available everywhere.)
func (ns *testNS) addDecoy(t *testing.T, name string, notBridge bool) {
	t.Helper()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	var link netlink.Link = &netlink.Bridge{LinkAttrs: attrs}
	if notBridge {
		link = &netlink.Veth{LinkAttrs: attrs, PeerName: "decoy" + strconv.FormatInt(nsCounter.Add(1), 10), PeerTxQLen: -1}
	}
	if err := ns.check.LinkAdd(link); err != nil {
		t.Fatalf("add decoy %s: %v", name, err)
	}
}

func (ns *testNS) checkBridge(t *testing.T, spec netdriver.BridgeSpec) {
	t.Helper()
	br := ns.link(t, spec.Bridge)
	if br.Type() != "bridge" {
		t.Fatalf("%s is a %s", spec.Bridge, br.Type())
	}
	if br.Attrs().MTU != spec.MTU || br.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("bridge mtu %d flags %v", br.Attrs().MTU, br.Attrs().Flags)
	}
	addrs, err := ns.check.AddrList(br, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 1 || addrs[0].IPNet.String() != spec.Gateway.String() {
		t.Errorf("bridge addresses %v, want only %s", addrs, spec.Gateway)
	}

	l := ns.link(t, spec.VXLAN)
	vx, ok := l.(*netlink.Vxlan)
	if !ok {
		t.Fatalf("%s is a %s", spec.VXLAN, l.Type())
	}
	if vx.VxlanId != int(spec.VNI) || vx.Port != spec.Port || vx.Learning || !vx.Proxy ||
		vx.L2miss || vx.L3miss || !vx.SrcAddr.Equal(spec.Local) {
		t.Errorf("vxlan id %d port %d learning %v proxy %v l2miss %v l3miss %v local %v",
			vx.VxlanId, vx.Port, vx.Learning, vx.Proxy, vx.L2miss, vx.L3miss, vx.SrcAddr)
	}
	if vx.MTU != spec.MTU || vx.MasterIndex != br.Attrs().Index || vx.Flags&net.FlagUp == 0 {
		t.Errorf("vxlan mtu %d master %d (bridge %d) flags %v", vx.MTU, vx.MasterIndex, br.Attrs().Index, vx.Flags)
	}
}

// ipDetails returns `ip -d -j link show dev NAME` run inside the namespace:
// an independent view of what the kernel reports, not parsed by netlink.
func (ns *testNS) ipDetails(t *testing.T, name string) map[string]any {
	t.Helper()
	if _, err := exec.LookPath("nsenter"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nsenter not installed (CI=true; make test installs util-linux)")
		}
		t.Skip("nsenter not installed")
	}
	out, err := exec.Command("nsenter", "--net="+ns.path, "ip", "-d", "-j", "link", "show", "dev", name).Output()
	if err != nil {
		t.Fatalf("ip link show %s: %v", name, err)
	}
	var links []struct {
		LinkInfo struct {
			InfoData map[string]any `json:"info_data"`
		} `json:"linkinfo"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		t.Fatalf("parse %s: %v", out, err)
	}
	return links[0].LinkInfo.InfoData
}

func TestEnsureBridgeCreates(t *testing.T) {
	ns := newTestNS(t)
	spec := bridgeSpec()
	if err := ns.k.EnsureBridge(spec); err != nil {
		t.Fatal(err)
	}
	ns.checkBridge(t, spec)

	d := ns.ipDetails(t, spec.VXLAN)
	if d["id"] != float64(testVNI) || d["port"] != float64(4789) || d["learning"] != false ||
		d["proxy"] != true || d["l2miss"] == true || d["l3miss"] == true || d["local"] != "192.0.2.1" {
		t.Errorf("ip -d link show %s: %v", spec.VXLAN, d)
	}
}

func TestEnsureBridgeTwiceIsNoop(t *testing.T) {
	ns := newTestNS(t)
	spec := bridgeSpec()
	if err := ns.k.EnsureBridge(spec); err != nil {
		t.Fatal(err)
	}
	br, vx := ns.link(t, spec.Bridge), ns.link(t, spec.VXLAN)
	if err := ns.k.EnsureBridge(spec); err != nil {
		t.Fatal(err)
	}
	br2, vx2 := ns.link(t, spec.Bridge), ns.link(t, spec.VXLAN)
	if br.Attrs().Index != br2.Attrs().Index || vx.Attrs().Index != vx2.Attrs().Index {
		t.Errorf("devices were recreated")
	}
	if br.Attrs().HardwareAddr.String() != br2.Attrs().HardwareAddr.String() {
		t.Errorf("bridge mac changed %s -> %s", br.Attrs().HardwareAddr, br2.Attrs().HardwareAddr)
	}
	ns.checkBridge(t, spec)
}

func TestEnsureBridgeRepairs(t *testing.T) {
	ns := newTestNS(t)
	spec := bridgeSpec()
	if err := ns.k.EnsureBridge(spec); err != nil {
		t.Fatal(err)
	}
	br := ns.link(t, spec.Bridge)
	vx := ns.link(t, spec.VXLAN)
	// Break it: vxlan detached and down, bridge down with a wrong MTU and address.
	for _, err := range []error{
		ns.check.LinkSetNoMaster(vx),
		ns.check.LinkSetDown(vx),
		ns.check.LinkSetDown(br),
		ns.check.LinkSetMTU(br, 1400),
		ns.check.AddrDel(br, &netlink.Addr{IPNet: spec.Gateway}),
		ns.check.AddrAdd(br, &netlink.Addr{IPNet: mustCIDR("10.99.0.1/16")}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := ns.k.EnsureBridge(spec); err != nil {
		t.Fatal(err)
	}
	ns.checkBridge(t, spec)
	if ns.link(t, spec.Bridge).Attrs().Index != br.Attrs().Index {
		t.Errorf("bridge was recreated instead of repaired")
	}
}

func TestEnsureBridgeReplacesWrongVXLAN(t *testing.T) {
	t.Run("wrong VNI", func(t *testing.T) {
		ns := newTestNS(t)
		spec := bridgeSpec()
		wrong := spec
		wrong.VNI = 7
		if err := ns.k.EnsureBridge(wrong); err != nil {
			t.Fatal(err)
		}
		if err := ns.k.EnsureBridge(spec); err != nil {
			t.Fatal(err)
		}
		ns.checkBridge(t, spec)
	})
	t.Run("wrong type", func(t *testing.T) {
		ns := newTestNS(t)
		spec := bridgeSpec()
		ns.addDecoy(t, spec.VXLAN, false)
		ns.addDecoy(t, spec.Bridge, true)
		if err := ns.k.EnsureBridge(spec); err != nil {
			t.Fatal(err)
		}
		ns.checkBridge(t, spec)
	})
	t.Run("learning on", func(t *testing.T) {
		ns := newTestNS(t)
		spec := bridgeSpec()
		attrs := netlink.NewLinkAttrs()
		attrs.Name = spec.VXLAN
		err := ns.check.LinkAdd(&netlink.Vxlan{LinkAttrs: attrs, VxlanId: int(spec.VNI), Port: spec.Port, Learning: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := ns.k.EnsureBridge(spec); err != nil {
			t.Fatal(err)
		}
		ns.checkBridge(t, spec)
	})
}

func TestEnsureBridgeNoGatewayNoLocal(t *testing.T) {
	ns := newTestNS(t)
	spec := bridgeSpec()
	spec.Gateway, spec.Local = nil, nil
	if err := ns.k.EnsureBridge(spec); err != nil {
		t.Fatal(err)
	}
	if err := ns.k.EnsureBridge(spec); err != nil {
		t.Fatal(err)
	}
	addrs, err := ns.check.AddrList(ns.link(t, spec.Bridge), netlink.FAMILY_V4)
	if err != nil || len(addrs) != 0 {
		t.Errorf("addresses %v, %v", addrs, err)
	}
	vx := ns.link(t, spec.VXLAN).(*netlink.Vxlan)
	if vx.SrcAddr != nil && !vx.SrcAddr.IsUnspecified() {
		t.Errorf("local %v, want none", vx.SrcAddr)
	}
}

func TestEnsureBridgeRollsBack(t *testing.T) {
	ns := newTestNS(t)
	spec := bridgeSpec()
	spec.Local = net.ParseIP("239.1.1.1") // the kernel refuses a multicast source
	err := ns.k.EnsureBridge(spec)
	if err == nil {
		t.Fatal("EnsureBridge with a multicast local address succeeded")
	}
	if !strings.HasPrefix(err.Error(), "kernel: ") || !errors.Is(err, syscall.EINVAL) {
		t.Errorf("error %q (%T) is not a wrapped EINVAL", err, errors.Unwrap(err))
	}
	if left := ns.allLinks(t); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestEnsureBridgeRejectsLongNames(t *testing.T) {
	ns := newTestNS(t)
	spec := bridgeSpec()
	spec.Bridge = "xob-this-is-far-too-long"
	if err := ns.k.EnsureBridge(spec); err == nil {
		t.Fatal("accepted a 24-char name")
	}
	if left := ns.allLinks(t); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestDeleteBridge(t *testing.T) {
	ns := newTestNS(t)
	spec := bridgeSpec()
	if err := ns.k.EnsureBridge(spec); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second call finds nothing and must still succeed
		if err := ns.k.DeleteBridge(spec); err != nil {
			t.Fatal(err)
		}
		ns.absent(t, spec.Bridge, spec.VXLAN)
	}
}

func vethSpec(id string) netdriver.VethSpec {
	host, peer := netdriver.VethNames(id)
	return netdriver.VethSpec{
		Host:   host,
		Peer:   peer,
		Bridge: netdriver.BridgeName(testVNI),
		MTU:    1450,
		MAC:    mustMAC("02:42:0a:2a:00:05"),
	}
}

func (ns *testNS) checkVeth(t *testing.T, spec netdriver.VethSpec) {
	t.Helper()
	br := ns.link(t, spec.Bridge)
	host := ns.link(t, spec.Host)
	peer := ns.link(t, spec.Peer)
	if host.Type() != "veth" || peer.Type() != "veth" {
		t.Fatalf("types %s/%s", host.Type(), peer.Type())
	}
	if host.Attrs().MasterIndex != br.Attrs().Index || host.Attrs().Flags&net.FlagUp == 0 || host.Attrs().MTU != spec.MTU {
		t.Errorf("host master %d (bridge %d) flags %v mtu %d", host.Attrs().MasterIndex, br.Attrs().Index, host.Attrs().Flags, host.Attrs().MTU)
	}
	if peer.Attrs().Flags&net.FlagUp != 0 || peer.Attrs().MTU != spec.MTU || peer.Attrs().MasterIndex != 0 {
		t.Errorf("peer flags %v mtu %d master %d", peer.Attrs().Flags, peer.Attrs().MTU, peer.Attrs().MasterIndex)
	}
	if peer.Attrs().HardwareAddr.String() != spec.MAC.String() {
		t.Errorf("peer mac %s, want %s", peer.Attrs().HardwareAddr, spec.MAC)
	}
	if peer.Attrs().TxQLen == 0 || host.Attrs().TxQLen == 0 {
		t.Errorf("txqueuelen host %d peer %d", host.Attrs().TxQLen, peer.Attrs().TxQLen)
	}
	if host.Attrs().ParentIndex != peer.Attrs().Index {
		t.Errorf("host's peer is %d, want %d", host.Attrs().ParentIndex, peer.Attrs().Index)
	}
}

func TestEnsureVeth(t *testing.T) {
	ns := newTestNS(t)
	if err := ns.k.EnsureBridge(bridgeSpec()); err != nil {
		t.Fatal(err)
	}
	brMAC := ns.link(t, netdriver.BridgeName(testVNI)).Attrs().HardwareAddr.String()
	spec := vethSpec("0123456789abcdef")
	if err := ns.k.EnsureVeth(spec); err != nil {
		t.Fatal(err)
	}
	ns.checkVeth(t, spec)
	if got := ns.link(t, spec.Bridge).Attrs().HardwareAddr.String(); got != brMAC {
		t.Errorf("bridge mac changed from %s to %s when a port joined", brMAC, got)
	}

	idx := ns.link(t, spec.Host).Attrs().Index
	if err := ns.k.EnsureVeth(spec); err != nil {
		t.Fatal(err)
	}
	ns.checkVeth(t, spec)
	if ns.link(t, spec.Host).Attrs().Index != idx {
		t.Errorf("second EnsureVeth recreated the pair")
	}

	// Repair: detached, down, peer MAC changed.
	host, peer := ns.link(t, spec.Host), ns.link(t, spec.Peer)
	for _, err := range []error{
		ns.check.LinkSetNoMaster(host),
		ns.check.LinkSetDown(host),
		ns.check.LinkSetHardwareAddr(peer, mustMAC("02:00:00:00:00:99")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := ns.k.EnsureVeth(spec); err != nil {
		t.Fatal(err)
	}
	ns.checkVeth(t, spec)
}

func TestEnsureVethPeerMoved(t *testing.T) {
	ns := newTestNS(t)
	if err := ns.k.EnsureBridge(bridgeSpec()); err != nil {
		t.Fatal(err)
	}
	spec := vethSpec("feedface00")
	if err := ns.k.EnsureVeth(spec); err != nil {
		t.Fatal(err)
	}
	// What Docker does: rename the peer (moving it away looks the same).
	if err := ns.check.LinkSetName(ns.link(t, spec.Peer), "eth0"); err != nil {
		t.Fatal(err)
	}
	if err := ns.k.EnsureVeth(spec); err != nil {
		t.Fatal(err)
	}
	ns.absent(t, spec.Peer)
}

func TestEnsureVethFailures(t *testing.T) {
	ns := newTestNS(t)
	spec := vethSpec("deadbeef")

	if err := ns.k.EnsureVeth(spec); err == nil {
		t.Error("EnsureVeth without a bridge succeeded")
	}
	ns.addDecoy(t, spec.Bridge, true) // right name, not a bridge
	if err := ns.k.EnsureVeth(spec); err == nil {
		t.Error("EnsureVeth onto a dummy succeeded")
	}
	if err := ns.k.DeleteVeth(spec.Bridge); err != nil {
		t.Fatal(err)
	}
	if err := ns.k.EnsureBridge(bridgeSpec()); err != nil {
		t.Fatal(err)
	}
	ns.addDecoy(t, spec.Peer, false) // the peer name is taken
	err := ns.k.EnsureVeth(spec)
	if err == nil || !strings.HasPrefix(err.Error(), "kernel: ") || !errors.Is(err, syscall.EEXIST) {
		t.Errorf("EnsureVeth with a taken peer name: %v", err)
	}
	ns.absent(t, spec.Host)
	if got := ns.allLinks(t); !slices.Equal(got, []string{spec.Bridge, netdriver.VXLANName(testVNI), spec.Peer}) {
		t.Errorf("links %v", got)
	}
}

func TestEnsureVethReplacesWrongType(t *testing.T) {
	ns := newTestNS(t)
	if err := ns.k.EnsureBridge(bridgeSpec()); err != nil {
		t.Fatal(err)
	}
	spec := vethSpec("c0ffee11")
	ns.addDecoy(t, spec.Host, false)
	if err := ns.k.EnsureVeth(spec); err != nil {
		t.Fatal(err)
	}
	ns.checkVeth(t, spec)
}

func TestDeleteVeth(t *testing.T) {
	ns := newTestNS(t)
	if err := ns.k.EnsureBridge(bridgeSpec()); err != nil {
		t.Fatal(err)
	}
	spec := vethSpec("0badcafe")
	if err := ns.k.EnsureVeth(spec); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := ns.k.DeleteVeth(spec.Host); err != nil {
			t.Fatal(err)
		}
		ns.absent(t, spec.Host, spec.Peer)
	}
}

func TestListOwned(t *testing.T) {
	ns := newTestNS(t)
	got, err := ns.k.ListOwned()
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Bridges)+len(got.VXLANs)+len(got.Veths) != 0 {
		t.Errorf("empty namespace: %+v", got)
	}

	a, b := bridgeSpec(), bridgeSpec()
	b.VNI, b.Bridge, b.VXLAN, b.Gateway = 7, netdriver.BridgeName(7), netdriver.VXLANName(7), mustCIDR("10.7.0.1/24")
	for _, s := range []netdriver.BridgeSpec{a, b} {
		if err := ns.k.EnsureBridge(s); err != nil {
			t.Fatal(err)
		}
	}
	v1, v2 := vethSpec("11111111aa"), vethSpec("22222222bb")
	for _, s := range []netdriver.VethSpec{v1, v2} {
		if err := ns.k.EnsureVeth(s); err != nil {
			t.Fatal(err)
		}
	}
	ns.addDecoy(t, "other0", false)

	got, err = ns.k.ListOwned()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got.Bridges)
	slices.Sort(got.VXLANs)
	slices.Sort(got.Veths)
	want := netdriver.Owned{
		Bridges: []string{"xob-4242", "xob-7"},
		VXLANs:  []string{"xov-4242", "xov-7"},
		Veths:   []string{"xoh11111111aa", "xoh22222222bb"},
	}
	if !slices.Equal(got.Bridges, want.Bridges) || !slices.Equal(got.VXLANs, want.VXLANs) || !slices.Equal(got.Veths, want.Veths) {
		t.Errorf("ListOwned = %+v, want %+v", got, want)
	}
}

func (ns *testNS) fdb(t *testing.T, vxlan string, mac net.HardwareAddr) []netlink.Neigh {
	t.Helper()
	all, err := ns.check.NeighList(ns.link(t, vxlan).Attrs().Index, syscall.AF_BRIDGE)
	if err != nil {
		t.Fatal(err)
	}
	var out []netlink.Neigh
	for _, nb := range all {
		if nb.HardwareAddr.String() == mac.String() {
			out = append(out, nb)
		}
	}
	return out
}

func (ns *testNS) neigh(t *testing.T, vxlan string, ip net.IP) []netlink.Neigh {
	t.Helper()
	all, err := ns.check.NeighList(ns.link(t, vxlan).Attrs().Index, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var out []netlink.Neigh
	for _, nb := range all {
		if nb.IP.Equal(ip) {
			out = append(out, nb)
		}
	}
	return out
}

func TestRemotes(t *testing.T) {
	ns := newTestNS(t)
	spec := bridgeSpec()
	if err := ns.k.EnsureBridge(spec); err != nil {
		t.Fatal(err)
	}
	mac := mustMAC("02:42:0a:2a:00:09")
	ip := net.ParseIP("10.42.0.9")
	vtep, vtep2 := net.ParseIP("192.0.2.20"), net.ParseIP("192.0.2.30")

	checkRemote := func(wantVTEP net.IP) {
		t.Helper()
		fdb := ns.fdb(t, spec.VXLAN, mac)
		if len(fdb) != 1 || !fdb[0].IP.Equal(wantVTEP) || fdb[0].Flags&netlink.NTF_SELF == 0 || fdb[0].State != netlink.NUD_PERMANENT {
			t.Errorf("fdb %+v, want one self permanent entry to %s", fdb, wantVTEP)
		}
		nb := ns.neigh(t, spec.VXLAN, ip)
		if len(nb) != 1 || nb[0].HardwareAddr.String() != mac.String() || nb[0].State != netlink.NUD_PERMANENT {
			t.Errorf("neigh %+v, want %s permanent", nb, mac)
		}
	}

	for range 2 {
		if err := ns.k.AddRemote(spec.VXLAN, mac, ip, vtep); err != nil {
			t.Fatal(err)
		}
		checkRemote(vtep)
	}
	// The MAC moves to another host.
	if err := ns.k.AddRemote(spec.VXLAN, mac, ip, vtep2); err != nil {
		t.Fatal(err)
	}
	checkRemote(vtep2)
	// A stale delete for the old VTEP must not remove the new entry's FDB.
	if err := ns.k.DelRemote(spec.VXLAN, mac, nil, vtep); err != nil {
		t.Fatal(err)
	}
	checkRemote(vtep2)

	for range 2 {
		if err := ns.k.DelRemote(spec.VXLAN, mac, ip, vtep2); err != nil {
			t.Fatal(err)
		}
		if fdb := ns.fdb(t, spec.VXLAN, mac); len(fdb) != 0 {
			t.Errorf("fdb left: %+v", fdb)
		}
		if nb := ns.neigh(t, spec.VXLAN, ip); len(nb) != 0 {
			t.Errorf("neigh left: %+v", nb)
		}
	}

	if err := ns.k.AddRemote("xov-missing", mac, ip, vtep); err == nil {
		t.Error("AddRemote on a missing device succeeded")
	}
	if err := ns.k.DelRemote("xov-missing", mac, ip, vtep); err != nil {
		t.Errorf("DelRemote on a missing device: %v", err)
	}
	if err := ns.k.AddRemote(spec.VXLAN, nil, ip, vtep); err == nil {
		t.Error("AddRemote without a MAC succeeded")
	}
}

func TestDelRemoteKeepsReusedIP(t *testing.T) {
	ns := newTestNS(t)
	spec := bridgeSpec()
	if err := ns.k.EnsureBridge(spec); err != nil {
		t.Fatal(err)
	}
	ip := net.ParseIP("10.42.0.9")
	oldMAC, newMAC := mustMAC("02:42:0a:2a:00:09"), mustMAC("02:42:0a:2a:00:19")
	vtep := net.ParseIP("192.0.2.20")
	if err := ns.k.AddRemote(spec.VXLAN, oldMAC, ip, vtep); err != nil {
		t.Fatal(err)
	}
	if err := ns.k.AddRemote(spec.VXLAN, newMAC, ip, vtep); err != nil {
		t.Fatal(err)
	}
	if err := ns.k.DelRemote(spec.VXLAN, oldMAC, ip, vtep); err != nil {
		t.Fatal(err)
	}
	nb := ns.neigh(t, spec.VXLAN, ip)
	if len(nb) != 1 || nb[0].HardwareAddr.String() != newMAC.String() {
		t.Errorf("neigh %+v, want %s kept", nb, newMAC)
	}
	if len(ns.fdb(t, spec.VXLAN, oldMAC)) != 0 || len(ns.fdb(t, spec.VXLAN, newMAC)) != 1 {
		t.Errorf("fdb old %+v new %+v", ns.fdb(t, spec.VXLAN, oldMAC), ns.fdb(t, spec.VXLAN, newMAC))
	}
}

func TestConcurrentEnsure(t *testing.T) {
	ns := newTestNS(t)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 16 {
		wg.Go(func() {
			errs <- ns.k.EnsureBridge(bridgeSpec())
			errs <- ns.k.EnsureVeth(vethSpec(fmt.Sprintf("%08x", i%4)))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	got, err := ns.k.ListOwned()
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Bridges) != 1 || len(got.VXLANs) != 1 || len(got.Veths) != 4 {
		t.Errorf("ListOwned = %+v", got)
	}
}

func TestNewCurrentNamespace(t *testing.T) {
	requireRoot(t)
	k, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if _, err := k.ListOwned(); err != nil {
		t.Fatal(err)
	}
}

func TestNewInNamespaceMissing(t *testing.T) {
	if _, err := NewInNamespace("/nonexistent/netns", nil); err == nil {
		t.Fatal("NewInNamespace on a missing path succeeded")
	}
}

// remotesText renders ListRemotes' answer sorted, one "MAC IP VTEP" each.
func remotesText(t *testing.T, rs []netdriver.Remote) []string {
	t.Helper()
	str := func(ip net.IP) string {
		if ip == nil {
			return "-"
		}
		return ip.String()
	}
	var out []string
	for _, r := range rs {
		out = append(out, r.MAC.String()+" "+str(r.IP)+" "+str(r.VTEP))
	}
	slices.Sort(out)
	return out
}

func TestListRemotes(t *testing.T) {
	ns := newTestNS(t)
	spec := bridgeSpec()
	if err := ns.k.EnsureBridge(spec); err != nil {
		t.Fatal(err)
	}
	// A port on the bridge gives the device "master" FDB entries, which
	// are the bridge's, not remotes.
	if err := ns.k.EnsureVeth(vethSpec("5555555555")); err != nil {
		t.Fatal(err)
	}
	got, err := ns.k.ListRemotes(spec.VXLAN)
	if err != nil || len(got) != 0 {
		t.Fatalf("fresh device: %v %v", got, err)
	}

	vtep, vtep2 := net.ParseIP("192.0.2.20"), net.ParseIP("192.0.2.30")
	for _, r := range []netdriver.Remote{
		{MAC: mustMAC("02:42:0a:2a:00:09"), IP: net.ParseIP("10.42.0.9"), VTEP: vtep},
		{MAC: mustMAC("02:42:0a:2a:00:0a"), IP: net.ParseIP("10.42.0.10"), VTEP: vtep2},
		{MAC: mustMAC("02:42:0a:2a:00:0b"), VTEP: vtep2},
	} {
		if err := ns.k.AddRemote(spec.VXLAN, r.MAC, r.IP, r.VTEP); err != nil {
			t.Fatal(err)
		}
	}
	vx := ns.link(t, spec.VXLAN)
	// Written by someone else: a flood entry, a neighbour entry without an
	// FDB entry, and a learned (not permanent) neighbour.
	for _, nb := range []*netlink.Neigh{
		{LinkIndex: vx.Attrs().Index, Family: syscall.AF_BRIDGE, Flags: netlink.NTF_SELF, State: netlink.NUD_PERMANENT,
			IP: net.ParseIP("192.0.2.99"), HardwareAddr: mustMAC("00:00:00:00:00:00")},
		{LinkIndex: vx.Attrs().Index, State: netlink.NUD_PERMANENT, IP: net.ParseIP("10.42.0.77"), HardwareAddr: mustMAC("02:42:0a:2a:00:4d")},
		{LinkIndex: vx.Attrs().Index, State: netlink.NUD_REACHABLE, IP: net.ParseIP("10.42.0.78"), HardwareAddr: mustMAC("02:42:0a:2a:00:4e")},
	} {
		if err := ns.check.NeighAppend(nb); err != nil {
			t.Fatalf("add %+v: %v", nb, err)
		}
	}
	got, err = ns.k.ListRemotes(spec.VXLAN)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"00:00:00:00:00:00 - 192.0.2.99",
		"02:42:0a:2a:00:09 10.42.0.9 192.0.2.20",
		"02:42:0a:2a:00:0a 10.42.0.10 192.0.2.30",
		"02:42:0a:2a:00:0b - 192.0.2.30",
		"02:42:0a:2a:00:4d 10.42.0.77 -",
	}
	if g := remotesText(t, got); !slices.Equal(g, want) {
		t.Errorf("ListRemotes:\n got %q\nwant %q", g, want)
	}

	// DelRemote without a VTEP removes the neighbour entry only, without
	// an IP the FDB entry only.
	if err := ns.k.DelRemote(spec.VXLAN, mustMAC("02:42:0a:2a:00:09"), net.ParseIP("10.42.0.9"), nil); err != nil {
		t.Fatal(err)
	}
	if err := ns.k.DelRemote(spec.VXLAN, mustMAC("00:00:00:00:00:00"), nil, net.ParseIP("192.0.2.99")); err != nil {
		t.Fatal(err)
	}
	got, err = ns.k.ListRemotes(spec.VXLAN)
	if err != nil {
		t.Fatal(err)
	}
	want = []string{
		"02:42:0a:2a:00:09 - 192.0.2.20",
		"02:42:0a:2a:00:0a 10.42.0.10 192.0.2.30",
		"02:42:0a:2a:00:0b - 192.0.2.30",
		"02:42:0a:2a:00:4d 10.42.0.77 -",
	}
	if g := remotesText(t, got); !slices.Equal(g, want) {
		t.Errorf("after deletes:\n got %q\nwant %q", g, want)
	}

	if _, err := ns.k.ListRemotes("xov-missing"); !errors.Is(err, netdriver.ErrNoDevice) {
		t.Errorf("missing device: %v, want ErrNoDevice", err)
	}
	if _, err := ns.k.ListRemotes(spec.Bridge); err == nil {
		t.Error("ListRemotes on a bridge succeeded")
	}
}

// TestListRemotesOnlyThisDevice checks that entries of another vxlan device
// do not leak into the list.
func TestListRemotesOnlyThisDevice(t *testing.T) {
	ns := newTestNS(t)
	a, b := bridgeSpec(), bridgeSpec()
	b.VNI, b.Bridge, b.VXLAN, b.Gateway = 7, netdriver.BridgeName(7), netdriver.VXLANName(7), mustCIDR("10.7.0.1/24")
	for _, s := range []netdriver.BridgeSpec{a, b} {
		if err := ns.k.EnsureBridge(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := ns.k.AddRemote(b.VXLAN, mustMAC("02:42:0a:07:00:02"), net.ParseIP("10.7.0.2"), net.ParseIP("192.0.2.20")); err != nil {
		t.Fatal(err)
	}
	if got, err := ns.k.ListRemotes(a.VXLAN); err != nil || len(got) != 0 {
		t.Errorf("%s: %v %v", a.VXLAN, remotesText(t, got), err)
	}
	if got, err := ns.k.ListRemotes(b.VXLAN); err != nil || len(got) != 1 {
		t.Errorf("%s: %v %v", b.VXLAN, remotesText(t, got), err)
	}
}
