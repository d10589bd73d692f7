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
	CmdSetCluster
	CmdSetNodeRole
	CmdUpdateNode
	CmdSetNodeStatus
	CmdRemoveNode
	CmdMarkNetworkDeleting
	CmdSetNetworkError
	CmdSetEndpointStatus
	CmdCreateService
	CmdUpdateService
	CmdRemoveService
	CmdCreateTasks
	CmdUpdateTasks
	CmdSetTaskStatus
	CmdDeleteTasks
	CmdSetUpdateStatus
	CmdRollbackService
	CmdDrainTasks
	CmdDrainContainer
)

// Command is anything the FSM applies.
type Command interface{ Type() CommandType }

// RegisterNode adds a node, or refreshes what the node itself reports
// (hostname, addresses, capabilities) keeping role, labels, availability
// and status.
type RegisterNode struct{ Node Node }

// SetCluster records the cluster identity (init, token rotation).
type SetCluster struct{ Cluster Cluster }

// SetNodeRole records a promotion or demotion.
type SetNodeRole struct{ ID, Role string }

// UpdateNode changes a node's labels and availability.
type UpdateNode struct {
	ID           string
	LabelsAdd    map[string]string
	LabelsRm     []string
	Availability string // "" keeps it
}

// SetNodeStatus records a heartbeat verdict.
type SetNodeStatus struct {
	ID, Status, Msg string
	At              time.Time
}

// RemoveNode forgets a node and its endpoints.
type RemoveNode struct{ ID string }

// MarkNetworkDeleting starts removing a network from every engine.
type MarkNetworkDeleting struct{ NetworkID string }

// SetNetworkError records why a node's engine has no copy of a network
// ("" clears it).
type SetNetworkError struct{ NetworkID, Node, Error string }

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
	Aux       map[string]string // --aux-address name -> IP
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

// SetEndpointStatus records what a node's engine observes of the
// containers behind its endpoints (and their names). Endpoints that are
// gone by the time it applies are skipped.
type SetEndpointStatus struct{ Endpoints []EndpointUpdate }

// EndpointUpdate is one endpoint's observed container.
type EndpointUpdate struct {
	ID          string
	ContainerID string
	Container   string
	Status      EndpointStatus
}

// CreateService records a service named Spec.Name; ID and CreatedAt come
// from the proposer. The spec is validated and its networks resolved to
// IDs (an external service needs only its name). The
// name must be free, except that a managed service adopts an external
// one of its name (keeping its ID and VIPs), and an external service
// whose name exists returns the existing service.
type CreateService struct{ Service Service }

// UpdateService replaces a service's spec: SpecVersion+1, the old spec
// kept as PreviousSpec. A scale is an update of Replicas. An empty
// Spec.Name keeps the name; another name is refused.
type UpdateService struct {
	ID      string
	Spec    ServiceSpec
	Version uint64 // the SpecVersion the change was made from; 0 skips the check
	Force   bool   // replace the tasks even when nothing changed
	At      time.Time
}

// RemoveService deletes a service. Its tasks no executor has seen
// (pending) go at once; the others get desired state remove, so their
// executors stop the containers, and a later DeleteTasks drops them.
type RemoveService struct{ ID string }

// CreateTasks records new tasks of the orchestrator's plan. A task whose
// service is gone, or that would duplicate the live task of its slot
// (or node), is skipped: see Task.Replaces.
type CreateTasks struct{ Tasks []Task }

// UpdateTasks applies the decisions of the orchestrator or the scheduler
// in one write. Tasks that are gone are skipped.
type UpdateTasks struct{ Updates []TaskUpdate }

// TaskUpdate changes one task. Neither state moves backwards.
type TaskUpdate struct {
	ID           string
	DesiredState TaskState   // "" keeps it
	NodeID       string      // "" keeps it; a task is assigned once
	Status       *TaskStatus // nil keeps it; ContainerID and ExitCode are kept when zero
	Message      string      // without Status: why the desired state changed, into Status.Message
}

// SetTaskStatus records what a node's executor observes of its tasks.
// Statuses of tasks that are gone or not on Node, and regressions, are
// skipped.
type SetTaskStatus struct {
	Node  string
	Tasks []TaskStatusUpdate
}

// TaskStatusUpdate is one task's observed status.
type TaskStatusUpdate struct {
	ID     string
	Status TaskStatus
}

// DeleteTasks drops tasks whose desired state is past running (the
// reaper: stopped history, removed services). Others are skipped.
type DeleteTasks struct{ IDs []string }

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
func (SetCluster) Type() CommandType     { return CmdSetCluster }
func (SetNodeRole) Type() CommandType    { return CmdSetNodeRole }
func (UpdateNode) Type() CommandType     { return CmdUpdateNode }
func (SetNodeStatus) Type() CommandType  { return CmdSetNodeStatus }
func (RemoveNode) Type() CommandType     { return CmdRemoveNode }
func (MarkNetworkDeleting) Type() CommandType {
	return CmdMarkNetworkDeleting
}
func (SetNetworkError) Type() CommandType { return CmdSetNetworkError }
func (SetEndpointStatus) Type() CommandType {
	return CmdSetEndpointStatus
}
func (CreateService) Type() CommandType { return CmdCreateService }
func (UpdateService) Type() CommandType { return CmdUpdateService }
func (RemoveService) Type() CommandType { return CmdRemoveService }
func (CreateTasks) Type() CommandType   { return CmdCreateTasks }
func (UpdateTasks) Type() CommandType   { return CmdUpdateTasks }
func (SetTaskStatus) Type() CommandType { return CmdSetTaskStatus }
func (DeleteTasks) Type() CommandType   { return CmdDeleteTasks }

// MinVNI is the first VNI handed out automatically.
const MinVNI = 4096

// MaxVNI is the largest VNI VXLAN can carry.
const MaxVNI = 1<<24 - 1
