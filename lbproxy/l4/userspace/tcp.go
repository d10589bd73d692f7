//go:build linux

package userspace

import (
	"errors"
	"io"
	"net"
	"time"
)

func (f *frontend) serveTCP(ln *net.TCPListener) {
	defer f.p.wg.Done()
	for {
		c, err := ln.AcceptTCP()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			f.log.Warn("accept", "err", err)
			time.Sleep(acceptBackoff)
			continue
		}
		f.p.wg.Add(1)
		go f.proxyTCP(c)
	}
}

// proxyTCP joins a client connection to a backend until both directions
// end. Each direction half-closes the other side when its source is done,
// so protocols that shut down writing first still work.
func (f *frontend) proxyTCP(client *net.TCPConn) {
	defer f.p.wg.Done()
	bc, backend, err := f.dial("tcp4")
	if err != nil {
		f.log.Warn("no backend accepted the connection", "client", client.RemoteAddr(), "err", err)
		client.SetLinger(0) // a reset, as the kernel planes give
		client.Close()
		return
	}
	server := bc.(*net.TCPConn)
	if !f.track(client, server) {
		client.Close()
		server.Close()
		return
	}
	defer f.untrack(client, server)
	f.log.Debug("proxying", "client", client.RemoteAddr(), "backend", backend)
	done := make(chan struct{})
	go func() {
		defer close(done)
		copyHalf(server, client)
	}()
	copyHalf(client, server)
	<-done
	client.Close()
	server.Close()
}

// copyHalf copies src to dst (splice between TCP sockets) and then
// closes dst for writing.
func copyHalf(dst, src *net.TCPConn) {
	if _, err := io.Copy(dst, src); err != nil {
		// One side reset: end both directions now.
		dst.Close()
		src.Close()
		return
	}
	dst.CloseWrite()
}
