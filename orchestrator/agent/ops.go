package agent

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// ops is what the agent does for the API.
type ops struct {
	a      *Agent
	rep    *replica
	id     string
	docker *client.Client
	log    *slog.Logger
}

var _ apiserver.Ops = (*ops)(nil)

// LeaderID is the raft leader's node ID.
func (o *ops) LeaderID() string { return o.rep.LeaderID() }

// checkQuorum refuses changes that leave no manager, or fewer reachable
// managers than a majority of those that would remain.
func (o *ops) checkQuorum(id, newRole, verb string) error {
	var nodes []state.Node
	o.rep.View(func(tx state.ReadTx) {
		for _, n := range tx.Nodes() {
			nodes = append(nodes, *n)
		}
	})
	return quorumAfter(nodes, id, newRole, verb)
}

// quorumAfter judges one node's role change ("" for its removal).
func quorumAfter(nodes []state.Node, id, newRole, verb string) error {
	total, ready := 0, 0
	for _, n := range nodes {
		role := n.Role
		if n.ID == id {
			role = newRole
		}
		if role == state.RoleManager {
			total++
			if n.Status != state.StatusDown {
				ready++
			}
		}
	}
	if total == 0 {
		return fmt.Errorf("%w: cannot %s the last manager; promote another node first", state.ErrConflict, verb)
	}
	if ready < total/2+1 {
		return fmt.Errorf("%w: cannot %s node: %d of the remaining %d managers are reachable, below the quorum of %d (use 3 or 5 managers)",
			state.ErrConflict, verb, ready, total, total/2+1)
	}
	return nil
}

func (o *ops) node(id string) (state.Node, error) {
	var n state.Node
	var ok bool
	o.rep.View(func(tx state.ReadTx) {
		if p := tx.Node(id); p != nil {
			n, ok = *p, true
		}
	})
	if !ok {
		return n, fmt.Errorf("%w: node %s", state.ErrNotFound, id)
	}
	return n, nil
}

// NodeRemove forgets a node; it must be down unless forced.
func (o *ops) NodeRemove(ctx context.Context, id string, force bool) error {
	n, err := o.node(id)
	if err != nil {
		return err
	}
	if id == o.id {
		return fmt.Errorf("%w: cannot remove the node this agent runs on", state.ErrConflict)
	}
	if n.Status != state.StatusDown && !force {
		return fmt.Errorf("%w: node %s is %s; stop it first, or use --force", state.ErrConflict, n.Hostname, n.Status)
	}
	if n.Role == state.RoleManager {
		if err := o.checkQuorum(id, "", "remove"); err != nil {
			return err
		}
	}
	if err := o.rep.member().RemoveMember(ctx, id); err != nil {
		return err
	}
	_, err = o.rep.Propose(ctx, state.RemoveNode{ID: id})
	return err
}

// NodeSetRole promotes or demotes; the leader changes raft suffrage.
func (o *ops) NodeSetRole(ctx context.Context, id, role string) error {
	n, err := o.node(id)
	if err != nil {
		return err
	}
	if n.Role == state.RoleManager && role == state.RoleWorker {
		if err := o.checkQuorum(id, role, "demote"); err != nil {
			return err
		}
	}
	_, err = o.rep.Propose(ctx, state.SetNodeRole{ID: id, Role: role})
	return err
}

// NodeUpdate changes labels and availability.
func (o *ops) NodeUpdate(ctx context.Context, id string, req api.NodeUpdateRequest) error {
	_, err := o.rep.Propose(ctx, state.UpdateNode{ID: id, LabelsAdd: req.LabelsAdd, LabelsRm: req.LabelsRm, Availability: req.Availability})
	return err
}

// NetworkCreate creates a network through this host's engine, as
// `docker network create -d xoverlay --ipam-driver xoverlay` would.
func (o *ops) NetworkCreate(ctx context.Context, req api.NetworkCreateRequest) (string, error) {
	cfg := network.IPAMConfig{Subnet: req.Subnet, IPRange: req.IPRange, Gateway: req.Gateway, AuxAddress: req.AuxAddresses}
	opts := network.CreateOptions{
		Driver:  PluginName,
		IPAM:    &network.IPAM{Driver: PluginName},
		Options: req.Options,
	}
	if req.Subnet != "" {
		opts.IPAM.Config = []network.IPAMConfig{cfg}
	}
	resp, err := o.docker.NetworkCreate(ctx, req.Name, opts)
	if err != nil {
		return "", fmt.Errorf("%w: %w", state.ErrInvalid, err)
	}
	return resp.ID, nil
}

// NetworkRemove removes a network from every host: the mark is refused
// while any host has endpoints on it (naming them), then every agent
// removes its engine's copy. (`docker network rm` cannot be refused by a
// plugin: dockerd ignores DeleteNetwork errors.)
func (o *ops) NetworkRemove(ctx context.Context, id string) error {
	_, err := o.rep.Propose(ctx, state.MarkNetworkDeleting{NetworkID: id})
	return err
}
