package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/xoverlay/xoverlay/lbproxy/ingress"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// startIngress starts, on wg, the controller of this node's published
// ports (routing mesh, host ports, HTTP proxy); it returns when ctx
// ends. It logs as component ingress, its HTTP proxy as http.
func (a *Agent) startIngress(ctx context.Context, wg *sync.WaitGroup, store *state.Store, docker ingress.Engine,
	node string, log *slog.Logger) error {
	c, err := ingress.New(store, docker, ingress.Options{Node: node, Plane: a.dataPlane, Reconcile: a.cfg.Reconcile,
		Log: log, Registerer: a.reg, L4: a.lbL4})
	if err != nil {
		return fmt.Errorf("agent: published ports: %w", err)
	}
	c.OnApplied(a.dp.reporter(componentIngress))
	wg.Go(func() { c.Run(ctx) })
	return nil
}
