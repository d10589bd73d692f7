//go:build linux

package kernel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"
)

// EnsureLocalAddress puts addr (a host route like 169.254.53.53/32) on a
// dummy device named name, creating the device when it is missing and
// setting it up: an address of this host that every container reaches
// through its gateway, whatever network it is on. On a kernel without the
// dummy driver the address goes on lo instead. It returns the device used.
func (n *Netlink) EnsureLocalAddress(name string, addr netip.Prefix) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	link, err := n.localDevice(name)
	if err != nil {
		return "", err
	}
	dev := link.Attrs().Name
	ipnet := &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), addr.Addr().BitLen())}
	if err := n.handle.AddrReplace(link, &netlink.Addr{IPNet: ipnet}); err != nil {
		return "", fmt.Errorf("kernel: address %s on %s: %w", addr, dev, err)
	}
	if err := n.handle.LinkSetUp(link); err != nil {
		return "", fmt.Errorf("kernel: set %s up: %w", dev, err)
	}
	return dev, nil
}

// localDevice finds or makes the dummy device, or returns lo when the
// kernel has no dummy driver.
func (n *Netlink) localDevice(name string) (netlink.Link, error) {
	link, err := n.handle.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	switch {
	case errors.As(err, &notFound):
	case err != nil:
		return nil, fmt.Errorf("kernel: link %s: %w", name, err)
	case link.Type() != "dummy":
		return nil, fmt.Errorf("kernel: %s exists and is a %s, not a dummy device; remove it or choose another --dns-listen", name, link.Type())
	default:
		return link, nil
	}
	d := &netlink.Dummy{LinkAttrs: netlink.NewLinkAttrs()}
	d.Name = name
	err = n.handle.LinkAdd(d)
	switch {
	case errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOTSUP):
		n.log.Info("the kernel has no dummy devices; the address goes on lo", "device", name)
		if link, err = n.handle.LinkByName("lo"); err != nil {
			return nil, fmt.Errorf("kernel: link lo: %w", err)
		}
		return link, nil
	case err != nil && !errors.Is(err, syscall.EEXIST):
		return nil, fmt.Errorf("kernel: add dummy %s: %w", name, err)
	}
	if link, err = n.handle.LinkByName(name); err != nil {
		return nil, fmt.Errorf("kernel: dummy %s: %w", name, err)
	}
	return link, nil
}
