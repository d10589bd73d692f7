package engine

import (
	"context"
	"log/slog"
	"maps"
	stdnet "net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// Readiness keeps a started backend without a healthcheck out of service
// until its app listens: every TCP port its image exposes must accept a
// connection on the container's address first. Without it, a container
// would join DNS and the VIPs at its start event, while its app is still
// starting, and a client sent there would be refused (a VIP is one
// address: the client has no other to retry). After Timeout it goes in
// anyway, with a warning: a container may expose a port it never serves.
// A container with a healthcheck waits for healthy instead.
type Readiness struct {
	Timeout time.Duration                                // default 10 s
	Every   time.Duration                                // between attempts, default 20 ms
	Dial    func(ctx context.Context, addr string) error // default: a TCP connect
	Log     *slog.Logger

	mu      sync.Mutex
	ready   map[string]bool // container ID -> listening (or given up on)
	probing map[string]bool
	done    chan string // containers whose probe ended: refresh them
	wg      sync.WaitGroup
}

// NewReadiness returns a gate with the defaults.
func NewReadiness(log *slog.Logger) *Readiness {
	return &Readiness{Timeout: 10 * time.Second, Every: 20 * time.Millisecond, Dial: dialTCP, Log: log,
		ready: map[string]bool{}, probing: map[string]bool{}, done: make(chan string, 64)}
}

func dialTCP(ctx context.Context, addr string) error {
	var d stdnet.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// Done delivers the containers whose probe ended.
func (r *Readiness) Done() <-chan string { return r.done }

// Wait waits for the probes started under a context that has ended.
func (r *Readiness) Wait() { r.wg.Wait() }

// Hold marks the observed endpoints of in as starting while its ports do
// not answer yet, starting a probe (owned by ctx) the first time.
func (r *Readiness) Hold(ctx context.Context, in container.InspectResponse, obs map[string]state.EndpointUpdate) {
	if in.ContainerJSONBase == nil || in.State == nil || !in.State.Running || in.State.Health != nil {
		if in.ContainerJSONBase != nil {
			r.Forget(in.ID)
		}
		return
	}
	addrs := probeAddrs(in)
	if len(addrs) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ready[in.ID] {
		return
	}
	held := false
	for id, u := range obs {
		if u.Status.Service == "" {
			continue // not a backend of any service: nothing to protect
		}
		u.Status.Health = state.HealthStarting
		obs[id] = u
		held = true
	}
	if !held || r.probing[in.ID] {
		return
	}
	r.probing[in.ID] = true
	r.wg.Go(func() { r.probe(ctx, in.ID, in.ID[:min(12, len(in.ID))], addrs) })
}

// Forget drops what is known of a container (stopped or gone): the next
// start is probed again.
func (r *Readiness) Forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.ready, id)
}

// Keep forgets every container not in running.
func (r *Readiness) Keep(running map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.ready {
		if !running[id] {
			delete(r.ready, id)
		}
	}
}

func (r *Readiness) probe(ctx context.Context, id, short string, addrs []string) {
	start := time.Now()
	deadline := start.Add(r.Timeout)
	pending := slices.Clone(addrs)
	for len(pending) > 0 && time.Now().Before(deadline) {
		actx, cancel := context.WithTimeout(ctx, r.Every*5)
		if r.Dial(actx, pending[0]) == nil {
			pending = pending[1:]
			cancel()
			continue
		}
		cancel()
		select {
		case <-ctx.Done():
			r.mu.Lock()
			delete(r.probing, id)
			r.mu.Unlock()
			return
		case <-time.After(r.Every):
		}
	}
	if len(pending) > 0 {
		r.Log.Warn("container in service although a port it exposes does not accept connections (give it a HEALTHCHECK, or stop exposing the port)",
			"container", short, "ports", pending, "waited", r.Timeout)
	} else {
		r.Log.Debug("container listens: in service", "container", short, "took", time.Since(start).Round(time.Millisecond))
	}
	r.mu.Lock()
	r.ready[id] = true
	delete(r.probing, id)
	r.mu.Unlock()
	select {
	case r.done <- id:
	case <-ctx.Done():
	}
}

// probeAddrs are the container's address and every TCP port its image
// exposes ("" for none).
func probeAddrs(in container.InspectResponse) []string {
	if in.Config == nil || in.NetworkSettings == nil {
		return nil
	}
	ip := ""
	for _, name := range slices.Sorted(maps.Keys(in.NetworkSettings.Networks)) {
		if es := in.NetworkSettings.Networks[name]; es != nil && es.IPAddress != "" {
			ip = es.IPAddress
			break
		}
	}
	if ip == "" {
		return nil
	}
	var out []string
	for p := range in.Config.ExposedPorts {
		if p.Proto() == "tcp" {
			out = append(out, stdnet.JoinHostPort(ip, strconv.Itoa(p.Int())))
		}
	}
	slices.Sort(out)
	return out
}
