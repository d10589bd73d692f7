package l7

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/xoverlay/xoverlay/lbproxy/l7/connpool"
)

// tunnel passes a 101 Switching Protocols answer to the client, then
// copies bytes both ways until either side closes. The handler's
// goroutine copies the backend to the client; one goroutine it starts
// and waits for copies the client to the backend.
func (x *exchange) tunnel(c *connpool.Conn) {
	cc, brw, err := http.NewResponseController(x.w).Hijack()
	if err != nil {
		c.Close()
		x.reply(http.StatusBadGateway, "xo: the backend switched protocols but this connection cannot (HTTP/2?): use HTTP/1.1 for upgrades\n")
		return
	}
	x.u.svc.duration.Observe(x.s.opts.Now().Sub(x.start).Seconds())
	x.observed = true
	t := &tunnelConns{client: cc, backend: c}
	if !x.s.tunnels.add(t) {
		t.close()
		return
	}
	defer x.s.tunnels.remove(t)
	defer t.close()
	cc.SetDeadline(time.Time{})
	c.Arm(0) // a tunnel may be quiet for as long as it likes
	if x.h1 != nil {
		x.h1.c.arm(0)
	}

	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	x.w.Header().Write(brw)
	brw.WriteString("\r\n")
	if err := brw.Flush(); err != nil {
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		defer t.close()
		copyAll(c.Conn, brw.Reader)
	})
	n := copyAll(cc, c.R)
	x.written = n
	t.close()
	wg.Wait()
}

// copyAll copies until EOF or an error, and reports the bytes copied.
func copyAll(dst io.Writer, src *bufio.Reader) int64 {
	n, _ := src.WriteTo(dst)
	return n
}

// tunnelConns are the two ends of an upgraded connection.
type tunnelConns struct {
	client  net.Conn
	backend *connpool.Conn
	once    sync.Once
}

func (t *tunnelConns) close() {
	t.once.Do(func() {
		t.client.Close()
		t.backend.Close()
	})
}

// tunnels tracks the open tunnels: net/http forgets hijacked
// connections, so Shutdown and Close end them here.
type tunnels struct {
	mu     sync.Mutex
	set    map[*tunnelConns]struct{}
	closed bool
	idle   chan struct{} // closed when the set empties after closing began
}

func (ts *tunnels) add(t *tunnelConns) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.closed {
		return false
	}
	if ts.set == nil {
		ts.set = make(map[*tunnelConns]struct{})
	}
	ts.set[t] = struct{}{}
	return true
}

func (ts *tunnels) remove(t *tunnelConns) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	delete(ts.set, t)
	if len(ts.set) == 0 && ts.idle != nil {
		close(ts.idle)
		ts.idle = nil
	}
}

// stop refuses new tunnels and returns a channel closed once none is
// open.
func (ts *tunnels) stop() <-chan struct{} {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.closed = true
	ch := make(chan struct{})
	if len(ts.set) == 0 {
		close(ch)
		return ch
	}
	if ts.idle == nil {
		ts.idle = ch
	}
	return ts.idle
}

// closeAll ends every open tunnel.
func (ts *tunnels) closeAll() {
	ts.mu.Lock()
	open := make([]*tunnelConns, 0, len(ts.set))
	for t := range ts.set {
		open = append(open, t)
	}
	ts.mu.Unlock()
	for _, t := range open {
		t.close()
	}
}
