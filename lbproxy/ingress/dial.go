//go:build linux

package ingress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/xoverlay/xoverlay/lbproxy/l4/inns"
)

// errNoSandbox is a dial before the ingress container runs.
var errNoSandbox = errors.New("the node's ingress container is not running yet")

// nsDialer connects from the ingress container's network namespace, so
// that the tasks see (and answer) the node's own address on their
// network. It is safe for concurrent use; Set swaps the namespace while
// dials go on.
type nsDialer struct {
	cur atomic.Pointer[nsRef]
}

// nsRef is an open namespace with its users: the dialer holds one
// reference, each dial in progress another; the last one closes it.
type nsRef struct {
	ns   *inns.NS
	refs atomic.Int64
}

func (r *nsRef) release() {
	if r.refs.Add(-1) == 0 {
		r.ns.Close()
	}
}

// Set makes the dialer use the namespace at path ("": none).
func (d *nsDialer) Set(path string) error {
	var next *nsRef
	if path != "" {
		ns, err := inns.Open(path)
		if err != nil {
			return fmt.Errorf("ingress: %w", err)
		}
		next = &nsRef{ns: ns}
		next.refs.Store(1)
	}
	if old := d.cur.Swap(next); old != nil {
		old.release()
	}
	return nil
}

// Path is the namespace in use, "" for none.
func (d *nsDialer) Path() string {
	if r := d.cur.Load(); r != nil {
		return r.ns.Path()
	}
	return ""
}

func (d *nsDialer) acquire() *nsRef {
	for {
		r := d.cur.Load()
		if r == nil {
			return nil
		}
		if r.refs.Add(1) > 1 {
			return r
		}
		r.refs.Add(-1) // it was being closed: look again
	}
}

// DialContext connects to addr from the namespace. The socket is made
// on a thread inside the namespace and stays there; it is used from any
// goroutine afterwards.
func (d *nsDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	r := d.acquire()
	if r == nil {
		return nil, errNoSandbox
	}
	defer r.release()
	var c net.Conn
	err := r.ns.Do(func() (err error) {
		nd := net.Dialer{KeepAlive: 30 * time.Second}
		c, err = nd.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Close drops the namespace.
func (d *nsDialer) Close() {
	if old := d.cur.Swap(nil); old != nil {
		old.release()
	}
}
