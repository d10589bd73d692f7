//go:build linux

package nft

import (
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// socketBuffer is the netlink send and receive buffer of a plane's
// connection. A batch goes in one sendmsg, which the kernel refuses
// (EMSGSIZE) above the send buffer; and the library asks the kernel to
// echo every rule and acknowledge every message, reading the answers only
// after the whole batch, so a default-sized receive buffer (about
// 200 KiB) overflows (ENOBUFS) past about a hundred frontends. 16 MiB
// holds a full rebuild of several thousand frontends; the kernel only
// uses it while a batch is in flight.
const socketBuffer = 16 << 20

// bigBatches sizes the socket for big batches and asks for acks without
// a copy of each request (NETLINK_CAP_ACK).
func bigBatches(c *netlink.Conn) error {
	if err := c.SetOption(netlink.CapAcknowledge, true); err != nil {
		return fmt.Errorf("nft: netlink cap-ack: %w", err)
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("nft: netlink socket: %w", err)
	}
	var rerr, werr error
	if err := raw.Control(func(fd uintptr) {
		// FORCE goes past net.core.[rw]mem_max (the agent is root).
		rerr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, socketBuffer)
		werr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, socketBuffer)
	}); err != nil {
		return fmt.Errorf("nft: netlink socket: %w", err)
	}
	// Without CAP_NET_ADMIN: as large as [rw]mem_max allow.
	if rerr != nil {
		if err := c.SetReadBuffer(socketBuffer); err != nil {
			return fmt.Errorf("nft: netlink receive buffer: %w", err)
		}
	}
	if werr != nil {
		if err := c.SetWriteBuffer(socketBuffer); err != nil {
			return fmt.Errorf("nft: netlink send buffer: %w", err)
		}
	}
	return nil
}
