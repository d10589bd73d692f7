//go:build linux

package userspace

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
)

// acceptBackoff is the pause after an accept or read error that is not a
// close (out of file descriptors, say), so the loop does not spin.
const acceptBackoff = 100 * time.Millisecond

// frontend is the proxy of one VIP:port or published port.
type frontend struct {
	p        *Plane
	key      l4.Key
	log      *slog.Logger
	backends atomic.Pointer[[]netip.AddrPort]

	mu      sync.Mutex
	tcp     *net.TCPListener
	udp     *net.UDPConn
	failed  bool // the socket could not be opened: Reconcile retries
	stopped bool
	ended   bool                        // closeConns ran: no new connections are tracked
	conns   map[net.Conn]struct{}       // both ends of proxied TCP connections
	flows   map[netip.AddrPort]*udpFlow // UDP flows by client address
}

func newFrontend(p *Plane, k l4.Key) *frontend {
	f := &frontend{p: p, key: k, log: p.log.With("frontend", k.String()),
		conns: map[net.Conn]struct{}{}, flows: map[netip.AddrPort]*udpFlow{}}
	f.backends.Store(&[]netip.AddrPort{})
	return f
}

// setBackends switches new connections to bs at once, closes UDP flows to
// backends not in bs, and opens or closes the socket: a frontend without
// backends has none, so connections to it are refused.
func (f *frontend) setBackends(bs []netip.AddrPort) error {
	f.backends.Store(&bs)
	f.mu.Lock()
	defer f.mu.Unlock()
	keep := map[netip.AddrPort]bool{}
	for _, b := range bs {
		keep[b] = true
	}
	for client, fl := range f.flows {
		if !keep[fl.backend] {
			// Out of the table now, so that the client's next datagram
			// makes a new flow (its reply loop ends on the close).
			delete(f.flows, client)
			fl.conn.Close()
		}
	}
	if len(bs) == 0 {
		f.closeSocketLocked()
		f.failed = false
		return nil
	}
	if f.tcp == nil && f.udp == nil {
		return f.openLocked()
	}
	return nil
}

func (f *frontend) broken() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed && !f.stopped
}

func (f *frontend) restart() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tcp != nil || f.udp != nil || len(*f.backends.Load()) == 0 {
		f.failed = false
		return nil
	}
	return f.openLocked()
}

// listenAddr is VIP:port, or 0.0.0.0:port for a published port.
func (f *frontend) listenAddr() netip.AddrPort {
	if f.key.Published() {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), f.key.Port)
	}
	return netip.AddrPortFrom(f.key.VIP, f.key.Port)
}

func (f *frontend) openLocked() error {
	addr := f.listenAddr()
	err := f.p.ns.Do(func() (err error) {
		if f.key.Proto == l4.TCP {
			f.tcp, err = net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(addr))
		} else {
			f.udp, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(addr))
		}
		return err
	})
	if err != nil {
		f.failed = true
		return fmt.Errorf("userspace: listen on %s/%s in %s: %w (free the port, or publish another)", addr, f.key.Proto, f.p.ns.Path(), err)
	}
	f.failed = false
	f.p.wg.Add(1)
	if f.tcp != nil {
		go f.serveTCP(f.tcp)
	} else {
		go f.serveUDP(f.udp)
	}
	return nil
}

func (f *frontend) closeSocketLocked() {
	if f.tcp != nil {
		f.tcp.Close()
		f.tcp = nil
	}
	if f.udp != nil {
		f.udp.Close()
		f.udp = nil
	}
	for _, fl := range f.flows {
		fl.conn.Close()
	}
}

// stop closes the socket and the UDP flows; TCP connections in flight
// finish on their own (or at closeConns).
func (f *frontend) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = true
	f.closeSocketLocked()
}

func (f *frontend) closeConns() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ended = true
	for c := range f.conns {
		c.Close()
	}
}

// track registers c for closeConns; false if the frontend stopped.
func (f *frontend) track(cs ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended {
		return false
	}
	for _, c := range cs {
		f.conns[c] = struct{}{}
	}
	return true
}

func (f *frontend) untrack(cs ...net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range cs {
		delete(f.conns, c)
	}
}

// dial connects to a backend from inside the namespace, so the backend
// sees the namespace's address. It starts at a random backend and tries
// the others if one refuses.
func (f *frontend) dial(network string) (net.Conn, netip.AddrPort, error) {
	bs := *f.backends.Load()
	if len(bs) == 0 {
		return nil, netip.AddrPort{}, errors.New("no backends")
	}
	start := rand.IntN(len(bs))
	var errs []error
	for i := range bs {
		b := bs[(start+i)%len(bs)]
		d := net.Dialer{Timeout: f.p.opt.DialTimeout}
		if f.key.Published() {
			if src := f.p.sourceFor(b.Addr()); src.IsValid() {
				if network == "tcp4" {
					d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
				} else {
					d.LocalAddr = &net.UDPAddr{IP: src.AsSlice()}
				}
			}
		}
		var c net.Conn
		err := f.p.ns.Do(func() (err error) {
			c, err = d.Dial(network, b.String())
			return err
		})
		if err == nil {
			return c, b, nil
		}
		errs = append(errs, err)
	}
	return nil, netip.AddrPort{}, errors.Join(errs...)
}
