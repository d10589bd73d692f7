package connpool

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// alive peeks at a connection without blocking: a backend that closed it
// (EOF or an error) or sent something unasked makes it unusable.
func alive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ok = false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		ok = err == unix.EAGAIN || err == unix.EWOULDBLOCK // nothing to read: open and quiet
		return true
	})
	return err == nil && ok
}
