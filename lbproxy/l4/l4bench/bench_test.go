//go:build linux

// Package l4bench measures the L4 data planes in throwaway namespaces:
// the time to apply rule updates with 100 and 1,000 services, and TCP
// throughput and new connections per second through a VIP (nftables,
// userspace) against the same backend reached directly. Run as root:
//
//	go test -run - -bench . -benchtime 3x ./lbproxy/l4/l4bench/
//
// Every load is bounded by -benchtime and goes only to the namespaces the
// benchmark made.
package l4bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
	"github.com/xoverlay/xoverlay/lbproxy/l4/l4test"
	"github.com/xoverlay/xoverlay/lbproxy/l4/nft"
	"github.com/xoverlay/xoverlay/lbproxy/l4/userspace"
)

type planeFactory struct {
	name string
	new  func(b *testing.B, path string) l4.DataPlane
}

var planes = []planeFactory{
	{l4.PlaneNFTables, func(b *testing.B, path string) l4.DataPlane {
		p, err := nft.New(path, nft.Options{})
		if err != nil {
			b.Fatal(err)
		}
		return p
	}},
	{l4.PlaneUserspace, func(b *testing.B, path string) l4.DataPlane {
		p, err := userspace.New(path, userspace.Options{})
		if err != nil {
			b.Fatal(err)
		}
		return p
	}},
}

// services returns n VIP services of 3 backends each, VIPs in 10.78/16
// (never routed: nothing is sent to them).
func services(n int) []l4.Service {
	out := make([]l4.Service, n)
	for i := range out {
		vip := netip.AddrFrom4([4]byte{10, 78, byte(i / 250), byte(1 + i%250)})
		out[i] = l4.Service{VIP: vip, Port: 80, Proto: l4.TCP, Backends: []netip.AddrPort{
			netip.MustParseAddrPort("10.77.11.2:80"), netip.MustParseAddrPort("10.77.12.2:80"), netip.MustParseAddrPort("10.77.13.2:80"),
		}}
	}
	return out
}

func mustApply(b *testing.B, p l4.DataPlane, d l4.Desired) {
	if err := p.Apply(context.Background(), d); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkApply: time of one Apply with N services in place.
//   - full: the first Apply of a plane, programming all N services;
//   - add1: one service added to N (and removed again: 2 Applies per op);
//   - backends1: one service's backends changed among N;
//   - reconcile: one Reconcile pass over N services, nothing to fix.
func BenchmarkApply(b *testing.B) {
	for _, pf := range planes {
		for _, n := range []int{100, 1000} {
			b.Run(fmt.Sprintf("%s/full/%d", pf.name, n), func(b *testing.B) {
				net := l4test.NewNet(b, 0)
				d := l4.Desired{Services: services(n)}
				for b.Loop() {
					b.StopTimer()
					p := pf.new(b, net.Client.Path())
					if pf.name == l4.PlaneUserspace {
						mustApply(b, p, l4.Desired{})
					}
					b.StartTimer()
					mustApply(b, p, d)
					b.StopTimer()
					p.Close()
					b.StartTimer()
				}
			})
			b.Run(fmt.Sprintf("%s/add1/%d", pf.name, n), func(b *testing.B) {
				net := l4test.NewNet(b, 0)
				p := pf.new(b, net.Client.Path())
				defer p.Close()
				base := l4.Desired{Services: services(n)}
				more := l4.Desired{Services: services(n + 1)}
				mustApply(b, p, base)
				for b.Loop() {
					mustApply(b, p, more)
					mustApply(b, p, base)
				}
			})
			b.Run(fmt.Sprintf("%s/backends1/%d", pf.name, n), func(b *testing.B) {
				net := l4test.NewNet(b, 0)
				p := pf.new(b, net.Client.Path())
				defer p.Close()
				a := l4.Desired{Services: services(n)}
				c := l4.Desired{Services: services(n)}
				c.Services[n/2].Backends = c.Services[n/2].Backends[1:]
				mustApply(b, p, a)
				i := 0
				for b.Loop() {
					if i%2 == 0 {
						mustApply(b, p, c)
					} else {
						mustApply(b, p, a)
					}
					i++
				}
			})
			b.Run(fmt.Sprintf("%s/reconcile/%d", pf.name, n), func(b *testing.B) {
				net := l4test.NewNet(b, 0)
				p := pf.new(b, net.Client.Path())
				defer p.Close()
				mustApply(b, p, l4.Desired{Services: services(n)})
				for b.Loop() {
					if fixes, err := p.Reconcile(context.Background()); err != nil || fixes != 0 {
						b.Fatalf("reconcile: %d fixes, %v", fixes, err)
					}
				}
			})
		}
	}
}

const sinkPort = 5001

// sink discards whatever is sent to sinkPort in the backend's namespace.
func sink(b *testing.B, be *l4test.Backend) {
	var ln net.Listener
	if err := be.Do(func() (err error) {
		ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", sinkPort))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.Copy(io.Discard, c)
				c.Close()
			}()
		}
	}()
	b.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
}

// path is one way from the client to backend b1: straight to its address,
// or through a VIP with a plane. "direct" has the nftables plane loaded in
// the client's namespace (as on a node: conntrack runs for every
// connection either way) and dials the task's address; "bare" has no
// rules at all.
type path struct {
	name  string
	plane *planeFactory
	viaIP bool // dial the VIP (else the task's address)
}

func paths() []path {
	return []path{
		{name: "bare"},
		{name: "direct", plane: &planes[0]},
		{name: l4.PlaneNFTables, plane: &planes[0], viaIP: true},
		{name: l4.PlaneUserspace, plane: &planes[1], viaIP: true},
	}
}

// setupPath returns the address the client dials for port on b1.
func setupPath(b *testing.B, n *l4test.Net, pt path, port uint16) netip.AddrPort {
	be := n.Backends[0]
	if pt.plane != nil {
		p := pt.plane.new(b, n.Client.Path())
		b.Cleanup(func() { p.Close() })
		mustApply(b, p, l4.Desired{Services: []l4.Service{
			{VIP: l4test.VIP, Port: port, Proto: l4.TCP, Backends: []netip.AddrPort{netip.AddrPortFrom(be.Addr, port)}},
		}})
	}
	if pt.viaIP {
		return netip.AddrPortFrom(l4test.VIP, port)
	}
	return netip.AddrPortFrom(be.Addr, port)
}

// BenchmarkThroughput: one TCP stream from the client to b1, 64 KiB
// writes.
func BenchmarkThroughput(b *testing.B) {
	for _, pt := range paths() {
		b.Run(pt.name, func(b *testing.B) {
			n := l4test.NewNet(b, 1)
			sink(b, n.Backends[0])
			dst := setupPath(b, n, pt, sinkPort)
			var c net.Conn
			if err := n.Client.Do(func() (err error) {
				c, err = net.Dial("tcp4", dst.String())
				return err
			}); err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			buf := make([]byte, 64<<10)
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkConnect: new TCP connections per second from the client to b1
// (connect, read the one-line answer, close).
func BenchmarkConnect(b *testing.B) {
	for _, pt := range paths() {
		b.Run(pt.name, func(b *testing.B) {
			n := l4test.NewNet(b, 1)
			dst := setupPath(b, n, pt, l4test.TCPPort)
			for b.Loop() {
				if _, err := l4test.DialTCP(n.Client, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
