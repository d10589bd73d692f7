package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/xoverlay/xoverlay/lbproxy/vip"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// pickDataPlane probes the kernel for the service VIPs' data plane
// (--lb-dataplane auto) or checks the one asked for. The node reports it
// (xo node inspect, xo info) and the VIP controller uses it.
func (a *Agent) pickDataPlane(log *slog.Logger) (string, error) {
	plane, why, err := vip.Pick(a.cfg.LBDataPlane)
	if err != nil {
		return "", fmt.Errorf("agent: --lb-dataplane: %w", err)
	}
	log.Info("load-balancing data plane", "plane", plane, "why", why)
	return plane, nil
}

// startVIPs starts, on wg, the controller that balances service VIPs in
// the namespaces of this engine's containers; it returns when ctx ends.
// The planes log as component lb-nft (lb-userspace, lb-ipvs), the
// controller as vip.
func (a *Agent) startVIPs(ctx context.Context, wg *sync.WaitGroup, store *state.Store, docker vip.Engine,
	node, plane string, log *slog.Logger) error {
	m, err := vip.NewMetrics(a.reg)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	a.lbL4 = m.L4 // the published ports' planes report into the same metrics
	c := vip.New(store, docker, vip.Options{Node: node, Plane: plane, Open: vip.Opener(plane, log, m.L4),
		Reconcile: a.cfg.Reconcile, Log: log.With("component", "vip"), Metrics: m, Applied: a.dp.reporter(componentVIP)})
	wg.Go(func() { c.Run(ctx) })
	return nil
}
