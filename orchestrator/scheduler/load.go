package scheduler

import (
	"fmt"
	"slices"
	"strings"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// load is what a node already carries.
type load struct {
	reserved  state.Resources
	total     int             // tasks on the node
	perSvc    map[string]int  // service ID -> its tasks on the node
	hostPorts map[string]bool // "80/tcp" published in host mode
}

// cluster is the nodes and their loads during one Schedule call: every
// placement adds to them, so a batch spreads.
type cluster struct {
	svcs  map[string]*state.Service
	nodes []*state.Node // by ID
	byID  map[string]*state.Node
	load  map[string]*load
}

func newCluster(svcs map[string]*state.Service, nodes []*state.Node, tasks []*state.Task) *cluster {
	c := &cluster{svcs: svcs, byID: map[string]*state.Node{}, load: map[string]*load{}}
	c.nodes = slices.SortedFunc(slices.Values(nodes), func(a, b *state.Node) int { return strings.Compare(a.ID, b.ID) })
	for _, n := range c.nodes {
		c.byID[n.ID] = n
		c.load[n.ID] = &load{perSvc: map[string]int{}, hostPorts: map[string]bool{}}
	}
	for _, t := range tasks {
		if t.HoldsNode() {
			c.add(t.ServiceID, t.NodeID)
		}
	}
	return c
}

// add accounts one task of service svcID on node.
func (c *cluster) add(svcID, node string) {
	l := c.load[node]
	if l == nil {
		return // a node that left: nothing is placed there
	}
	l.total++
	l.perSvc[svcID]++
	svc := c.svcs[svcID]
	if svc == nil {
		return
	}
	r := svc.Spec.Resources.Reservations
	l.reserved.NanoCPUs += r.NanoCPUs
	l.reserved.MemoryBytes += r.MemoryBytes
	for _, p := range hostPorts(svc) {
		l.hostPorts[p] = true
	}
}

// hostPorts are the ports a service publishes on the nodes of its tasks.
func hostPorts(svc *state.Service) []string {
	var out []string
	for _, p := range svc.Spec.Ports {
		if p.Mode == state.PublishHost && p.Published != 0 {
			out = append(out, fmt.Sprintf("%d/%s", p.Published, p.Protocol))
		}
	}
	return out
}

// fits says which of the service's reservations node n lacks room for.
func (c *cluster) fits(n *state.Node, need state.Resources) (cpu, mem bool) {
	free := n.Capacity
	used := c.load[n.ID].reserved
	cpu = need.NanoCPUs == 0 || free.NanoCPUs == 0 || used.NanoCPUs+need.NanoCPUs <= free.NanoCPUs
	mem = need.MemoryBytes == 0 || free.MemoryBytes == 0 || used.MemoryBytes+need.MemoryBytes <= free.MemoryBytes
	return cpu, mem
}

// spread returns, for each node, the number of the service's tasks in
// each placement preference's group of that node, outermost first: the
// tasks on every node that shares its values for that preference and
// those before it.
func (c *cluster) spread(svc *state.Service) map[string][]int {
	var prefs []string
	for _, s := range svc.Spec.Preferences {
		if p, err := state.ParsePreference(s); err == nil {
			prefs = append(prefs, p.Spread)
		}
	}
	keys := map[string][]string{} // node -> its group at each level
	counts := map[string]int{}    // group -> tasks of the service
	for _, n := range c.nodes {
		group := ""
		for _, key := range prefs {
			group += "\x00" + groupValue(n, key)
			keys[n.ID] = append(keys[n.ID], group)
			counts[group] += c.load[n.ID].perSvc[svc.ID]
		}
	}
	out := map[string][]int{}
	for _, n := range c.nodes {
		for _, g := range keys[n.ID] {
			out[n.ID] = append(out[n.ID], counts[g])
		}
	}
	return out
}

// groupValue is a node's value for a preference; nodes without the
// attribute form one group.
func groupValue(n *state.Node, key string) string {
	if v, ok := state.NodeAttr(n, key); ok {
		return "=" + v
	}
	return "-"
}
