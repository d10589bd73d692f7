package l7

import (
	"errors"
	"net"
	"net/http"
	"sync"
)

// h2front serves the connections that open with the HTTP/2 preface
// (cleartext HTTP/2 with prior knowledge) with net/http's HTTP/2
// server. Its serving goroutine belongs to the Server.
type h2front struct {
	srv  *http.Server
	ln   *chanListener
	done chan struct{}
}

func newH2Front(s *Server) *h2front {
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	h := &h2front{
		srv: &http.Server{
			Handler:        s,
			Protocols:      &protos,
			IdleTimeout:    s.opts.IdleTimeout,
			MaxHeaderBytes: s.opts.MaxHeaderBytes,
			ErrorLog:       newErrorLog(s.log),
		},
		ln:   newChanListener(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(h.done)
		h.srv.Serve(h.ln)
	}()
	return h
}

// serve hands c over; the h1 loop must forget it.
func (h *h2front) serve(c *h1conn) {
	c.arm(0)
	c.hijacked = true
	c.s.untrack(c)
	buffered, _ := c.br.Peek(c.br.Buffered())
	nc := newPrefixConn(c.nc, buffered)
	if !h.ln.push(nc) {
		nc.Close()
	}
}

// chanListener is a net.Listener fed by h2front.serve.
type chanListener struct {
	ch     chan net.Conn
	once   sync.Once
	closed chan struct{}
}

func newChanListener() *chanListener {
	return &chanListener{ch: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *chanListener) push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.closed:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return h2Addr{} }

type h2Addr struct{}

func (h2Addr) Network() string { return "h2c" }
func (h2Addr) String() string  { return "h2c" }

var errServerClosed = errors.New("l7: server closed")
