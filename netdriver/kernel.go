package netdriver

import (
	"errors"
	"net"
)

// BridgeSpec describes the per-host kernel objects of one xoverlay network:
// a Linux bridge holding the gateway address and a VXLAN device enslaved to it.
type BridgeSpec struct {
	VNI     uint32
	Bridge  string     // bridge name, e.g. "xob-4096"
	VXLAN   string     // vxlan device name, e.g. "xov-4096"
	Gateway *net.IPNet // address put on the bridge (gateway IP with the subnet's mask); nil for none
	MTU     int        // MTU of bridge, vxlan and veths (1450)
	Port    int        // VXLAN UDP destination port (4789)
	Local   net.IP     // underlay source address; nil lets the kernel choose
}

// VethSpec describes one endpoint's veth pair: Host stays on the bridge,
// Peer is handed to the engine, which moves it into the container.
type VethSpec struct {
	Host   string // host-side name, e.g. "xoh" + 8 hex
	Peer   string // container-side name before the move, e.g. "xoc" + 8 hex
	Bridge string
	MTU    int
	MAC    net.HardwareAddr // MAC of the peer
}

// Owned lists the kernel objects with xoverlay's name prefixes that exist now.
type Owned struct {
	Bridges []string
	VXLANs  []string
	Veths   []string // host-side names
}

// Kernel is what the driver needs from the kernel. Every method is
// idempotent: ensuring what exists is a no-op, deleting what is gone is nil.
type Kernel interface {
	EnsureBridge(BridgeSpec) error
	DeleteBridge(BridgeSpec) error
	EnsureVeth(VethSpec) error
	DeleteVeth(host string) error
	ListOwned() (Owned, error)
}

// Remote is one remote endpoint as the VXLAN device knows it: an FDB entry
// MAC -> VTEP and a neighbour entry IP -> MAC. A listed Remote may lack the
// IP (FDB entry only) or the VTEP (neighbour entry only).
type Remote struct {
	MAC  net.HardwareAddr
	IP   net.IP // container address; nil: no neighbour entry
	VTEP net.IP // underlay address of the remote host; nil: no FDB entry
}

// Peers programs the remote endpoints of VXLAN devices. AddRemote writes
// the FDB entry, then the neighbour entry when ip is set, replacing older
// ones. DelRemote removes the neighbour entry (when ip is set and it still
// maps to mac) and the FDB entry (when vtep is set and it still points
// there); missing entries or devices are not an error. ListRemotes lists
// the permanent neighbour entries and the FDB entries with a destination;
// it fails with ErrNoDevice when the device does not exist.
type Peers interface {
	AddRemote(vxlan string, mac net.HardwareAddr, ip, vtep net.IP) error
	DelRemote(vxlan string, mac net.HardwareAddr, ip, vtep net.IP) error
	ListRemotes(vxlan string) ([]Remote, error)
}

// ErrNoDevice says a device the call needs does not exist.
var ErrNoDevice = errors.New("no such device")
