package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xoverlay/xoverlay/dnsd/intercept"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// interceptKernel puts the DNS fast path into network namespaces
// (dnsd/intercept).
type interceptKernel interface {
	Install(nsPath string) error
	Remove(nsPath string) error
	Installed(nsPath string) (bool, error)
}

// interceptEngine is the part of the engine API the fast path reads.
type interceptEngine interface {
	Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error)
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error)
}

// dnsIntercept keeps the DNS fast path in exactly the containers of this
// engine that interceptTarget picks: put in at their start event, taken
// out when they join a network that is not xoverlay, and compared with
// the engine at start-up and every period.
type dnsIntercept struct {
	engine interceptEngine
	kernel interceptKernel
	ours   func(endpointID string) bool
	every  time.Duration
	log    *slog.Logger
	active prometheus.Gauge
	errs   *prometheus.CounterVec
	delay  prometheus.Histogram
	on     map[string]fastPath // by container ID (Run's goroutine only)
}

// fastPath is where a container's fast path is and when it was written.
type fastPath struct {
	netns string
	at    time.Time
}

func newDNSIntercept(engine interceptEngine, kernel interceptKernel, ours func(string) bool, every time.Duration,
	log *slog.Logger, reg prometheus.Registerer) *dnsIntercept {
	d := &dnsIntercept{engine: engine, kernel: kernel, ours: ours, every: every, log: log, on: map[string]fastPath{},
		active: prometheus.NewGauge(prometheus.GaugeOpts{Name: "xo_dns_intercept_containers",
			Help: "Containers whose queries to 127.0.0.11 go straight to dnsd (the DNS fast path)."}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "xo_dns_intercept_errors_total",
			Help: "Failures keeping the DNS fast path, by operation (list, inspect, install, remove)."}, []string{"op"}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "xo_dns_intercept_delay_seconds",
			Help:    "Time from a container's start event (the engine's clock) until its DNS fast path is in place (0 when it was first).",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1}}),
	}
	reg.MustRegister(d.active, d.errs, d.delay)
	return d
}

// startDNSIntercept starts the fast path towards dnsd, unless dnsd's
// address is not one containers reach or nftables does not work; the
// stack stops it (taking it out of every container) before dnsd.
func (a *Agent) startDNSIntercept(ctx context.Context, stack *stopStack, store *state.Store, docker interceptEngine,
	node string, log *slog.Logger) {
	ap, err := netip.ParseAddrPort(a.cfg.DNS.Addr)
	if err != nil {
		log.Warn("dns fast path off: containers use Docker's resolver", "err", err)
		return
	}
	x, err := intercept.New(ap)
	if err != nil {
		log.Warn("dns fast path off: containers use Docker's resolver", "err", err)
		return
	}
	if !nftablesWorks() {
		log.Warn("dns fast path off: nftables does not work on this kernel; containers use Docker's resolver")
		return
	}
	ours := func(epID string) bool {
		var ok bool
		store.View(func(tx state.ReadTx) {
			ep := tx.Endpoint(epID)
			ok = ep != nil && ep.Node == node
		})
		return ok
	}
	d := newDNSIntercept(docker, x, ours, a.cfg.Reconcile, log, a.reg)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx)
	}()
	stack.push("dns fast path", func() error {
		cancel()
		<-done
		return nil
	})
	log.Info("dns fast path on", "resolver", x.Resolver())
}

// Run follows the engine until ctx ends, reconnecting with back-off, then
// takes the fast path out of every container it put it in: while the
// agent is away they use Docker's resolver, which still answers the
// names of this engine's containers.
func (d *dnsIntercept) Run(ctx context.Context) {
	defer d.removeAll()
	backoff := time.Second
	for ctx.Err() == nil {
		err := d.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		d.log.Warn("engine event stream ended; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func (d *dnsIntercept) follow(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f := filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)), filters.Arg("type", string(events.NetworkEventType)),
		filters.Arg("event", string(events.ActionStart)), filters.Arg("event", string(events.ActionDie)),
		filters.Arg("event", string(events.ActionConnect)), filters.Arg("event", string(events.ActionDisconnect)))
	msgs, errs := d.engine.Events(ctx, events.ListOptions{Filters: f})
	d.sync(ctx)
	tick := time.NewTicker(d.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			return fmt.Errorf("engine: events: %w", err)
		case m := <-msgs:
			// Every event already queued, the last one per container.
			last := map[string]events.Message{}
			for more := true; more; {
				if id := m.Actor.ID; m.Type == events.NetworkEventType {
					last[m.Actor.Attributes["container"]] = m
				} else if id != "" {
					last[id] = m
				}
				select {
				case m = <-msgs:
				default:
					more = false
				}
			}
			for id, m := range last {
				switch {
				case id == "":
				case m.Action == events.ActionDie:
					d.forget(id)
				default:
					d.apply(ctx, id, false)
					if fp, ok := d.on[id]; ok && m.Action == events.ActionStart && m.TimeNano > 0 {
						d.delay.Observe(max(0, fp.at.Sub(time.Unix(0, m.TimeNano)).Seconds()))
					}
				}
			}
		case <-tick.C:
			d.sync(ctx)
		}
	}
}

// sync compares every running container that has an endpoint of ours (or
// the fast path) with what it should have.
func (d *dnsIntercept) sync(ctx context.Context) {
	list, err := d.engine.ContainerList(ctx, container.ListOptions{})
	if err != nil {
		d.fail("list", "", err)
		return
	}
	running := map[string]bool{}
	for _, s := range list {
		running[s.ID] = true
		if _, on := d.on[s.ID]; on || d.hasOurs(s) {
			d.apply(ctx, s.ID, true)
		}
	}
	for id := range d.on {
		if !running[id] {
			d.forget(id)
		}
	}
}

func (d *dnsIntercept) hasOurs(s container.Summary) bool {
	if s.NetworkSettings == nil {
		return false
	}
	for _, es := range s.NetworkSettings.Networks {
		if es != nil && es.EndpointID != "" && d.ours(es.EndpointID) {
			return true
		}
	}
	return false
}

// apply gives one container the fast path or takes it out. With verify
// (the periodic comparison) it checks what is there, and takes out a fast
// path it does not remember putting in (left by an agent that was
// killed); on an event it trusts what it wrote.
//
// A container's start is usually seen at its network connect event: the
// engine emits it while it starts the container, and answers the inspect
// once the container runs (just before the start event).
func (d *dnsIntercept) apply(ctx context.Context, id string, verify bool) {
	in, err := d.engine.ContainerInspect(ctx, id)
	if cerrdefs.IsNotFound(err) {
		d.forget(id)
		return
	}
	if err != nil {
		d.fail("inspect", id, err)
		return
	}
	path, want, why := interceptTarget(in, d.ours)
	if !want {
		_, on := d.on[id]
		if path != "" && (on || verify) {
			if err := d.kernel.Remove(path); err != nil {
				d.fail("remove", id, err)
				return
			}
			if on {
				d.log.Info("dns fast path out: Docker's resolver answers this container", "container", shortID(id), "why", why)
			}
		}
		d.forget(id)
		return
	}
	if fp, ok := d.on[id]; ok && fp.netns == path {
		if !verify {
			return
		}
		if ok, err := d.kernel.Installed(path); err == nil && ok {
			return
		}
	}
	if err := d.kernel.Install(path); err != nil {
		d.forget(id)
		if errors.Is(err, intercept.ErrNoRoute) {
			d.log.Debug("no dns fast path: Docker's resolver answers this container", "container", shortID(id), "err", err)
			return
		}
		d.fail("install", id, err)
		return
	}
	d.log.Debug("dns fast path in", "container", shortID(id), "netns", path)
	d.on[id] = fastPath{netns: path, at: time.Now()}
	d.active.Set(float64(len(d.on)))
}

func (d *dnsIntercept) forget(id string) {
	delete(d.on, id)
	d.active.Set(float64(len(d.on)))
}

func (d *dnsIntercept) fail(op, id string, err error) {
	d.errs.WithLabelValues(op).Inc()
	d.log.Warn("dns fast path: "+op, "container", shortID(id), "err", err)
}

// removeAll takes the fast path out of every container that has it.
func (d *dnsIntercept) removeAll() {
	for id, fp := range d.on {
		if err := d.kernel.Remove(fp.netns); err != nil {
			d.log.Debug("dns fast path: remove at stop", "container", shortID(id), "err", err)
		}
		d.forget(id)
	}
}

func shortID(id string) string { return id[:min(len(id), 12)] }
