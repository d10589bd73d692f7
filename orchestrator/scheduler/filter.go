package scheduler

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// candidates returns the nodes a task of svc may go to, in node ID
// order, or why none: each filter that removed nodes says how many.
// Filters, in order: the task's own node (global), constraints, node
// status, availability, reserved resources, host-mode ports.
func (c *cluster) candidates(t *state.Task, svc *state.Service) ([]*state.Node, string) {
	nodes := c.nodes
	if t.NodeID != "" {
		n := c.byID[t.NodeID]
		if n == nil {
			return nil, fmt.Sprintf("node %s left the cluster", t.NodeID)
		}
		nodes = []*state.Node{n}
	}
	if len(nodes) == 0 {
		return nil, "the cluster has no nodes"
	}
	var why []string
	for _, s := range svc.Spec.Constraints {
		con, err := state.ParseConstraint(s)
		if err != nil {
			return nil, err.Error()
		}
		kept := slices.DeleteFunc(slices.Clone(nodes), func(n *state.Node) bool { return !con.Matches(n) })
		if len(kept) < len(nodes) {
			why = append(why, fmt.Sprintf("constraint %s matched %d of %s", con, len(kept), count(len(nodes))))
		}
		nodes = kept
	}

	notReady := map[string]int{}
	drained := 0
	nodes = slices.DeleteFunc(slices.Clone(nodes), func(n *state.Node) bool {
		switch {
		case n.Status != state.StatusReady && n.Status != "":
			notReady[n.Status]++
		case n.Availability == state.AvailabilityDrain:
			drained++
		default:
			return false
		}
		return true
	})
	var status []string
	for _, s := range []string{state.StatusDown, state.StatusSuspect} {
		if notReady[s] > 0 {
			status = append(status, count(notReady[s])+" "+s)
		}
	}
	if drained > 0 {
		status = append(status, count(drained)+" drained")
	}
	if len(status) > 0 {
		why = append(why, strings.Join(status, ", "))
	}

	need := svc.Spec.Resources.Reservations
	lackCPU, lackMem := 0, 0
	nodes = slices.DeleteFunc(nodes, func(n *state.Node) bool {
		cpu, mem := c.fits(n, need)
		lackCPU += btoi(!cpu)
		lackMem += btoi(!mem)
		return !cpu || !mem
	})
	if lackMem > 0 {
		why = append(why, fmt.Sprintf("insufficient memory on %s (need %s)", count(lackMem), state.HumanBytes(need.MemoryBytes)))
	}
	if lackCPU > 0 {
		why = append(why, fmt.Sprintf("insufficient CPU on %s (need %s)", count(lackCPU), cpus(need.NanoCPUs)))
	}

	busy := map[string]int{}
	nodes = slices.DeleteFunc(nodes, func(n *state.Node) bool {
		taken := false
		for _, p := range hostPorts(svc) {
			if c.load[n.ID].hostPorts[p] {
				busy[p]++
				taken = true
			}
		}
		return taken
	})
	for _, p := range slices.Sorted(maps.Keys(busy)) {
		why = append(why, fmt.Sprintf("port %s already published on %s", p, count(busy[p])))
	}
	if len(nodes) > 0 {
		return nodes, ""
	}
	return nil, strings.Join(why, "; ")
}

// count writes "1 node" or "3 nodes".
func count(n int) string {
	if n == 1 {
		return "1 node"
	}
	return fmt.Sprintf("%d nodes", n)
}

func cpus(nano int64) string {
	if nano == 1e9 {
		return "1 CPU"
	}
	return state.HumanCPUs(nano) + " CPUs"
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
