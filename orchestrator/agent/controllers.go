package agent

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/docker/docker/client"

	"github.com/xoverlay/xoverlay/netdriver"
	"github.com/xoverlay/xoverlay/orchestrator/engine"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// How often the controllers converge without being told to, and how long
// the peer loop lets a burst of commits settle.
const (
	controllerPeriod = 10 * time.Second
	peerDebounce     = 20 * time.Millisecond
)

// startControllers starts, on wg, the loops that turn the replicated state
// into this host's engine networks and data plane; they return when ctx
// ends:
//
//   - the network sync: every network created on any host gets a copy on
//     this engine (through docker), and loses it when removed anywhere;
//   - the peer loop: the VXLAN FDB and neighbour entries of every remote
//     endpoint, rewritten after node, network and endpoint commits and
//     every 10 seconds.
//
// Call it once the plugin socket is served: creating a copy makes the
// engine call the plugin.
func (a *Agent) startControllers(ctx context.Context, wg *sync.WaitGroup, store *state.Store, cl engine.Cluster,
	drv *netdriver.Driver, docker *client.Client, node string, log *slog.Logger) {
	nets := engine.NewNetworkSync(docker, watchedCluster{Cluster: cl, store: store}, node, PluginName,
		log.With("component", "networks"))
	wg.Go(func() { nets.Run(ctx) })
	wg.Go(func() { runPeers(ctx, store, drv, log.With("component", "peers")) })
}

// watchedCluster adds the store's commit feed to a cluster.
type watchedCluster struct {
	engine.Cluster
	store *state.Store
}

func (w watchedCluster) Watch() (<-chan state.Event, func()) { return w.store.Watch() }

// runPeers runs drv.ReconcilePeers until ctx ends. A failing pass is
// retried after 1, 2, 4 ... 30 seconds; a repeated error is logged once.
func runPeers(ctx context.Context, store *state.Store, drv *netdriver.Driver, log *slog.Logger) {
	retry := time.Second
	var lastErr string
	relevant := func(e state.Event) bool {
		switch e.Kind {
		case "node", "network", "endpoint", "all":
			return true
		}
		return false
	}
	engine.RunLoop(ctx, store.Watch, relevant, peerDebounce, controllerPeriod, func(context.Context) time.Time {
		err := drv.ReconcilePeers()
		if err == nil {
			if lastErr != "" {
				log.Info("remote endpoints programmed again")
			}
			lastErr, retry = "", time.Second
			return time.Time{}
		}
		if msg := err.Error(); msg != lastErr {
			log.Warn("programming remote endpoints", "err", err)
			lastErr = msg
		}
		at := time.Now().Add(retry)
		retry = min(retry*2, 30*time.Second)
		return at
	})
}
