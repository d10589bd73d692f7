package ingress

import (
	"context"
	"maps"
	"slices"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
)

// syncSandbox makes the ingress container exist on the plan's networks,
// or not at all.
func (c *Controller) syncSandbox(ctx context.Context, full bool) {
	if len(c.plan.Networks) == 0 {
		if c.sb.ID != "" || c.sbStale || full {
			if err := c.p.box.Remove(ctx); err != nil {
				c.failed("sandbox", "cannot remove the ingress container", err)
				return
			}
			if c.sb.ID != "" {
				c.log.Info("ingress container removed: nothing is published")
			}
		}
		c.sb, c.sbNets, c.sbStale = Sandbox{}, nil, false
		return
	}
	if !full && !c.sbStale && c.sb.ID != "" && slices.Equal(c.sbNets, c.plan.Networks) {
		return
	}
	sb, err := c.p.box.Ensure(ctx, c.plan.Networks)
	if err != nil {
		c.failed("sandbox", "cannot run the ingress container", err)
		return
	}
	if sb.ID != c.sb.ID || sb.NS != c.sb.NS || !maps.Equal(sb.Addrs, c.sb.Addrs) {
		c.log.Info("ingress container ready", "container", shortID(sb.ID), "netns", sb.NS, "addrs", sb.Addrs)
	}
	c.sb, c.sbNets, c.sbStale = sb, c.plan.Networks, false
}

// syncIngress programs the ingress container's namespace and points the
// HTTP proxy's dialer at it.
func (c *Controller) syncIngress(ctx context.Context) {
	if c.p.dial.Path() != c.sb.NS {
		if err := c.p.dial.Set(c.sb.NS); err != nil {
			c.failed("ingress", "cannot open the ingress container's namespace for the HTTP proxy", err)
		}
	}
	if c.innerPath != c.sb.NS {
		if c.inner != nil {
			c.inner.Close() // the namespace went with its container
		}
		c.inner, c.innerPath = nil, ""
	}
	if c.sb.NS == "" {
		return
	}
	if c.inner == nil {
		p, err := c.p.openIngress(c.sb.NS)
		if err != nil {
			c.failed("ingress", "cannot open the ingress container's data plane", err, "netns", c.sb.NS)
			return
		}
		c.inner, c.innerPath = p, c.sb.NS
	}
	if err := c.inner.Apply(ctx, c.plan.IngressState(c.sb)); err != nil {
		c.failed("ingress", "cannot program the ingress container's rules", err)
	}
}

// syncHost programs the host's namespace; with nothing published its
// table goes.
func (c *Controller) syncHost(ctx context.Context, d l4.Desired) {
	if len(d.Published) == 0 && !c.hostApplied {
		return
	}
	if c.host == nil {
		p, err := c.p.openHost()
		if err != nil {
			c.failed("host", "cannot open the host's data plane for published ports", err)
			return
		}
		c.host = p
	}
	if len(d.Published) == 0 {
		var err error
		if r, ok := c.host.(remover); ok {
			err = r.Remove()
		} else {
			err = c.host.Apply(ctx, l4.Desired{})
		}
		if err != nil {
			c.failed("host", "cannot remove the host's published-port rules", err)
			return
		}
		c.hostApplied = false
		return
	}
	if err := c.host.Apply(ctx, d); err != nil {
		c.failed("host", "cannot program the host's published-port rules", err)
		return
	}
	c.hostApplied = true
}

func (c *Controller) syncFirewall(ctx context.Context, on, full bool) {
	if on == c.fwOn && !(on && full) {
		return
	}
	if err := c.p.fw.Set(ctx, on); err != nil {
		c.failed("firewall", "cannot update the DOCKER-USER rules of published ports", err)
		return
	}
	c.fwOn = on
}

// syncHTTP serves the plan's HTTP ports and returns the services left
// out.
func (c *Controller) syncHTTP() []string {
	cfgs, problems := c.plan.HTTPConfigs()
	if err := c.p.front.Apply(cfgs); err != nil {
		c.failed("http", "cannot serve an HTTP port", err)
	}
	return problems
}

// reconcilePlanes checks both namespaces' rules against the kernel.
func (c *Controller) reconcilePlanes(ctx context.Context) {
	for _, p := range []struct {
		name  string
		plane l4.DataPlane
	}{{"host", c.host}, {"ingress", c.inner}} {
		if p.plane == nil || (p.name == "host" && !c.hostApplied) {
			continue
		}
		if fixes, err := p.plane.Reconcile(ctx); err != nil {
			c.m.fail("reconcile")
			c.log.Warn("reconciling published-port rules", "namespace", p.name, "err", err)
		} else if fixes > 0 {
			c.log.Info("published-port rules repaired", "namespace", p.name, "fixes", fixes)
		}
	}
}
