//go:build linux

package kernel

import (
	"bytes"
	"fmt"

	"github.com/vishvananda/netlink"

	"github.com/xoverlay/xoverlay/netdriver"
)

// EnsureVeth creates or repairs an endpoint's veth pair: Host on the bridge
// and up, Peer (still in this namespace, down) with the requested MAC.
func (n *Netlink) EnsureVeth(spec netdriver.VethSpec) error {
	if err := checkNames(spec.Host, spec.Peer, spec.Bridge); err != nil {
		return fmt.Errorf("kernel: ensure veth: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.ensureVeth(spec); err != nil {
		return fmt.Errorf("kernel: ensure veth %s: %w", spec.Host, err)
	}
	return nil
}

func (n *Netlink) ensureVeth(spec netdriver.VethSpec) error {
	br, err := n.linkByName(spec.Bridge)
	if err != nil {
		return err
	}
	if br == nil {
		return fmt.Errorf("bridge %s does not exist", spec.Bridge)
	}
	if br.Type() != "bridge" {
		return fmt.Errorf("%s is a %s, not a bridge", spec.Bridge, br.Type())
	}
	host, made, err := n.ensureLink(vethLink(spec), isType("veth"))
	if err != nil {
		return err
	}
	if err := n.finishVeth(host, br, spec); err != nil {
		if made {
			n.undo(spec.Host)
		}
		return err
	}
	return nil
}

// finishVeth fixes the peer, then puts the host side on the bridge and up.
func (n *Netlink) finishVeth(host, br netlink.Link, spec netdriver.VethSpec) error {
	if err := n.fixPeer(spec); err != nil {
		return err
	}
	return n.configure(host, spec.MTU, br.Attrs().Index)
}

// vethLink describes a new pair. The peer's MAC and MTU are set at creation.
func vethLink(spec netdriver.VethSpec) *netlink.Veth {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = spec.Host
	attrs.MTU = spec.MTU
	return &netlink.Veth{
		LinkAttrs:        attrs,
		PeerName:         spec.Peer,
		PeerHardwareAddr: spec.MAC,
		PeerTxQLen:       -1, // 0 would be sent as txqueuelen 0
	}
}

// fixPeer corrects the MAC and MTU of an existing peer while it is still in
// this namespace; once the engine has moved it, there is nothing to do.
func (n *Netlink) fixPeer(spec netdriver.VethSpec) error {
	peer, err := n.linkByName(spec.Peer)
	if err != nil || peer == nil || peer.Type() != "veth" {
		return err
	}
	a := peer.Attrs()
	if len(spec.MAC) > 0 && !bytes.Equal(a.HardwareAddr, spec.MAC) {
		if err := n.handle.LinkSetHardwareAddr(peer, spec.MAC); err != nil {
			return fmt.Errorf("set mac of %s to %s: %w", spec.Peer, spec.MAC, err)
		}
	}
	if spec.MTU > 0 && a.MTU != spec.MTU {
		if err := n.handle.LinkSetMTU(peer, spec.MTU); err != nil {
			return fmt.Errorf("set mtu of %s to %d: %w", spec.Peer, spec.MTU, err)
		}
	}
	return nil
}

// DeleteVeth deletes the host side of a pair (the peer goes with it);
// a missing device is fine.
func (n *Netlink) DeleteVeth(host string) error {
	if err := checkNames(host); err != nil {
		return fmt.Errorf("kernel: delete veth: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.deleteLink(host); err != nil {
		return fmt.Errorf("kernel: delete veth: %w", err)
	}
	return nil
}
