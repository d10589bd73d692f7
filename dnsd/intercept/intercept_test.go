//go:build linux

package intercept

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
)

func TestNewRefusesUnreachableResolvers(t *testing.T) {
	for _, s := range []string{"127.0.0.1:53", "0.0.0.0:53", "[::1]:53", "[fd00::53]:53", "169.254.53.53:0"} {
		if _, err := New(netip.MustParseAddrPort(s)); err == nil || !strings.Contains(err.Error(), "169.254.53.53:53") {
			t.Errorf("New(%s) = %v, want an error naming a usable address", s, err)
		}
	}
	x, err := New(netip.MustParseAddrPort("[::ffff:169.254.53.53]:53"))
	if err != nil || x.Resolver().String() != "169.254.53.53:53" {
		t.Fatalf("a mapped IPv4 resolver: %v %v", x, err)
	}
}

// TestFastPath reroutes, in a throwaway container-like namespace with
// Docker-like NAT rules, queries for 127.0.0.11:53 to a resolver in the
// host namespace, then takes it back out.
func TestFastPath(t *testing.T) {
	p := newPair(t)
	dns := net.JoinHostPort(DockerResolver.Addr().String(), "53")
	serve(t, p.ctr, "docker", net.JoinHostPort(DockerResolver.Addr().String(), strconv.Itoa(dockerPort)))
	serve(t, p.host, "dnsd", testResolver+":53")
	p.dockerLike(t)
	x, err := New(netip.MustParseAddrPort(testResolver + ":53"))
	if err != nil {
		t.Fatal(err)
	}
	for _, network := range []string{"udp4", "tcp4"} {
		if got := p.ask(t, network, dns); got != "docker from 127.0.0.1" {
			t.Fatalf("%s before Install: %q, want Docker's resolver", network, got)
		}
	}
	if ok, err := x.Installed(p.ctr); ok || err != nil {
		t.Fatalf("Installed before Install: %v %v", ok, err)
	}

	for range 2 { // the second Install changes nothing
		if err := x.Install(p.ctr); err != nil {
			t.Fatal(err)
		}
		if ok, err := x.Installed(p.ctr); !ok || err != nil {
			t.Fatalf("Installed after Install: %v %v", ok, err)
		}
		if got := p.tableChains(t); !slices.Equal(got, []string{"out", "post", "in"}) {
			t.Fatalf("chains of table %s: %v", TableName, got)
		}
		for _, network := range []string{"udp4", "tcp4"} {
			if got := p.ask(t, network, dns); got != "dnsd from "+ctrAddr {
				t.Fatalf("%s to 127.0.0.11:53: %q, want the resolver, asked from the container's address", network, got)
			}
		}
	}
	if got := p.localnet(t); got != "1" {
		t.Fatalf("route_localnet %q after Install", got)
	}

	t.Run("a neighbour cannot reach the container's loopback", func(t *testing.T) {
		port, received := p.loopbackListener(t)
		p.sendToLoopback(t, port)
		if received(300 * time.Millisecond) {
			t.Fatal("a datagram for 127.0.0.1 from outside lo reached a loopback socket")
		}
		// Control: without the drop rule, the same frame gets through
		// (route_localnet=1): the frame is right and the rule is needed.
		c, err := nftables.New(nftables.WithNetNSFd(int(nsHandle(t, p.ctr))))
		if err != nil {
			t.Fatal(err)
		}
		tb, chains := x.spec()
		c.FlushChain(&nftables.Chain{Name: chains[2].chain.Name, Table: tb})
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		if ok, err := x.Installed(p.ctr); ok || err != nil {
			t.Fatalf("Installed without the drop rule: %v %v", ok, err)
		}
		p.sendToLoopback(t, port)
		if !received(5 * time.Second) {
			t.Fatal("control: the frame did not arrive even without the drop rule")
		}
		if err := x.Install(p.ctr); err != nil {
			t.Fatal(err)
		}
		if ok, err := x.Installed(p.ctr); !ok || err != nil {
			t.Fatalf("Installed after repair: %v %v", ok, err)
		}
	})

	t.Run("another resolver replaces the table", func(t *testing.T) {
		serve(t, p.host, "other", testResolver+":5300")
		y, err := New(netip.MustParseAddrPort(testResolver + ":5300"))
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := y.Installed(p.ctr); ok || err != nil {
			t.Fatalf("Installed for another resolver: %v %v", ok, err)
		}
		if err := y.Install(p.ctr); err != nil {
			t.Fatal(err)
		}
		if got := p.ask(t, "udp4", dns); got != "other from "+ctrAddr {
			t.Fatalf("after replacing: %q", got)
		}
		if err := x.Install(p.ctr); err != nil {
			t.Fatal(err)
		}
	})

	for range 2 { // removing twice is fine
		if err := x.Remove(p.ctr); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := x.Installed(p.ctr); ok || err != nil {
		t.Fatalf("Installed after Remove: %v %v", ok, err)
	}
	if got := p.tableChains(t); len(got) != 0 {
		t.Fatalf("chains left after Remove: %v", got)
	}
	if got := p.localnet(t); got != "0" {
		t.Fatalf("route_localnet %q after Remove", got)
	}
	for _, network := range []string{"udp4", "tcp4"} {
		if got := p.ask(t, network, dns); got != "docker from 127.0.0.1" {
			t.Fatalf("%s after Remove: %q, want Docker's resolver again", network, got)
		}
	}
}

// TestNoRoute keeps Docker's path for a namespace that cannot reach the
// resolver (a container only on --internal networks).
func TestNoRoute(t *testing.T) {
	p := newPair(t)
	x, err := New(netip.MustParseAddrPort(testResolver + ":53"))
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Install(p.ctr); err != nil {
		t.Fatal(err)
	}
	h := handle(t, p.ctr)
	if err := h.RouteDel(&netlink.Route{Dst: nil, Gw: net.ParseIP(hostAddr)}); err != nil {
		t.Fatal(err)
	}
	if err := x.Install(p.ctr); !errors.Is(err, ErrNoRoute) {
		t.Fatalf("Install without a route to the resolver: %v, want ErrNoRoute", err)
	}
	if got := p.tableChains(t); len(got) != 0 {
		t.Fatalf("chains left after a refused Install: %v", got)
	}
	if got := p.localnet(t); got != "0" {
		t.Fatalf("route_localnet %q after a refused Install", got)
	}
}

func TestRefusesOwnNamespace(t *testing.T) {
	requireRoot(t)
	x, err := New(netip.MustParseAddrPort(testResolver + ":53"))
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []func(string) error{x.Install, x.Remove} {
		if err := op("/proc/self/ns/net"); err == nil || !strings.Contains(err.Error(), "own network namespace") {
			t.Fatalf("own namespace: %v", err)
		}
	}
	if _, err := x.Installed("/nonexistent/netns"); err == nil || !strings.Contains(err.Error(), "/nonexistent/netns") {
		t.Fatalf("missing namespace: %v", err)
	}
}
