//go:build linux

package userspace

import (
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

// udpFlow is one client's datagrams to one backend.
type udpFlow struct {
	client  netip.AddrPort
	backend netip.AddrPort
	conn    *net.UDPConn // connected to the backend, from the namespace
	last    atomic.Int64 // unix nanoseconds of the last datagram either way
}

func (f *frontend) serveUDP(pc *net.UDPConn) {
	defer f.p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, client, err := pc.ReadFromUDPAddrPort(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			f.log.Warn("read", "err", err)
			time.Sleep(acceptBackoff)
			continue
		}
		fl := f.flowFor(pc, client)
		if fl == nil {
			continue
		}
		fl.last.Store(time.Now().UnixNano())
		if _, err := fl.conn.Write(buf[:n]); err != nil {
			fl.conn.Close()
		}
	}
}

// flowFor returns client's flow, making one to a backend if needed (nil:
// dropped, for want of a backend or of room).
func (f *frontend) flowFor(pc *net.UDPConn, client netip.AddrPort) *udpFlow {
	f.mu.Lock()
	fl := f.flows[client]
	full := len(f.flows) >= f.p.opt.MaxUDPFlows
	f.mu.Unlock()
	if fl != nil {
		return fl
	}
	if full {
		f.log.Warn("too many UDP flows, datagram dropped", "client", client, "max", f.p.opt.MaxUDPFlows)
		return nil
	}
	c, backend, err := f.dial("udp4")
	if err != nil {
		f.log.Warn("no backend for a UDP flow", "client", client, "err", err)
		return nil
	}
	fl = &udpFlow{client: client, backend: backend, conn: c.(*net.UDPConn)}
	fl.last.Store(time.Now().UnixNano()) // before replies reads it
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		fl.conn.Close()
		return nil
	}
	f.flows[client] = fl
	f.p.wg.Add(1)
	go f.replies(pc, fl)
	return fl
}

// replies copies the backend's datagrams to the client, from the
// frontend's own socket so they come from VIP:port, until the flow idles
// out or is closed.
func (f *frontend) replies(pc *net.UDPConn, fl *udpFlow) {
	defer f.p.wg.Done()
	defer f.dropFlow(fl)
	idle := f.p.opt.UDPIdle
	buf := make([]byte, 64<<10)
	for {
		fl.conn.SetReadDeadline(time.Now().Add(idle))
		n, err := fl.conn.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && time.Since(time.Unix(0, fl.last.Load())) < idle {
				continue // the client spoke meanwhile
			}
			return
		}
		fl.last.Store(time.Now().UnixNano())
		if _, err := pc.WriteToUDPAddrPort(buf[:n], fl.client); errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

func (f *frontend) dropFlow(fl *udpFlow) {
	fl.conn.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.flows[fl.client] == fl {
		delete(f.flows, fl.client)
	}
}
