package state

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
)

// Result is what FSM.Apply returns for every log entry.
type Result struct {
	Value any
	Err   error
}

type applyFunc func(s *Store, body []byte) (any, error)

// decodeApply builds an applyFunc for one command type.
func decodeApply[C Command](fn func(*Store, C) (any, error)) applyFunc {
	return func(s *Store, body []byte) (any, error) {
		var c C
		if err := json.Unmarshal(body, &c); err != nil {
			return nil, fmt.Errorf("fsm: decode %T: %w", c, err)
		}
		return fn(s, c)
	}
}

// commands is the FSM's table: one entry per command type.
var commands = map[CommandType]applyFunc{
	CmdRegisterNode:   decodeApply((*Store).registerNode),
	CmdCreateNetwork:  decodeApply((*Store).createNetwork),
	CmdSetGateway:     decodeApply((*Store).setGateway),
	CmdAttachEngine:   decodeApply((*Store).attachEngine),
	CmdDetachEngine:   decodeApply((*Store).detachEngine),
	CmdRemoveNetwork:  decodeApply((*Store).removeNetwork),
	CmdRenameNetwork:  decodeApply((*Store).renameNetwork),
	CmdClaimBlock:     decodeApply((*Store).claimBlock),
	CmdReserveAddress: decodeApply((*Store).reserveAddress),
	CmdReleaseAddress: decodeApply((*Store).releaseAddress),
	CmdCreateEndpoint: decodeApply((*Store).createEndpoint),
	CmdDeleteEndpoint: decodeApply((*Store).deleteEndpoint),
	CmdUpdateEndpoint: decodeApply((*Store).updateEndpoint),

	CmdSetCluster:          decodeApply((*Store).setCluster),
	CmdSetNodeRole:         decodeApply((*Store).setNodeRole),
	CmdUpdateNode:          decodeApply((*Store).updateNode),
	CmdSetNodeStatus:       decodeApply((*Store).setNodeStatus),
	CmdRemoveNode:          decodeApply((*Store).removeNode),
	CmdMarkNetworkDeleting: decodeApply((*Store).markNetworkDeleting),
	CmdSetNetworkError:     decodeApply((*Store).setNetworkError),
	CmdSetEndpointStatus:   decodeApply((*Store).setEndpointStatus),

	CmdCreateService: decodeApply((*Store).createService),
	CmdUpdateService: decodeApply((*Store).updateService),
	CmdRemoveService: decodeApply((*Store).removeService),
	CmdCreateTasks:   decodeApply((*Store).createTasks),
	CmdUpdateTasks:   decodeApply((*Store).updateTasks),
	CmdSetTaskStatus: decodeApply((*Store).setTaskStatus),
	CmdDeleteTasks:   decodeApply((*Store).deleteTasks),

	CmdSetUpdateStatus: decodeApply((*Store).setUpdateStatus),
	CmdRollbackService: decodeApply((*Store).rollbackService),
	CmdDrainTasks:      decodeApply((*Store).drainTasks),
	CmdDrainContainer:  decodeApply((*Store).drainContainer),
}

// Encode turns a command into a raft log payload: its type byte, then JSON.
func Encode(c Command) ([]byte, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("fsm: encode %T: %w", c, err)
	}
	return append([]byte{byte(c.Type())}, body...), nil
}

// FSM applies committed log entries to a Store.
type FSM struct{ store *Store }

// NewFSM returns an FSM over store.
func NewFSM(store *Store) *FSM { return &FSM{store: store} }

var _ raft.FSM = (*FSM)(nil)

// Apply decodes one entry and makes one store call. It does no I/O.
// The store reaches the entry's index (Store.Index), whatever the entry.
func (f *FSM) Apply(l *raft.Log) any {
	f.store.beginApply(l.Index)
	defer f.store.endApply()
	if l.Type != raft.LogCommand {
		return Result{}
	}
	v, err := f.ApplyBytes(l.Data)
	return Result{Value: v, Err: err}
}

// ApplyBytes applies an encoded command; exposed for tests and tools.
func (f *FSM) ApplyBytes(data []byte) (any, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("fsm: empty command")
	}
	fn, ok := commands[CommandType(data[0])]
	if !ok {
		return nil, fmt.Errorf("fsm: unknown command type %d (is this agent older than the cluster?)", data[0])
	}
	return fn(f.store, data[1:])
}

// Snapshot captures the whole state as JSON.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.store.mu.RLock()
	defer f.store.mu.RUnlock()
	b, err := json.Marshal(f.store.data)
	if err != nil {
		return nil, fmt.Errorf("fsm: snapshot: %w", err)
	}
	return snapshot(b), nil
}

// Restore replaces the state with a snapshot.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	d := &Data{}
	if err := json.NewDecoder(rc).Decode(d); err != nil {
		return fmt.Errorf("fsm: restore: %w", err)
	}
	for _, m := range []bool{d.Nodes == nil, d.Networks == nil, d.Endpoints == nil} {
		if m {
			return fmt.Errorf("fsm: restore: snapshot lacks a table")
		}
	}
	if d.Services == nil { // a snapshot from before services
		d.Services = map[string]*Service{}
	}
	if d.Tasks == nil {
		d.Tasks = map[string]*Task{}
	}
	f.store.mu.Lock()
	f.store.reset(d)
	f.store.publish([]Event{{Kind: "all", Action: "restore"}})
	f.store.mu.Unlock()
	return nil
}

type snapshot []byte

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("fsm: persist snapshot: %w", err)
	}
	return sink.Close()
}

func (snapshot) Release() {}
