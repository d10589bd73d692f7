//go:build linux

package kernel

import (
	"crypto/rand"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"

	"github.com/xoverlay/xoverlay/netdriver"
)

// EnsureBridge creates or repairs the bridge and the vxlan device of one
// network. On failure it deletes whatever this call created.
func (n *Netlink) EnsureBridge(spec netdriver.BridgeSpec) error {
	if err := checkNames(spec.Bridge, spec.VXLAN); err != nil {
		return fmt.Errorf("kernel: ensure bridge: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	var created rollback
	if err := n.ensureBridge(spec, &created); err != nil {
		created.run(n)
		return fmt.Errorf("kernel: ensure bridge %s: %w", spec.Bridge, err)
	}
	return nil
}

func (n *Netlink) ensureBridge(spec netdriver.BridgeSpec, created *rollback) error {
	br, made, err := n.ensureLink(bridgeLink(spec), isType("bridge"))
	if err != nil {
		return err
	}
	if made {
		created.add(spec.Bridge)
	}
	if err := n.setGateway(br, spec.Gateway); err != nil {
		return err
	}
	if err := n.configure(br, spec.MTU, 0); err != nil {
		return err
	}
	vx, made, err := n.ensureLink(vxlanLink(spec), func(l netlink.Link) bool { return vxlanFits(l, spec) })
	if err != nil {
		return err
	}
	if made {
		created.add(spec.VXLAN)
	}
	return n.configure(vx, spec.MTU, br.Attrs().Index)
}

// DeleteBridge deletes the vxlan device and the bridge; missing ones are fine.
func (n *Netlink) DeleteBridge(spec netdriver.BridgeSpec) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, name := range []string{spec.VXLAN, spec.Bridge} {
		if name == "" {
			continue
		}
		if err := n.deleteLink(name); err != nil {
			return fmt.Errorf("kernel: delete bridge %s: %w", spec.Bridge, err)
		}
	}
	return nil
}

// bridgeLink describes a new bridge. It gets a fixed random MAC: a bridge
// whose address was never set takes the lowest MAC of its ports, so the
// gateway's MAC would change whenever containers come and go.
func bridgeLink(spec netdriver.BridgeSpec) *netlink.Bridge {
	attrs := netlink.NewLinkAttrs() // TxQLen -1: a zero LinkAttrs would set txqueuelen 0
	attrs.Name = spec.Bridge
	attrs.MTU = spec.MTU
	attrs.HardwareAddr = randomMAC()
	return &netlink.Bridge{LinkAttrs: attrs}
}

// vxlanLink describes the vxlan device: no learning (the control plane
// fills the FDB), ARP/ND proxy on (answers from the neighbour table), no
// miss notifications.
func vxlanLink(spec netdriver.BridgeSpec) *netlink.Vxlan {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = spec.VXLAN
	attrs.MTU = spec.MTU
	return &netlink.Vxlan{
		LinkAttrs: attrs,
		VxlanId:   int(spec.VNI),
		SrcAddr:   spec.Local,
		Port:      spec.Port,
		Learning:  false,
		Proxy:     true,
		L2miss:    false,
		L3miss:    false,
	}
}

// vxlanFits reports whether an existing device matches the settings that
// cannot be changed in place; MTU, master and state are fixed by configure.
func vxlanFits(l netlink.Link, spec netdriver.BridgeSpec) bool {
	vx, ok := l.(*netlink.Vxlan)
	if !ok {
		return false
	}
	return vx.VxlanId == int(spec.VNI) &&
		(spec.Port == 0 || vx.Port == spec.Port) &&
		!vx.Learning && vx.Proxy && !vx.L2miss && !vx.L3miss &&
		sameIP(vx.SrcAddr, spec.Local)
}

func isType(kind string) func(netlink.Link) bool {
	return func(l netlink.Link) bool { return l.Type() == kind }
}

// sameIP treats nil and unspecified as equal ("let the kernel choose").
func sameIP(a, b net.IP) bool {
	if len(a) == 0 || a.IsUnspecified() {
		return len(b) == 0 || b.IsUnspecified()
	}
	return a.Equal(b)
}

// setGateway makes gw the only global address of its family on the bridge.
// Link-local addresses are left alone.
func (n *Netlink) setGateway(br netlink.Link, gw *net.IPNet) error {
	if gw == nil {
		return nil
	}
	family := netlink.FAMILY_V4
	if gw.IP.To4() == nil {
		family = netlink.FAMILY_V6
	}
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return n.handle.AddrList(br, family) })
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", br.Attrs().Name, err)
	}
	present := false
	for _, a := range addrs {
		switch {
		case sameIPNet(a.IPNet, gw):
			present = true
		case a.IP.IsLinkLocalUnicast():
		default:
			if err := n.handle.AddrDel(br, &a); err != nil {
				return fmt.Errorf("remove address %s from %s: %w", a.IPNet, br.Attrs().Name, err)
			}
			n.log.Info("removed stale gateway address", "name", br.Attrs().Name, "addr", a.IPNet.String())
		}
	}
	if present {
		return nil
	}
	if err := n.handle.AddrAdd(br, &netlink.Addr{IPNet: gw}); err != nil {
		return fmt.Errorf("add address %s to %s: %w", gw, br.Attrs().Name, err)
	}
	return nil
}

func sameIPNet(a, b *net.IPNet) bool {
	if a == nil || b == nil {
		return a == b
	}
	aOnes, _ := a.Mask.Size()
	bOnes, _ := b.Mask.Size()
	return a.IP.Equal(b.IP) && aOnes == bOnes
}

// randomMAC returns a random unicast, locally administered MAC address.
func randomMAC() net.HardwareAddr {
	mac := make(net.HardwareAddr, 6)
	_, _ = rand.Read(mac) // crypto/rand.Read never fails on Linux
	mac[0] = mac[0]&0xfe | 0x02
	return mac
}
