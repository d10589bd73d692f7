package agent

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"

	"github.com/xoverlay/xoverlay/orchestrator/cluster"
	"github.com/xoverlay/xoverlay/orchestrator/pki"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// openMember starts this node's raft member: the embedded single-node
// cluster, or, after `cluster init` or `join`, a member over mutual TLS.
func (a *Agent) openMember(ctx context.Context, id string, store *state.Store, log *slog.Logger) (*cluster.Raft, error) {
	cf, mat, err := a.loadCluster()
	if err != nil {
		return nil, err
	}
	var n *cluster.Net
	if cf != nil {
		if n, err = cluster.Listen(a.cfg.ListenAddr, cf.RaftAddr, mat, log); err != nil {
			return nil, err
		}
	}
	return a.openRaft(ctx, id, store, n, mat, false)
}

// openRaft opens the member and waits until the state is replayed.
func (a *Agent) openRaft(ctx context.Context, id string, store *state.Store, n *cluster.Net, mat pki.Material, bootstrap bool) (*cluster.Raft, error) {
	cfg := cluster.Config{
		Dir: a.raftDir(), NodeID: id, Logger: a.log.With("node", id, "component", "cluster"), Registry: a.reg,
		Store: store, Net: n, TLS: mat, Bootstrap: bootstrap,
		HeartbeatEvery: a.cfg.HeartbeatEvery, SuspectAfter: a.cfg.SuspectAfter, DownAfter: a.cfg.DownAfter,
	}
	var fsm raft.FSM = state.NewFSM(store)
	if a.dp != nil { // the heartbeats carry this node's data-plane index
		cfg.Dataplane, fsm = a.dp, a.dp.fsm(fsm)
	}
	r, err := cluster.Open(cfg, fsm)
	if err != nil {
		if n != nil {
			_ = n.Close()
		}
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := r.WaitApplied(wctx); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("agent: waiting for the cluster state: %w", err)
	}
	return r, nil
}

// caKeyLoop gives this node the CA key once it is promoted to manager, so
// it can admit joining nodes and show join tokens.
func (a *Agent) caKeyLoop(ctx context.Context, rep *replica, id string, log *slog.Logger) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cf, mat, err := a.loadCluster()
		if err != nil || cf == nil || mat.CAKey != nil {
			continue
		}
		var role string
		rep.View(func(tx state.ReadTx) {
			if n := tx.Node(id); n != nil {
				role = n.Role
			}
		})
		if role != state.RoleManager {
			continue
		}
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		b, err := rep.member().FetchCAKey(fctx)
		cancel()
		if err == nil {
			err = a.installCAKey(rep, b)
		}
		if err != nil {
			log.Warn("fetch CA key after promotion", "err", err)
			continue
		}
		log.Info("promoted to manager: CA key installed")
	}
}

func (a *Agent) installCAKey(rep *replica, pemKey []byte) error {
	k, err := pki.ParseKey(pemKey)
	if err != nil {
		return err
	}
	if err := pki.SaveCAKey(a.tlsDir(), pki.CA{Key: k}); err != nil {
		return err
	}
	rep.member().SetCAKey(k)
	return nil
}
