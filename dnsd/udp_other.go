//go:build !linux

package dnsd

import (
	"net"
	"net/netip"
	"syscall"
)

// oobSize is 0: outside Linux, replies on a wildcard address leave from
// the address the kernel picks.
const oobSize = 0

// peer is a client's address.
type peer struct{ ap netip.AddrPort }

func (p *peer) addrPort() netip.AddrPort { return p.ap }

// batchConn reads and writes one datagram per system call, outside Linux.
type batchConn struct {
	conn  *net.UDPConn
	slots []udpWriter
}

func newBatchConn(conn *net.UDPConn, slots []udpWriter) (*batchConn, error) {
	return &batchConn{conn: conn, slots: slots}, nil
}

// read waits for one datagram.
func (c *batchConn) read() (int, error) {
	sl := &c.slots[0]
	n, ap, err := c.conn.ReadFromUDPAddrPort(sl.in)
	if err != nil {
		return 0, err
	}
	sl.n, sl.from.ap, sl.oob = n, ap, nil
	return 1, nil
}

// write sends the replies of out; one the kernel refuses is skipped.
func (c *batchConn) write(out []*udpWriter) error {
	var first error
	for _, sl := range out {
		if _, err := c.conn.WriteToUDPAddrPort(sl.reply, sl.from.ap); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// haveReusePort is false outside Linux: one socket, one worker.
const haveReusePort = false

func reusePort(string, string, syscall.RawConn) error { return nil }

// recvDstAddr does nothing outside Linux.
func recvDstAddr(*net.UDPConn) error { return nil }
