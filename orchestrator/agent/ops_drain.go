package agent

import (
	"context"
	"log/slog"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/apiserver"
	"github.com/xoverlay/xoverlay/orchestrator/orchestrate"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

var _ apiserver.ContainerDrainer = (*ops)(nil)

// dataplaneComponents are the parts of this node's data plane whose
// acknowledgements a drain waits for.
func (a *Agent) dataplaneComponents() []string {
	cs := []string{componentVIP, componentIngress}
	if a.cfg.DNS.Addr != "" {
		cs = append(cs, componentDNS)
	}
	return cs
}

// drainer takes endpoints out of service and waits for every node's
// acknowledgement (--drain-timeout at most): the rolling updater's, and
// xo drain's. Endpoints DNS answered wait the DNS TTL (--dns-ttl) more:
// clients may hold their address that long.
func (a *Agent) drainer(rep *replica, log *slog.Logger) orchestrate.AckDrainer {
	var ttl time.Duration
	if a.cfg.DNS.Addr != "" {
		ttl = a.cfg.DNS.TTL
	}
	return orchestrate.AckDrainer{Cluster: rep, Acks: rep, Timeout: a.cfg.DrainTimeout, DNSTTL: ttl, Log: log}
}

// ContainerDrain is xo drain: the container's endpoints leave DNS and
// every node's VIPs, routing mesh and HTTP pools, until it stops (or
// back in with undo); it returns once every node that is not down
// acknowledged, or the timeout passed.
func (o *ops) ContainerDrain(ctx context.Context, containerID string, undo bool, timeout time.Duration) (apiserver.DrainOutcome, error) {
	d := o.a.drainer(o.rep, o.log)
	if timeout > 0 {
		d.Timeout = timeout
	}
	var floor time.Duration // DNS clients may hold its address: see orchestrate.AckDrainer
	if !undo {
		o.rep.View(func(tx state.ReadTx) {
			floor = d.DNSFloor(tx, func(ep *state.Endpoint) bool { return ep.ContainerID == containerID })
		})
	}
	out, err := d.Apply(ctx, state.DrainContainer{ContainerID: containerID, Undo: undo}, floor)
	if err != nil {
		return apiserver.DrainOutcome{}, err
	}
	o.log.Info("container drain", "container", containerID[:min(len(containerID), 12)], "undo", undo,
		"changed", out.Changed, "nodes", len(out.Nodes), "missing", out.Missing, "acked_in", out.AckedIn, "dns_ttl_wait", floor)
	return apiserver.DrainOutcome{Changed: out.Changed, Nodes: out.Nodes, Missing: out.Missing, Timeout: out.Timeout}, nil
}
