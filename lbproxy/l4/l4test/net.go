//go:build linux

// Package l4test builds throwaway network namespaces for the L4 data
// planes' kernel tests and holds the behaviour suite every plane passes.
// It is imported by tests only.
//
// The topology, all inside namespaces the test creates:
//
//	client   10.77.1.2/24 ─┐
//	backend i 10.77.(10+i).2/24 ─┤ router (forwards; .1 on each link)
//	outside  198.18.77.2/24 ─┘   router 198.18.77.1
//
// The client's default route is the router. Backends route only
// 10.77.0.0/16 through the router, so they can answer "outside" only when
// the router rewrites the source (the routing mesh's source NAT). The
// router's link to backend 1 also holds 10.77.11.254 (MeshSNATAddr).
package l4test

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/xoverlay/xoverlay/lbproxy/l4/inns"
)

// Fixed addresses of the topology.
var (
	VIP          = netip.MustParseAddr("10.77.200.1")
	ClientAddr   = netip.MustParseAddr("10.77.1.2")
	RouterOut    = netip.MustParseAddr("198.18.77.1")
	OutsideAddr  = netip.MustParseAddr("198.18.77.2")
	MeshSNATAddr = netip.MustParseAddr("10.77.11.254")
)

// Ports the backends serve.
const (
	TCPPort = 80
	UDPPort = 5353
)

// IOTimeout bounds every test dial and read.
const IOTimeout = 3 * time.Second

var counter atomic.Int64

// RequireRoot fails (CI=true) or skips a test that cannot make namespaces.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("L4 kernel tests need root (CI=true)")
	}
	t.Skip("L4 kernel tests need root")
}

// NS is a throwaway namespace.
type NS struct {
	*inns.NS
	Name string
	Addr netip.Addr // its address towards the router (the router's own: RouterOut)
	link *netlink.Handle
}

// Link returns a route netlink handle inside the namespace.
func (n *NS) Link() *netlink.Handle { return n.link }

// Backend is a namespace serving TCPPort and UDPPort; each answer names
// the backend and the peer address it saw.
type Backend struct {
	*NS
	ID string // "b1", "b2", ...
}

// TCP returns the backend's TCP address.
func (b *Backend) TCP() netip.AddrPort { return netip.AddrPortFrom(b.Addr, TCPPort) }

// UDP returns the backend's UDP address.
func (b *Backend) UDP() netip.AddrPort { return netip.AddrPortFrom(b.Addr, UDPPort) }

// Net is the whole topology.
type Net struct {
	Client, Router, Outside *NS
	Backends                []*Backend
}

// NewNet builds the topology with n backends; everything goes at cleanup.
func NewNet(t testing.TB, n int) *Net {
	t.Helper()
	RequireRoot(t)
	id := fmt.Sprintf("xo-l4t-%d-%d", os.Getpid(), counter.Add(1))
	mk := func(role string) *NS { return newNS(t, id+"-"+role) }
	net := &Net{Router: mk("r"), Client: mk("c"), Outside: mk("o")}
	net.Router.Addr = RouterOut
	must(t, writeSysctl(net.Router, "net/ipv4/ip_forward", "1"))
	net.Client.Addr = ClientAddr
	veth(t, net.Router, net.Client, "r-c", "10.77.1.1/24", "10.77.1.2/24")
	must(t, route(net.Client, "0.0.0.0/0", "10.77.1.1"))
	net.Outside.Addr = OutsideAddr
	veth(t, net.Router, net.Outside, "r-o", "198.18.77.1/24", "198.18.77.2/24")
	for i := 1; i <= n; i++ {
		b := &Backend{NS: mk(fmt.Sprintf("b%d", i)), ID: fmt.Sprintf("b%d", i)}
		b.Addr = netip.MustParseAddr(fmt.Sprintf("10.77.%d.2", 10+i))
		veth(t, net.Router, b.NS, fmt.Sprintf("r-b%d", i), fmt.Sprintf("10.77.%d.1/24", 10+i), fmt.Sprintf("10.77.%d.2/24", 10+i))
		must(t, route(b.NS, "10.77.0.0/16", fmt.Sprintf("10.77.%d.1", 10+i)))
		if i == 1 {
			l, err := net.Router.link.LinkByName("r-b1")
			must(t, err)
			must(t, net.Router.link.AddrAdd(l, &netlink.Addr{IPNet: mustNet(MeshSNATAddr.String() + "/24")}))
		}
		serve(t, b)
		net.Backends = append(net.Backends, b)
	}
	return net
}

// Backend returns the backend with that ID.
func (n *Net) Backend(id string) *Backend {
	for _, b := range n.Backends {
		if b.ID == id {
			return b
		}
	}
	return nil
}

// TCPBackends and UDPBackends list the backends' addresses.
func (n *Net) TCPBackends() []netip.AddrPort {
	var out []netip.AddrPort
	for _, b := range n.Backends {
		out = append(out, b.TCP())
	}
	return out
}

// UDPBackends lists the backends' UDP addresses.
func (n *Net) UDPBackends() []netip.AddrPort {
	var out []netip.AddrPort
	for _, b := range n.Backends {
		out = append(out, b.UDP())
	}
	return out
}

func newNS(t testing.TB, name string) *NS {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread that made the namespace dies with
		// this goroutine, so nothing else runs in it by accident.
		runtime.LockOSThread()
		h, err := netns.NewNamed(name)
		if err == nil {
			h.Close()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatalf("create netns %s: %v", name, err)
	}
	path := filepath.Join("/var/run/netns", name)
	ns, err := inns.Open(path)
	if err != nil {
		netns.DeleteNamed(name)
		t.Fatal(err)
	}
	h, err := netlink.NewHandleAt(ns.Handle(), syscall.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Close()
		ns.Close()
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete netns %s: %v", name, err)
		}
	})
	lo, err := h.LinkByName("lo")
	must(t, err)
	must(t, h.LinkSetUp(lo))
	return &NS{NS: ns, Name: name, link: h}
}

// veth joins a (side name) and b (side eth0) with the given addresses.
func veth(t testing.TB, a, b *NS, name, addrA, addrB string) {
	t.Helper()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: "eth0", PeerNamespace: netlink.NsFd(b.Fd())}
	must(t, a.link.LinkAdd(v))
	for _, side := range []struct {
		ns   *NS
		name string
		addr string
	}{{a, name, addrA}, {b, "eth0", addrB}} {
		l, err := side.ns.link.LinkByName(side.name)
		must(t, err)
		must(t, side.ns.link.AddrAdd(l, &netlink.Addr{IPNet: mustNet(side.addr)}))
		must(t, side.ns.link.LinkSetUp(l))
	}
}

func route(ns *NS, dst, via string) error {
	_, d, err := net.ParseCIDR(dst)
	if err != nil {
		return err
	}
	return ns.link.RouteAdd(&netlink.Route{Dst: d, Gw: net.ParseIP(via)})
}

func writeSysctl(ns *NS, key, value string) error {
	return ns.Do(func() error {
		return os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0o644)
	})
}

// serve runs the backend's TCP and UDP servers until cleanup.
func serve(t testing.TB, b *Backend) {
	t.Helper()
	var ln net.Listener
	var pc net.PacketConn
	must(t, b.Do(func() (err error) {
		if ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", TCPPort)); err != nil {
			return err
		}
		pc, err = net.ListenPacket("udp4", fmt.Sprintf(":%d", UDPPort))
		return err
	}))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s %s\n", b.ID, c.RemoteAddr())
			c.Close()
		}
	}()
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(fmt.Appendf(nil, "%s %s", b.ID, from), from)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		pc.Close()
		wg.Wait()
	})
}

// Reply is what a backend answered.
type Reply struct {
	Backend string
	Source  netip.AddrPort // the peer address the backend saw
}

func parseReply(s string) (Reply, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return Reply{}, fmt.Errorf("malformed reply %q", s)
	}
	src, err := netip.ParseAddrPort(f[1])
	if err != nil {
		return Reply{}, fmt.Errorf("malformed reply %q: %w", s, err)
	}
	return Reply{Backend: f[0], Source: src}, nil
}

// DialTCP connects from ns to dst and reads the backend's answer.
func DialTCP(ns *NS, dst netip.AddrPort) (Reply, error) {
	var c net.Conn
	err := ns.Do(func() (err error) {
		c, err = net.DialTimeout("tcp4", dst.String(), IOTimeout)
		return err
	})
	if err != nil {
		return Reply{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(IOTimeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return Reply{}, fmt.Errorf("read from %s: %w", dst, err)
	}
	return parseReply(line)
}

// UDPSocket is a client socket in a namespace, kept across asks so that
// they share one conntrack flow.
type UDPSocket struct{ c *net.UDPConn }

// NewUDPSocket opens a UDP socket in ns on an ephemeral port.
func NewUDPSocket(t testing.TB, ns *NS) *UDPSocket {
	t.Helper()
	var c *net.UDPConn
	must(t, ns.Do(func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{})
		return err
	}))
	t.Cleanup(func() { c.Close() })
	return &UDPSocket{c: c}
}

// Ask sends one datagram to dst and waits for the answer, which must come
// from dst (a balancer that answered from another address would break
// every UDP client).
func (s *UDPSocket) Ask(dst netip.AddrPort) (Reply, error) {
	if _, err := s.c.WriteToUDPAddrPort([]byte("who"), dst); err != nil {
		return Reply{}, err
	}
	buf := make([]byte, 1500)
	s.c.SetReadDeadline(time.Now().Add(IOTimeout))
	n, from, err := s.c.ReadFromUDPAddrPort(buf)
	if err != nil {
		return Reply{}, fmt.Errorf("no answer from %s: %w", dst, err)
	}
	if from.Addr().Unmap() != dst.Addr() || from.Port() != dst.Port() {
		return Reply{}, fmt.Errorf("answer from %s, asked %s", from, dst)
	}
	return parseReply(string(buf[:n]))
}

// AskUDP asks dst from a fresh socket in ns.
func AskUDP(t testing.TB, ns *NS, dst netip.AddrPort) (Reply, error) {
	var c *net.UDPConn
	if err := ns.Do(func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{})
		return err
	}); err != nil {
		return Reply{}, err
	}
	defer c.Close()
	return (&UDPSocket{c: c}).Ask(dst)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustNet(s string) *net.IPNet {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	n.IP = ip
	return n
}
