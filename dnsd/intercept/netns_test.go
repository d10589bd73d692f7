//go:build linux

package intercept

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The throwaway topology: a "host" namespace holding the resolver
// (dnsd's stand-in) on lo, and a "container" namespace behind a veth,
// whose default route goes through the host.
const (
	testResolver = "169.254.53.53"
	hostAddr     = "10.99.0.1"
	ctrAddr      = "10.99.0.2"
	dockerPort   = 5353 // the embedded resolver's stand-in in the container
)

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

// pair is the two namespaces of one test.
type pair struct {
	host, ctr       string // namespace paths
	hostLink        netlink.Link
	ctrMAC, hostMAC net.HardwareAddr
}

func newPair(t *testing.T) *pair {
	t.Helper()
	requireRoot(t)
	id := fmt.Sprintf("xo-itest-%d-%d", os.Getpid(), nsCounter.Add(1))
	p := &pair{host: namedNS(t, id+"h"), ctr: namedNS(t, id+"c")}
	hh, ch := handle(t, p.host), handle(t, p.ctr)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "xoi0"}, PeerName: "eth0"}
	if err := hh.LinkAdd(veth); err != nil {
		t.Fatalf("veth: %v", err)
	}
	peer, err := hh.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	ctrNS := nsHandle(t, p.ctr)
	if err := hh.LinkSetNsFd(peer, int(ctrNS)); err != nil {
		t.Fatalf("move veth peer: %v", err)
	}
	setup := func(h *netlink.Handle, dev string, addrs ...string) netlink.Link {
		l, err := h.LinkByName(dev)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range addrs {
			nl, err := netlink.ParseAddr(a)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.AddrAdd(l, nl); err != nil {
				t.Fatalf("%s %s: %v", dev, a, err)
			}
		}
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	setup(hh, "lo", testResolver+"/32")
	p.hostLink = setup(hh, "xoi0", hostAddr+"/24")
	setup(ch, "lo")
	eth0 := setup(ch, "eth0", ctrAddr+"/24")
	if err := ch.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: net.ParseIP(hostAddr)}); err != nil {
		t.Fatalf("default route: %v", err)
	}
	p.ctrMAC, p.hostMAC = eth0.Attrs().HardwareAddr, p.hostLink.Attrs().HardwareAddr
	return p
}

// namedNS creates /var/run/netns/name, deleted at cleanup. netns.NewNamed
// moves the calling thread into the new namespace: the thread is moved
// back before it is unlocked (or stays locked when that fails).
func namedNS(t *testing.T, name string) string {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		ns, err := netns.NewNamed(name)
		if err == nil {
			ns.Close()
		}
		if serr := netns.Set(orig); serr != nil {
			errc <- fmt.Errorf("back to the test's namespace: %w", serr)
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatalf("netns %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete netns %s: %v", name, err)
		}
	})
	return filepath.Join("/var/run/netns", name)
}

func nsHandle(t *testing.T, path string) netns.NsHandle {
	t.Helper()
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

func handle(t *testing.T, path string) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(nsHandle(t, path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// in runs fn on a thread inside the namespace at path; sockets made there
// stay in that namespace.
func in(t *testing.T, path string, fn func() error) {
	t.Helper()
	ns := nsHandle(t, path)
	if err := inNetNS(ns, fn); err != nil {
		t.Fatal(err)
	}
}

// serve answers, on addr in the namespace at path, every UDP datagram and
// TCP connection with "NAME from SOURCE-IP".
func serve(t *testing.T, path, name, addr string) {
	t.Helper()
	var pc net.PacketConn
	var l net.Listener
	in(t, path, func() (err error) {
		if pc, err = net.ListenPacket("udp4", addr); err != nil {
			return err
		}
		l, err = net.Listen("tcp4", addr)
		return err
	})
	t.Cleanup(func() { pc.Close(); l.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo([]byte(name+" from "+from.(*net.UDPAddr).IP.String()), from)
		}
	}()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte(name + " from " + c.RemoteAddr().(*net.TCPAddr).IP.String()))
			c.Close()
		}
	}()
}

// ask sends one query to addr over network from the container and
// returns the answer, or the error as text.
func (p *pair) ask(t *testing.T, network, addr string) string {
	t.Helper()
	var c net.Conn
	var dialErr error
	in(t, p.ctr, func() error {
		c, dialErr = net.DialTimeout(network, addr, time.Second)
		return nil
	})
	if dialErr != nil {
		return "error: " + dialErr.Error()
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("q")); err != nil {
		return "error: " + err.Error()
	}
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if err != nil {
		return "error: " + err.Error()
	}
	return string(buf[:n])
}

// dockerLike stands in for Docker's rules in a container: 127.0.0.11:53
// DNATed to the embedded resolver's port in nat output at priority -100.
func (p *pair) dockerLike(t *testing.T) {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(nsHandle(t, p.ctr))))
	if err != nil {
		t.Fatal(err)
	}
	tb := c.AddTable(&nftables.Table{Name: "dockerlike", Family: nftables.TableFamilyIPv4})
	ch := c.AddChain(&nftables.Chain{Name: "OUTPUT", Table: tb, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest})
	for _, proto := range []byte{unix.IPPROTO_UDP, unix.IPPROTO_TCP} {
		c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: []expr.Any{
			loadIP(16), cmpEq(DockerResolver.Addr().AsSlice()),
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, cmpEq([]byte{proto}),
			loadDport(), cmpEq(port(53)),
			&expr.Immediate{Register: 1, Data: DockerResolver.Addr().AsSlice()},
			&expr.Immediate{Register: 2, Data: port(dockerPort)},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2},
		}})
	}
	if err := c.Flush(); err != nil {
		t.Fatalf("docker-like rules: %v", err)
	}
}

// tableChains lists the chains of the fast path's table in the container.
func (p *pair) tableChains(t *testing.T) []string {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(nsHandle(t, p.ctr))))
	if err != nil {
		t.Fatal(err)
	}
	all, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ch := range all {
		if ch.Table.Name == TableName {
			names = append(names, ch.Name)
		}
	}
	return names
}

func (p *pair) localnet(t *testing.T) string {
	t.Helper()
	v, err := readSysctl(nsHandle(t, p.ctr), localnetSysctl)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sendToLoopback sends, from the host namespace, a raw Ethernet frame to
// the container's MAC carrying a UDP datagram for 127.0.0.1:port: what a
// neighbour on the container's network could send.
func (p *pair) sendToLoopback(t *testing.T, dport uint16) {
	t.Helper()
	payload := []byte("from outside")
	udp := binary.BigEndian.AppendUint16(nil, 40000)
	udp = binary.BigEndian.AppendUint16(udp, dport)
	udp = binary.BigEndian.AppendUint16(udp, uint16(8+len(payload)))
	udp = append(udp, 0, 0) // no UDP checksum: allowed over IPv4
	udp = append(udp, payload...)
	ip := []byte{0x45, 0, 0, 0, 0, 1, 0, 0, 64, unix.IPPROTO_UDP, 0, 0}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(udp)))
	ip = append(ip, net.ParseIP(hostAddr).To4()...)
	ip = append(ip, 127, 0, 0, 1)
	binary.BigEndian.PutUint16(ip[10:], checksum(ip))
	frame := append(append(append([]byte{}, p.ctrMAC...), p.hostMAC...), 0x08, 0x00)
	frame = append(append(frame, ip...), udp...)
	in(t, p.host, func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		to := &unix.SockaddrLinklayer{Ifindex: p.hostLink.Attrs().Index, Halen: 6}
		copy(to.Addr[:], p.ctrMAC)
		return unix.Sendto(fd, frame, 0, to)
	})
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// loopbackListener listens on 127.0.0.1 (UDP) in the container; received
// reports whether anything arrived within the wait.
func (p *pair) loopbackListener(t *testing.T) (uint16, func(wait time.Duration) bool) {
	t.Helper()
	var pc net.PacketConn
	in(t, p.ctr, func() (err error) {
		pc, err = net.ListenPacket("udp4", "127.0.0.1:0")
		return err
	})
	t.Cleanup(func() { pc.Close() })
	return uint16(pc.LocalAddr().(*net.UDPAddr).Port), func(wait time.Duration) bool {
		if err := pc.SetReadDeadline(time.Now().Add(wait)); err != nil {
			t.Fatal(err)
		}
		_, _, err := pc.ReadFrom(make([]byte, 64))
		if err != nil && !strings.Contains(err.Error(), "timeout") {
			t.Fatal(err)
		}
		return err == nil
	}
}
