package state

import "time"

// CommandType numbers are append-only: never renumber or reuse one.
type CommandType uint8

// Command types.
const (
	CmdRegisterNode CommandType = iota + 1
	CmdCreateNetwork
	CmdSetGateway
	CmdAttachEngine
	CmdDetachEngine
	CmdRemoveNetwork
	CmdRenameNetwork
	CmdClaimBlock
	CmdReserveAddress
	CmdReleaseAddress
	CmdCreateEndpoint
	CmdDeleteEndpoint
	CmdUpdateEndpoint
)

// Command is anything the FSM applies.
type Command interface{ Type() CommandType }

// RegisterNode adds or refreshes a node.
type RegisterNode struct{ Node Node }

// CreateNetwork records a pool (pending network). An empty Subnet asks for
// the first free DefaultBits prefix of DefaultPool.
type CreateNetwork struct {
	ID          string
	Subnet      string
	IPRange     string
	DefaultPool string
	DefaultBits int
	CreatedAt   time.Time
}

// SetGateway fixes a network's gateway; an empty IP picks the first usable.
type SetGateway struct{ NetworkID, IP string }

// AttachEngine records that a node's engine created the network.
type AttachEngine struct {
	NetworkID string
	Node      string
	EngineID  string
	VNI       uint32 // 0: the lowest free VNI from MinVNI
	MTU       int
	Options   map[string]string
}

// DetachEngine records that a node's engine removed the network; that
// node's endpoints, blocks and reservations on it go too.
type DetachEngine struct{ NetworkID, Node string }

// RemoveNetwork is a node's IPAM releasing the pool. Engines call it
// before or after their driver's DeleteNetwork (DetachEngine); whichever
// comes second deletes the network once no engine holds it.
type RemoveNetwork struct{ NetworkID, Node string }

// RenameNetwork records the name the engine gave a network.
type RenameNetwork struct{ NetworkID, Name string }

// ClaimBlock gives a node the next free address block of a network.
type ClaimBlock struct{ NetworkID, Node string }

// ReserveAddress holds one address for a node (aux address or --ip).
type ReserveAddress struct{ NetworkID, IP, Node string }

// ReleaseAddress drops a node's reservation of an address.
type ReleaseAddress struct{ NetworkID, IP, Node string }

// CreateEndpoint records an endpoint; its IP must be free.
type CreateEndpoint struct{ Endpoint Endpoint }

// DeleteEndpoint removes an endpoint.
type DeleteEndpoint struct{ ID string }

// UpdateEndpoint records the container behind an endpoint.
type UpdateEndpoint struct{ ID, ContainerID, Container string }

// Type implementations.
func (RegisterNode) Type() CommandType   { return CmdRegisterNode }
func (CreateNetwork) Type() CommandType  { return CmdCreateNetwork }
func (SetGateway) Type() CommandType     { return CmdSetGateway }
func (AttachEngine) Type() CommandType   { return CmdAttachEngine }
func (DetachEngine) Type() CommandType   { return CmdDetachEngine }
func (RemoveNetwork) Type() CommandType  { return CmdRemoveNetwork }
func (RenameNetwork) Type() CommandType  { return CmdRenameNetwork }
func (ClaimBlock) Type() CommandType     { return CmdClaimBlock }
func (ReserveAddress) Type() CommandType { return CmdReserveAddress }
func (ReleaseAddress) Type() CommandType { return CmdReleaseAddress }
func (CreateEndpoint) Type() CommandType { return CmdCreateEndpoint }
func (DeleteEndpoint) Type() CommandType { return CmdDeleteEndpoint }
func (UpdateEndpoint) Type() CommandType { return CmdUpdateEndpoint }

// MinVNI is the first VNI handed out automatically.
const MinVNI = 4096

// MaxVNI is the largest VNI VXLAN can carry.
const MaxVNI = 1<<24 - 1
