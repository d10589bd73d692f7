package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/docker/docker/client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
	"github.com/xoverlay/xoverlay/netdriver"
	"github.com/xoverlay/xoverlay/netdriver/kernel"
	"github.com/xoverlay/xoverlay/orchestrator/cluster"
	"github.com/xoverlay/xoverlay/orchestrator/engine"
	"github.com/xoverlay/xoverlay/orchestrator/executor"
	"github.com/xoverlay/xoverlay/orchestrator/orchestrate"
	"github.com/xoverlay/xoverlay/orchestrator/state"
	"github.com/xoverlay/xoverlay/plugins"
)

// Agent is one host's xo agent.
type Agent struct {
	cfg Config
	log *slog.Logger
	reg *prometheus.Registry

	dataPlane string // the service VIPs' data plane, probed at start

	lbL4 *l4.Metrics // the L4 data planes' metrics, shared by the VIPs and the published ports (set by startVIPs)

	dp *dataplane // this node's data-plane index, from its components (set by Run)
}

// New checks cfg; it starts nothing.
func New(cfg Config, log *slog.Logger) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return &Agent{cfg: cfg, log: log, reg: prometheus.NewRegistry()}, nil
}

// Run serves until ctx ends, then stops everything in reverse order.
func (a *Agent) Run(ctx context.Context) (err error) {
	var stack stopStack
	defer func() { err = errors.Join(err, stack.unwind()) }()

	if err := os.MkdirAll(a.cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("agent: state dir: %w", err)
	}
	id, err := nodeID(a.cfg.StateDir)
	if err != nil {
		return err
	}
	log := a.log.With("node", id)
	rep := &replica{Store: state.NewStore()}
	a.dp = newDataplane(rep.Store, a.reg, a.dataplaneComponents()...)
	r, err := a.openMember(ctx, id, rep.Store, log.With("component", "cluster"))
	if err != nil {
		return err
	}
	rep.r = r
	stack.push("raft", rep.close)
	docker, err := a.dockerClient()
	if err != nil {
		return err
	}
	stack.push("docker client", docker.Close)
	tasks, err := a.taskEngine(&stack, docker, log) // the engine, or a simulated one (--simulate-tasks)
	if err != nil {
		return err
	}
	if a.dataPlane, err = a.pickDataPlane(log.With("component", "vip")); err != nil {
		return err
	}
	if err := a.register(ctx, rep, id, engineVersion(ctx, docker)); err != nil {
		return err
	}
	a.registerMetrics(rep.Store)

	k, err := kernel.New(log)
	if err != nil {
		return fmt.Errorf("agent: netlink: %w", err)
	}
	drv := netdriver.New(a.driverConfig(id), rep, k, log.With("component", "netdriver"))
	if err := drv.Reconcile(); err != nil {
		log.Warn("start-up reconcile left errors", "err", err)
	}
	if err := a.servePlugin(&stack, drv, log.With("component", "plugins")); err != nil {
		return err
	}
	o := &ops{a: a, rep: rep, id: id, docker: docker, log: log.With("component", "ops")}
	unregister := cluster.RegisterLogSource(id, o.logSource())
	stack.push("log source", func() error { unregister(); return nil })
	if err := a.serveAPI(&stack, rep, o, id, log.With("component", "api")); err != nil {
		return err
	}
	if err := a.serveMetrics(&stack, log.With("component", "metrics")); err != nil {
		return err
	}
	var wg sync.WaitGroup
	loops, cancel := context.WithCancel(ctx)
	stack.push("loops", func() error { cancel(); wg.Wait(); return nil })
	if err := a.serveDNS(loops, &stack, &wg, rep.Store, k, docker, id, log.With("component", "dns")); err != nil {
		return err
	}
	w := engine.New(docker, rep, id, PluginName, log.With("component", "engine"))
	wg.Go(func() { w.Run(loops) })
	cw := engine.NewContainers(docker, rep, id, a.cfg.Reconcile, log.With("component", "containers"))
	wg.Go(func() { cw.Run(loops) })
	wg.Go(func() { a.reconcileLoop(loops, drv, log) })
	wg.Go(func() { a.caKeyLoop(loops, rep, id, log) })
	// After the plugin socket serves: creating a network copy calls the plugin.
	a.startControllers(loops, &wg, rep.Store, rep, drv, docker, id, log)
	if err := a.startVIPs(loops, &wg, rep.Store, docker, id, a.dataPlane, log); err != nil {
		return err
	}
	if err := a.startIngress(loops, &wg, rep.Store, docker, id, log); err != nil {
		return err
	}
	ex := executor.New(tasks, leaderView{rep}, id, log.With("component", "executor"), a.reg)
	wg.Go(func() { ex.Run(loops) })
	orch := orchestrate.New(leaderView{rep}, log.With("component", "orchestrator"), a.reg,
		orchestrate.Options{Drainer: a.drainer(rep, log.With("component", "updater"))})
	wg.Go(func() { orch.Run(loops) })
	log.Info("agent ready", "plugin", a.cfg.PluginSocket(), "api", a.cfg.APISocket, "metrics", a.cfg.MetricsAddr,
		"dns", a.cfg.DNS.Addr)
	<-ctx.Done()
	log.Info("agent stopping")
	return nil
}

func (a *Agent) driverConfig(id string) netdriver.Config {
	return netdriver.Config{
		Node: id, DefaultPool: a.cfg.DefaultPool, DefaultBits: a.cfg.DefaultBits,
		MTU: a.cfg.MTU, Local: net.ParseIP(a.cfg.AdvertiseAddr),
	}
}

// register waits until the state written before a restart is replayed
// (reconcile must never judge devices against a half-read state), then
// records this node.
func (a *Agent) register(ctx context.Context, rep *replica, id, engine string) error {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	node := state.Node{ID: id, Hostname: a.cfg.Hostname, Addr: a.cfg.AdvertiseAddr, Role: state.RoleManager,
		JoinedAt: time.Now().UTC(), Capabilities: probeCapabilities(), Capacity: probeCapacity()}
	node.Capabilities.Engine = engine
	node.Capabilities.DataPlane = a.dataPlane
	if cf, _, err := a.loadCluster(); err != nil {
		return err
	} else if cf != nil {
		node.Addr, node.RaftAddr = cf.Addr, cf.RaftAddr
	}
	var same bool
	rep.View(func(tx state.ReadTx) {
		if old := tx.Node(id); old != nil {
			same = old.Hostname == node.Hostname && old.Addr == node.Addr && old.RaftAddr == node.RaftAddr &&
				old.Capabilities == node.Capabilities && old.Capacity == node.Capacity
		}
	})
	if same {
		return nil
	}
	if _, err := rep.Propose(wctx, state.RegisterNode{Node: node}); err != nil {
		return fmt.Errorf("agent: register node: %w", err)
	}
	return nil
}

// engineVersion asks the local engine its version; "" when it is not up.
func engineVersion(ctx context.Context, docker *client.Client) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v, err := docker.ServerVersion(ctx)
	if err != nil {
		return ""
	}
	return v.Version
}

func (a *Agent) dockerClient() (*client.Client, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if a.cfg.DockerHost != "" {
		opts = append(opts, client.WithHost(a.cfg.DockerHost))
	}
	c, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("agent: docker client for %q: %w", a.cfg.DockerHost, err)
	}
	return c, nil
}

func (a *Agent) reconcileLoop(ctx context.Context, drv *netdriver.Driver, log *slog.Logger) {
	t := time.NewTicker(a.cfg.Reconcile)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := drv.Reconcile(); err != nil {
				log.Warn("reconcile", "err", err)
			}
		}
	}
}

func (a *Agent) registerMetrics(store *state.Store) {
	count := func(name, help string, pick func(n, nw, ep int) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			return float64(pick(store.Counts()))
		})
	}
	a.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		count("xo_state_nodes", "Nodes in the cluster state.", func(n, _, _ int) int { return n }),
		count("xo_state_networks", "Networks in the cluster state.", func(_, nw, _ int) int { return nw }),
		count("xo_state_endpoints", "Endpoints in the cluster state.", func(_, _, ep int) int { return ep }),
	)
}

// serveHTTP runs srv on l until the stack unwinds.
func serveHTTP(stack *stopStack, name string, srv *http.Server, l net.Listener, log *slog.Logger) {
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("server stopped", "server", name, "err", err)
		}
	}()
	stack.push(name, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	})
}

func (a *Agent) servePlugin(stack *stopStack, drv *netdriver.Driver, log *slog.Logger) error {
	path := a.cfg.PluginSocket()
	l, err := listenUnix(path)
	if err != nil {
		return fmt.Errorf("agent: plugin socket: %w", err)
	}
	stack.push("plugin socket file", func() error { return ignoreMissing(os.Remove(path)) })
	h := plugins.NewHandler(drv.Network(), drv.IPAM(), a.reg)
	h.Log = log
	serveHTTP(stack, "plugin", &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, l, log)
	return nil
}

func (a *Agent) serveMetrics(stack *stopStack, log *slog.Logger) error {
	if a.cfg.MetricsAddr == "" {
		return nil
	}
	l, err := net.Listen("tcp", a.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("agent: metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", metricsHandler(a.reg))
	if a.cfg.Pprof {
		mountPprof(mux)
	}
	serveHTTP(stack, "metrics", &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, l, log)
	return nil
}
