package agent

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

func (a *Agent) serveAPI(stack *stopStack, rep *replica, o *ops, id string, log *slog.Logger) error {
	l, err := apiserver.Listen(a.cfg.APISocket)
	if err != nil {
		return fmt.Errorf("agent: api socket: %w", err)
	}
	info := func() api.Info {
		i := api.Info{
			NodeID: id, Hostname: a.cfg.Hostname, Role: state.RoleManager, Leader: rep.IsLeader(),
			StateDir: a.cfg.StateDir, PluginSocket: a.cfg.PluginSocket(), APISocket: a.cfg.APISocket,
			MetricsAddr: a.cfg.MetricsAddr, DNSAddress: a.cfg.DNSAddress(), Version: api.Version,
			RaftAddr: raftAddr(a),
		}
		rep.View(func(tx state.ReadTx) {
			if n := tx.Node(id); n != nil {
				i.Role, i.Hostname = n.Role, n.Hostname
				i.DataPlane = DataPlane(n.Capabilities)
			}
		})
		return i
	}
	srv := apiserver.New(rep, info, o, log, a.reg)
	go func() {
		if err := srv.Serve(l); err != nil {
			log.Debug("api server stopped", "err", err)
		}
	}()
	stack.push("api", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	})
	return nil
}

func raftAddr(a *Agent) string {
	if cf, _, err := a.loadCluster(); err == nil && cf != nil {
		return cf.RaftAddr
	}
	return ""
}
