//go:build linux

package kernel

import (
	"fmt"
	"strings"

	"github.com/xoverlay/xoverlay/netdriver"
)

// ListOwned lists the devices in this namespace carrying xoverlay's
// prefixes, in the kernel's (ifindex) order.
func (n *Netlink) ListOwned() (netdriver.Owned, error) {
	links, err := retryDump(n.handle.LinkList)
	if err != nil {
		return netdriver.Owned{}, fmt.Errorf("kernel: list links: %w", err)
	}
	var out netdriver.Owned
	for _, l := range links {
		name := l.Attrs().Name
		switch {
		case strings.HasPrefix(name, netdriver.BridgePrefix):
			out.Bridges = append(out.Bridges, name)
		case strings.HasPrefix(name, netdriver.VXLANPrefix):
			out.VXLANs = append(out.VXLANs, name)
		case strings.HasPrefix(name, netdriver.VethHostPrefix):
			out.Veths = append(out.Veths, name)
		}
	}
	return out, nil
}
