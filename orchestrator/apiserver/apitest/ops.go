package apitest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// Sample join tokens and the address nodes join on.
const (
	WorkerToken  = "XOTKN-1-worker"
	ManagerToken = "XOTKN-1-manager"
	RemoteAddr   = "10.0.0.1:2378"
)

// Ops is a hand-written apiserver.Ops for tests. It records every call,
// fails calls as scripted with Fail, and otherwise acts on Store the way
// the agent would, roughly.
type Ops struct {
	Store *state.Store
	// Leader is what LeaderID answers.
	Leader string
	// CreateDelay is how long a created network stays pending (unnamed,
	// on no engine) before it is attached and named.
	CreateDelay time.Duration
	// Logs are the lines TaskLogs emits, by container ID; with Follow it
	// then waits for the request to end.
	Logs map[string][]api.LogLine

	mu     sync.Mutex
	calls  []string
	fails  map[string][]error
	tokens map[string]string // role -> token
}

var _ apiserver.Ops = (*Ops)(nil)

// NewOps returns a fake acting on s, whose leader is AlphaNode.
func NewOps(s *state.Store) *Ops {
	return &Ops{
		Store:  s,
		Leader: AlphaNode,
		fails:  map[string][]error{},
		tokens: map[string]string{api.RoleWorker: WorkerToken, api.RoleManager: ManagerToken},
	}
}

// Fail makes the next len(errs) calls of method (an Ops method name) fail
// with errs, in order.
func (o *Ops) Fail(method string, errs ...error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fails[method] = append(o.fails[method], errs...)
}

// Calls returns the calls so far, one line each: the method name and its
// arguments, as in "NodeSetRole zz-node manager".
func (o *Ops) Calls() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.calls...)
}

// record logs a call and returns its scripted error, if any.
func (o *Ops) record(method string, args ...any) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	line := method
	for _, a := range args {
		line += fmt.Sprintf(" %+v", a)
	}
	o.calls = append(o.calls, line)
	if errs := o.fails[method]; len(errs) > 0 {
		o.fails[method] = errs[1:]
		return errs[0]
	}
	return nil
}

func (o *Ops) info(role string) api.ClusterInfo {
	ci := api.ClusterInfo{ClusterID: ClusterID, NodeID: AlphaNode, Role: role, RemoteAddr: RemoteAddr}
	if role == api.RoleManager {
		ci.WorkerToken, ci.ManagerToken = o.tokens[api.RoleWorker], o.tokens[api.RoleManager]
	}
	return ci
}

// ClusterInit answers this node as the manager of ClusterID.
func (o *Ops) ClusterInit(_ context.Context, req api.ClusterInitRequest) (api.ClusterInfo, error) {
	if err := o.record("ClusterInit", req); err != nil {
		return api.ClusterInfo{}, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.info(api.RoleManager), nil
}

// ClusterJoin answers the role the token grants; an unknown token is
// invalid.
func (o *Ops) ClusterJoin(_ context.Context, req api.ClusterJoinRequest) (api.ClusterInfo, error) {
	if err := o.record("ClusterJoin", req); err != nil {
		return api.ClusterInfo{}, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for role, token := range o.tokens {
		if token == req.Token {
			return o.info(role), nil
		}
	}
	return api.ClusterInfo{}, fmt.Errorf("%w: invalid join token", state.ErrInvalid)
}

// ClusterToken answers the role's token; rotating bumps its number.
func (o *Ops) ClusterToken(_ context.Context, role string, rotate bool) (string, error) {
	if err := o.record("ClusterToken", role, rotate); err != nil {
		return "", err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if rotate {
		var n int
		_, _ = fmt.Sscanf(o.tokens[role], "XOTKN-%d-", &n)
		o.tokens[role] = fmt.Sprintf("XOTKN-%d-%s", n+1, role)
	}
	return o.tokens[role], nil
}

// LeaderID answers Leader.
func (o *Ops) LeaderID() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.Leader
}

// NodeRemove removes the node; without force, only a down node.
func (o *Ops) NodeRemove(_ context.Context, id string, force bool) error {
	if err := o.record("NodeRemove", id, force); err != nil {
		return err
	}
	if !force {
		var status string
		o.Store.View(func(tx state.ReadTx) {
			if n := tx.Node(id); n != nil {
				status = n.Status
			}
		})
		if status != state.StatusDown {
			return fmt.Errorf("%w: node %s is %s; drain and stop it first, or use --force", state.ErrConflict, id, status)
		}
	}
	return apply(o.Store, state.RemoveNode{ID: id})
}

// NodeSetRole records the role.
func (o *Ops) NodeSetRole(_ context.Context, id, role string) error {
	if err := o.record("NodeSetRole", id, role); err != nil {
		return err
	}
	return apply(o.Store, state.SetNodeRole{ID: id, Role: role})
}

// NodeUpdate changes labels and availability.
func (o *Ops) NodeUpdate(_ context.Context, id string, req api.NodeUpdateRequest) error {
	if err := o.record("NodeUpdate", id, req); err != nil {
		return err
	}
	return apply(o.Store, state.UpdateNode{
		ID: id, LabelsAdd: req.LabelsAdd, LabelsRm: req.LabelsRm, Availability: req.Availability,
	})
}

// NetworkCreate records a pending network at once (its ID is NetworkID of
// the name), then, after CreateDelay, attaches alpha's engine and names it.
func (o *Ops) NetworkCreate(_ context.Context, req api.NetworkCreateRequest) (string, error) {
	if err := o.record("NetworkCreate", req); err != nil {
		return "", err
	}
	id := NetworkID(req.Name)
	err := apply(o.Store, state.CreateNetwork{
		ID: id, Subnet: req.Subnet, IPRange: req.IPRange,
		DefaultPool: "10.99.0.0/16", DefaultBits: 24, CreatedAt: Created,
	}, state.SetGateway{NetworkID: id, IP: req.Gateway})
	if err != nil {
		return "", err
	}
	finish := func() {
		_ = apply(o.Store,
			state.AttachEngine{NetworkID: id, Node: AlphaNode, EngineID: "e" + id[:15], Options: req.Options},
			state.RenameNetwork{NetworkID: id, Name: req.Name})
	}
	if o.CreateDelay > 0 {
		time.AfterFunc(o.CreateDelay, finish)
	} else {
		finish()
	}
	return id, nil
}

// NetworkRemove marks the network deleting; a network with endpoints is
// a conflict.
func (o *Ops) NetworkRemove(_ context.Context, id string) error {
	if err := o.record("NetworkRemove", id); err != nil {
		return err
	}
	return apply(o.Store, state.MarkNetworkDeleting{NetworkID: id})
}

// NetworkID is the ID Ops gives a network it creates.
func NetworkID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])
}

// Unavailable is an Ops error the API answers with 503.
func Unavailable() error {
	return fmt.Errorf("%w: no cluster leader yet", apiserver.ErrUnavailable)
}
