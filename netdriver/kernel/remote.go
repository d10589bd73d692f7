//go:build linux

package kernel

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/vishvananda/netlink"

	"github.com/xoverlay/xoverlay/netdriver"
)

// AddRemote tells the vxlan device that mac lives behind vtep: a permanent
// FDB entry (mac -> vtep, "self") and, when ip is set, a permanent
// neighbour entry (ip -> mac) that the ARP/ND proxy answers from. Existing
// entries are replaced, so a MAC that moved to another VTEP is updated.
func (n *Netlink) AddRemote(vxlan string, mac net.HardwareAddr, ip net.IP, vtep net.IP) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.addRemote(vxlan, mac, ip, vtep); err != nil {
		return fmt.Errorf("kernel: add remote %s via %s on %s: %w", mac, vtep, vxlan, err)
	}
	return nil
}

func (n *Netlink) addRemote(vxlan string, mac net.HardwareAddr, ip, vtep net.IP) error {
	if err := checkRemote(mac, vtep); err != nil {
		return err
	}
	link, err := n.linkByName(vxlan)
	if err != nil {
		return err
	}
	if link == nil {
		return fmt.Errorf("device %s does not exist", vxlan)
	}
	// FDB first: the proxy must not answer for a MAC we cannot reach yet.
	if err := n.handle.NeighSet(fdbEntry(link, mac, vtep)); err != nil {
		return fmt.Errorf("set fdb entry: %w", err)
	}
	if ip == nil {
		return nil
	}
	if err := n.handle.NeighSet(neighEntry(link, mac, ip)); err != nil {
		return fmt.Errorf("set neighbour %s: %w", ip, err)
	}
	return nil
}

// DelRemote removes what AddRemote wrote. The neighbour entry is removed
// (when ip is set) only while it still maps ip to mac, and the FDB entry
// (when vtep is set) only while it still points at vtep, so entries taken
// over by another endpoint survive. Missing entries and a missing device
// are fine.
func (n *Netlink) DelRemote(vxlan string, mac net.HardwareAddr, ip net.IP, vtep net.IP) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.delRemote(vxlan, mac, ip, vtep); err != nil {
		return fmt.Errorf("kernel: delete remote %s via %s on %s: %w", mac, vtep, vxlan, err)
	}
	return nil
}

func (n *Netlink) delRemote(vxlan string, mac net.HardwareAddr, ip, vtep net.IP) error {
	if len(mac) != 6 {
		return fmt.Errorf("invalid mac %q", mac)
	}
	link, err := n.linkByName(vxlan)
	if err != nil || link == nil {
		return err
	}
	if ip != nil {
		if err := n.delNeighIfMAC(link, mac, ip); err != nil {
			return err
		}
	}
	if vtep == nil {
		return nil
	}
	if err := n.handle.NeighDel(fdbEntry(link, mac, vtep)); err != nil && !isGone(err) {
		return fmt.Errorf("delete fdb entry: %w", err)
	}
	return nil
}

func (n *Netlink) delNeighIfMAC(link netlink.Link, mac net.HardwareAddr, ip net.IP) error {
	family := netlink.FAMILY_V4
	if ip.To4() == nil {
		family = netlink.FAMILY_V6
	}
	neighs, err := retryDump(func() ([]netlink.Neigh, error) {
		return n.handle.NeighList(link.Attrs().Index, family)
	})
	if err != nil {
		return fmt.Errorf("list neighbours: %w", err)
	}
	for _, nb := range neighs {
		if !nb.IP.Equal(ip) || nb.HardwareAddr.String() != mac.String() {
			continue
		}
		if err := n.handle.NeighDel(&nb); err != nil && !isGone(err) {
			return fmt.Errorf("delete neighbour %s: %w", ip, err)
		}
	}
	return nil
}

func checkRemote(mac net.HardwareAddr, vtep net.IP) error {
	if len(mac) != 6 {
		return fmt.Errorf("invalid mac %q", mac)
	}
	if vtep == nil {
		return errors.New("missing vtep address")
	}
	return nil
}

// fdbEntry is "bridge fdb ... dev VXLAN dst VTEP self permanent".
func fdbEntry(link netlink.Link, mac net.HardwareAddr, vtep net.IP) *netlink.Neigh {
	return &netlink.Neigh{
		LinkIndex:    link.Attrs().Index,
		Family:       syscall.AF_BRIDGE,
		Flags:        netlink.NTF_SELF,
		State:        netlink.NUD_PERMANENT,
		IP:           vtep,
		HardwareAddr: mac,
	}
}

// neighEntry is "ip neigh replace IP lladdr MAC dev VXLAN nud permanent".
func neighEntry(link netlink.Link, mac net.HardwareAddr, ip net.IP) *netlink.Neigh {
	return &netlink.Neigh{
		LinkIndex:    link.Attrs().Index,
		State:        netlink.NUD_PERMANENT,
		IP:           ip,
		HardwareAddr: mac,
	}
}

// isGone reports errors that mean the entry or device is already gone.
func isGone(err error) bool {
	return errors.Is(err, syscall.ENOENT) || isNotFound(err)
}

// ListRemotes lists what the vxlan device knows of remote endpoints: its
// FDB entries with a destination ("bridge fdb ... dst VTEP self"; the
// all-zero MAC of a flood entry included) and its permanent IPv4
// neighbour entries, merged by MAC. A missing device is
// netdriver.ErrNoDevice.
func (n *Netlink) ListRemotes(vxlan string) ([]netdriver.Remote, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	out, err := n.listRemotes(vxlan)
	if err != nil {
		return nil, fmt.Errorf("kernel: list remotes on %s: %w", vxlan, err)
	}
	return out, nil
}

func (n *Netlink) listRemotes(vxlan string) ([]netdriver.Remote, error) {
	link, err := n.linkByName(vxlan)
	if err != nil {
		return nil, err
	}
	if link == nil {
		return nil, netdriver.ErrNoDevice
	}
	if link.Type() != "vxlan" {
		return nil, fmt.Errorf("%s is a %s, not a vxlan device", vxlan, link.Type())
	}
	idx := link.Attrs().Index
	fdb, err := retryDump(func() ([]netlink.Neigh, error) { return n.handle.NeighList(idx, syscall.AF_BRIDGE) })
	if err != nil {
		return nil, fmt.Errorf("list fdb: %w", err)
	}
	neighs, err := retryDump(func() ([]netlink.Neigh, error) { return n.handle.NeighList(idx, netlink.FAMILY_V4) })
	if err != nil {
		return nil, fmt.Errorf("list neighbours: %w", err)
	}
	var out []netdriver.Remote
	byMAC := map[string][]int{} // MAC -> indexes in out still lacking an IP
	for _, e := range fdb {
		if e.LinkIndex != idx || e.Flags&netlink.NTF_SELF == 0 || len(e.IP) == 0 || len(e.HardwareAddr) != 6 {
			continue
		}
		byMAC[e.HardwareAddr.String()] = append(byMAC[e.HardwareAddr.String()], len(out))
		out = append(out, netdriver.Remote{MAC: e.HardwareAddr, VTEP: e.IP})
	}
	for _, e := range neighs {
		if e.LinkIndex != idx || e.State&netlink.NUD_PERMANENT == 0 || e.IP.To4() == nil || len(e.HardwareAddr) != 6 {
			continue
		}
		mac := e.HardwareAddr.String()
		if free := byMAC[mac]; len(free) > 0 {
			out[free[0]].IP = e.IP
			byMAC[mac] = free[1:]
			continue
		}
		out = append(out, netdriver.Remote{MAC: e.HardwareAddr, IP: e.IP})
	}
	return out, nil
}
