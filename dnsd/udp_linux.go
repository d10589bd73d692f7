package dnsd

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// oobSize holds the control messages of a query on a wildcard address:
// IP_PKTINFO and IPV6_PKTINFO (an IPv4 query on a dual-stack socket
// brings both).
const oobSize = 128

// peer is a client's address as the kernel gave it, sent back verbatim.
type peer struct {
	sa  unix.RawSockaddrInet6 // or a RawSockaddrInet4 in its first bytes
	len uint32
}

// addrPort is the client's address and port.
func (p *peer) addrPort() netip.AddrPort {
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&p.sa.Port))[:])
	switch p.sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(&p.sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port)
	case unix.AF_INET6:
		ip := netip.AddrFrom16(p.sa.Addr)
		if p.sa.Scope_id != 0 {
			ip = ip.WithZone(strconv.FormatUint(uint64(p.sa.Scope_id), 10))
		}
		return netip.AddrPortFrom(ip, port)
	}
	return netip.AddrPort{}
}

// mmsghdr is the kernel's struct mmsghdr.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// batchConn reads and writes a worker's datagrams with recvmmsg and
// sendmmsg. The socket is non-blocking, so the calls never block: they
// are made as raw system calls, without the scheduler's bookkeeping
// around blocking calls (which wakes the runtime's monitor thread on
// every call when the process is otherwise idle); the poller waits for
// readiness.
type batchConn struct {
	rc    syscall.RawConn
	slots []udpWriter
	rh    []mmsghdr // one per slot, reading
	riov  []unix.Iovec
	wh    []mmsghdr // the replies being sent
	wiov  []unix.Iovec

	n, sent int
	errno   syscall.Errno
	readFn  func(fd uintptr) bool // bound once: no closure per call
	writeFn func(fd uintptr) bool
}

func newBatchConn(conn *net.UDPConn, slots []udpWriter) (*batchConn, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	c := &batchConn{rc: rc, slots: slots, rh: make([]mmsghdr, len(slots)), riov: make([]unix.Iovec, len(slots)),
		wh: make([]mmsghdr, len(slots)), wiov: make([]unix.Iovec, len(slots))}
	for i := range slots {
		sl, h := &slots[i], &c.rh[i].hdr
		c.riov[i].Base = &sl.in[0]
		c.riov[i].SetLen(len(sl.in))
		h.Iov = &c.riov[i]
		h.SetIovlen(1)
		h.Name = (*byte)(unsafe.Pointer(&sl.from.sa))
		if len(sl.inOOB) > 0 {
			h.Control = &sl.inOOB[0]
		}
	}
	c.readFn, c.writeFn = c.recvmmsg, c.sendmmsg
	return c, nil
}

// read waits for datagrams and reads up to one per slot; it returns how
// many.
func (c *batchConn) read() (int, error) {
	for i := range c.rh {
		h := &c.rh[i].hdr
		h.Namelen = unix.SizeofSockaddrInet6
		h.SetControllen(len(c.slots[i].inOOB))
		h.Flags = 0
	}
	c.n, c.errno = 0, 0
	if err := c.rc.Read(c.readFn); err != nil {
		return 0, err
	}
	if c.errno != 0 {
		return 0, os.NewSyscallError("recvmmsg", c.errno)
	}
	for i := range c.n {
		sl, h := &c.slots[i], &c.rh[i]
		sl.n, sl.from.len = int(h.n), h.hdr.Namelen
		sl.oob = nil
		if len(sl.inOOB) > 0 {
			sl.oob = replyOOB(sl.inOOB[:h.hdr.Controllen], sl.oobBuf[:0])
		}
	}
	return c.n, nil
}

func (c *batchConn) recvmmsg(fd uintptr) bool {
	for {
		n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&c.rh[0])), uintptr(len(c.rh)),
			unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // the poller waits
		}
		c.n, c.errno = int(n), e
		return true
	}
}

// write sends the replies of out; one the kernel refuses is skipped.
func (c *batchConn) write(out []*udpWriter) error {
	for i, sl := range out {
		c.wiov[i].Base = unsafe.SliceData(sl.reply)
		c.wiov[i].SetLen(len(sl.reply))
		c.wh[i].hdr = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&sl.from.sa)), Namelen: sl.from.len, Iov: &c.wiov[i]}
		c.wh[i].hdr.SetIovlen(1)
		if len(sl.oob) > 0 {
			c.wh[i].hdr.Control = &sl.oob[0]
			c.wh[i].hdr.SetControllen(len(sl.oob))
		}
	}
	c.n, c.sent, c.errno = len(out), 0, 0
	err := c.rc.Write(c.writeFn)
	clear(c.wh[:len(out)]) // no references to the slots' buffers
	if err == nil && c.errno != 0 {
		err = os.NewSyscallError("sendmmsg", c.errno)
	}
	return err
}

func (c *batchConn) sendmmsg(fd uintptr) bool {
	for c.sent < c.n {
		n, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&c.wh[c.sent])), uintptr(c.n-c.sent),
			unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			c.sent += int(n)
		case unix.EINTR:
		case unix.EAGAIN:
			return false // the poller waits for room
		default:
			c.errno = e
			c.sent++ // the first one failed: skip it
		}
	}
	return true
}

// haveReusePort: several sockets may share an address (SO_REUSEPORT).
const haveReusePort = true

// reusePort is a net.ListenConfig Control that sets SO_REUSEPORT.
func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	if serr != nil {
		return os.NewSyscallError("setsockopt SO_REUSEPORT", serr)
	}
	return nil
}

// recvDstAddr asks for each query's destination address (IP_PKTINFO,
// IPV6_RECVPKTINFO), as dns.Server does on a wildcard address.
func recvDstAddr(conn *net.UDPConn) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var err4, err6 error
	if err := rc.Control(func(fd uintptr) {
		err4 = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		err6 = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
	}); err != nil {
		return err
	}
	if err4 != nil && err6 != nil {
		return errors.Join(err4, err6)
	}
	return nil
}

// replyOOB appends to buf the control message that makes a reply leave
// from the destination address of the query, given the query's control
// messages: the IPv6 one first (a v4-mapped address is answered with
// IP_PKTINFO), as dns.Server does. It returns nil if there is none.
func replyOOB(oob, buf []byte) []byte {
	var dst netip.Addr
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			break
		}
		data := oob[unix.CmsgLen(0):l]
		switch {
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			dst = netip.AddrFrom16([16]byte(data[:16]))
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo && !dst.IsValid():
			dst = netip.AddrFrom4([4]byte(data[8:12])) // ipi_addr, the header's destination
		}
		oob = oob[min(unix.CmsgSpace(l-unix.CmsgLen(0)), len(oob)):]
	}
	if !dst.IsValid() || dst.IsUnspecified() {
		return nil
	}
	if dst = dst.Unmap(); dst.Is4() {
		buf, data := appendCmsg(buf, unix.IPPROTO_IP, unix.IP_PKTINFO, unix.SizeofInet4Pktinfo)
		(*unix.Inet4Pktinfo)(data).Spec_dst = dst.As4()
		return buf
	}
	buf, data := appendCmsg(buf, unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, unix.SizeofInet6Pktinfo)
	(*unix.Inet6Pktinfo)(data).Addr = dst.As16()
	return buf
}

// appendCmsg appends a zeroed control message of level, type and size to
// buf, and returns where its data goes.
func appendCmsg(buf []byte, level, typ int32, size int) ([]byte, unsafe.Pointer) {
	start := len(buf)
	buf = append(buf, make([]byte, unix.CmsgSpace(size))...)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&buf[start]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(size))
	return buf, unsafe.Pointer(&buf[start+unix.CmsgLen(0)])
}
