//go:build linux

// Package intercept is dnsd's fast path inside a container: the queries a
// container sends to Docker's embedded resolver (127.0.0.11:53, UDP and
// TCP) go to dnsd instead, from the container's own address, so dnsd
// still knows who asks.
//
// In the container's network namespace it installs one nftables table,
// "ip xo_dns", with three chains:
//
//   - out (nat output, priority -110): DNAT 127.0.0.11:53 to dnsd. It runs
//     before Docker's own nat OUTPUT rules (priority -100), which DNAT the
//     same packets to the embedded resolver's port; the first NAT binding
//     of a connection wins.
//   - post (nat postrouting, priority 90): masquerade what leaves with a
//     127.0.0.0/8 source for dnsd, so the query carries the container's
//     address.
//   - in (filter input): drop packets for 127.0.0.0/8 that arrive on any
//     device but lo and start a connection; see route_localnet below.
//
// and it sets net.ipv4.conf.all.route_localnet=1 in that namespace: without
// it the kernel refuses to route a packet whose source is 127.0.0.1 (the
// rerouted query) out of eth0 (sendto fails with EINVAL), and drops its
// reply, whose destination is 127.0.0.1 again after the reverse NAT.
// route_localnet also lets a neighbour reach the container's
// loopback-only services through eth0; the "in" chain closes that again
// (replies of the rerouted queries are conntrack replies and pass).
package intercept

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strings"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// TableName is the nftables table (family ip) the fast path lives in.
const TableName = "xo_dns"

// DockerResolver is the address of Docker's embedded resolver in every
// container on a user-defined network.
var DockerResolver = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 11}), 53)

const localnetSysctl = "/proc/sys/net/ipv4/conf/all/route_localnet"

// Interceptor installs, checks and removes the fast path towards one
// resolver (dnsd's address) in network namespaces given by path: a
// container's SandboxKey or /proc/PID/ns/net. It holds no state; its
// methods may run concurrently.
type Interceptor struct {
	resolver netip.AddrPort
}

// New returns an Interceptor that reroutes to resolver, which containers
// must reach through their gateway: an IPv4 address that is not loopback
// (the container's own) or unspecified, with a port.
func New(resolver netip.AddrPort) (*Interceptor, error) {
	a := resolver.Addr().Unmap()
	if !a.Is4() || a.IsLoopback() || a.IsUnspecified() || resolver.Port() == 0 {
		return nil, fmt.Errorf("intercept: resolver %s: want an IPv4 address:port that containers reach through "+
			"their gateway (like 169.254.53.53:53), not loopback or unspecified", resolver)
	}
	return &Interceptor{resolver: netip.AddrPortFrom(a, resolver.Port())}, nil
}

// Resolver is where intercepted queries go.
func (x *Interceptor) Resolver() netip.AddrPort { return x.resolver }

// ErrNoRoute is returned by Install for a namespace without a route to
// the resolver (a container only on --internal networks): there the fast
// path would break every query, so the container keeps Docker's path.
var ErrNoRoute = errors.New("no route to the resolver")

// Install puts the fast path into the namespace at nsPath, replacing in
// one transaction whatever table of that name is there: calling it again
// changes nothing. On failure it leaves the namespace as Remove does, so
// the container keeps Docker's path.
func (x *Interceptor) Install(nsPath string) error {
	ns, err := open(nsPath)
	if err != nil {
		return err
	}
	defer ns.Close()
	if err := x.routed(ns); err != nil {
		if rerr := remove(ns); rerr != nil {
			err = errors.Join(err, fmt.Errorf("removing an older table: %w", rerr))
		}
		return fmt.Errorf("intercept: %s: %w", nsPath, err)
	}
	if err := setLocalnet(ns, true); err != nil {
		return fmt.Errorf("intercept: %s: %w", nsPath, err)
	}
	err = x.replaceTable(ns)
	if err == nil {
		return nil
	}
	if rerr := errors.Join(remove(ns), setLocalnet(ns, false)); rerr != nil {
		err = errors.Join(err, fmt.Errorf("undoing it: %w", rerr))
	}
	return fmt.Errorf("intercept: %s: %w", nsPath, err)
}

// Remove takes the fast path out of the namespace at nsPath (nothing to
// do when it is not there): queries to 127.0.0.11 reach Docker's
// resolver again.
func (x *Interceptor) Remove(nsPath string) error {
	ns, err := open(nsPath)
	if err != nil {
		return err
	}
	defer ns.Close()
	if err := remove(ns); err != nil {
		return fmt.Errorf("intercept: %s: %w", nsPath, err)
	}
	return nil
}

// Installed tells whether the namespace at nsPath holds exactly this
// Interceptor's fast path: the table with its chains and rules, and
// route_localnet on.
func (x *Interceptor) Installed(nsPath string) (bool, error) {
	ns, err := open(nsPath)
	if err != nil {
		return false, err
	}
	defer ns.Close()
	ok, err := x.tableMatches(ns)
	if err != nil || !ok {
		return false, wrapPath(nsPath, err)
	}
	v, err := readSysctl(ns, localnetSysctl)
	if err != nil {
		return false, fmt.Errorf("intercept: %s: %w", nsPath, err)
	}
	return v == "1", nil
}

func wrapPath(nsPath string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("intercept: %s: %w", nsPath, err)
}

// routed checks that the namespace has a route to the resolver.
func (x *Interceptor) routed(ns netns.NsHandle) error {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	if _, err := h.RouteGet(x.resolver.Addr().AsSlice()); err != nil {
		return fmt.Errorf("%w %s: %w", ErrNoRoute, x.resolver.Addr(), err)
	}
	return nil
}

// remove deletes the table, then turns route_localnet off; a namespace
// without the table is left alone (its route_localnet is not ours).
func remove(ns netns.NsHandle) error {
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	if present, err := hasTable(c); err != nil || !present {
		return err
	}
	c.DelTable(&nftables.Table{Name: TableName, Family: nftables.TableFamilyIPv4})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: delete table ip %s: %w", TableName, err)
	}
	return setLocalnet(ns, false)
}

// open opens a network namespace by path, refusing this process's own:
// the host's namespace must never get the fast path (a container on the
// host network has the host's SandboxKey).
func open(nsPath string) (netns.NsHandle, error) {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return netns.None(), fmt.Errorf("intercept: network namespace %s: %w", nsPath, err)
	}
	self, err := netns.Get() // this thread's: never one moved elsewhere
	if err != nil {
		ns.Close()
		return netns.None(), fmt.Errorf("intercept: own network namespace: %w", err)
	}
	defer self.Close()
	if ns.Equal(self) {
		ns.Close()
		return netns.None(), fmt.Errorf("intercept: %s is the agent's own network namespace: refusing to change it", nsPath)
	}
	return ns, nil
}

func setLocalnet(ns netns.NsHandle, on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	return inNetNS(ns, func() error {
		if err := os.WriteFile(localnetSysctl, []byte(v), 0); err != nil {
			return fmt.Errorf("route_localnet=%s: %w", v, err)
		}
		return nil
	})
}

func readSysctl(ns netns.NsHandle, path string) (string, error) {
	var v string
	err := inNetNS(ns, func() error {
		b, err := os.ReadFile(path)
		v = strings.TrimSpace(string(b))
		return err
	})
	return v, err
}

// inNetNS runs fn on a thread of its own inside ns (/proc/sys/net is the
// namespace of the thread that opens it), then moves the thread back. A
// thread that cannot be moved back stays locked, so the runtime never
// runs another goroutine on it.
func inNetNS(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("own network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("leave network namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
