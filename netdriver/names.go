package netdriver

import "fmt"

// Kernel object name prefixes; every name stays within the 15-byte limit.
const (
	BridgePrefix   = "xob-"
	VXLANPrefix    = "xov-"
	VethHostPrefix = "xoh"
	VethPeerPrefix = "xoc"
)

// BridgeName is the bridge of a VNI.
func BridgeName(vni uint32) string { return fmt.Sprintf("%s%d", BridgePrefix, vni) }

// VXLANName is the VXLAN device of a VNI.
func VXLANName(vni uint32) string { return fmt.Sprintf("%s%d", VXLANPrefix, vni) }

// VethNames are the host and container side names of an endpoint's veth.
func VethNames(endpointID string) (host, peer string) {
	id := endpointID[:min(len(endpointID), 10)]
	return VethHostPrefix + id, VethPeerPrefix + id
}
