package vip

import (
	"fmt"
	"testing"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// BenchmarkCompute: the VIP table of 1,000 services with 3 backends
// each, recomputed as after every burst of commits.
func BenchmarkCompute(b *testing.B) {
	t := b
	c := &cluster{Store: state.NewStore()}
	c.fsm = state.NewFSM(c.Store)
	c.apply(t, state.RegisterNode{Node: state.Node{ID: "n1", Hostname: "h1", Role: state.RoleManager}})
	c.apply(t, state.CreateNetwork{ID: "net", Subnet: "10.1.0.0/16", CreatedAt: t0})
	c.apply(t, state.SetGateway{NetworkID: "net"})
	c.apply(t, state.AttachEngine{NetworkID: "net", Node: "n1", EngineID: "e"})
	c.apply(t, state.RenameNetwork{NetworkID: "net", Name: "appnet"})
	for i := range 1000 {
		name := fmt.Sprintf("s%04d", i)
		c.service(t, name, name, "appnet")
		for k := range 3 {
			ep := fmt.Sprintf("%s-%d", name, k)
			c.endpoint(t, ep, "net", "n1", fmt.Sprintf("10.1.%d.%d", 1+i/80, 1+(i%80)*3+k), state.EndpointStatus{Running: true, Service: name})
		}
	}
	b.ResetTimer()
	for range b.N {
		var tbl Table
		c.View(func(tx state.ReadTx) { tbl = Compute(tx) })
		if len(tbl["net"]) != 1000 {
			b.Fatalf("%d VIPs", len(tbl["net"]))
		}
	}
}

// BenchmarkTrackerOneChange: one backend's health flips among 100 and
// 1,000 services, and the tracker updates the table from its event (the
// cost should not grow with the number of services).
func BenchmarkTrackerOneChange(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			c := &cluster{Store: state.NewStore()}
			c.fsm = state.NewFSM(c.Store)
			c.apply(b, state.RegisterNode{Node: state.Node{ID: "n1", Hostname: "h1", Role: state.RoleManager}})
			c.apply(b, state.CreateNetwork{ID: "net", Subnet: "10.1.0.0/16", CreatedAt: t0})
			c.apply(b, state.SetGateway{NetworkID: "net"})
			c.apply(b, state.AttachEngine{NetworkID: "net", Node: "n1", EngineID: "e"})
			c.apply(b, state.RenameNetwork{NetworkID: "net", Name: "appnet"})
			for i := range n {
				name := fmt.Sprintf("s%04d", i)
				c.service(b, name, name, "appnet")
				for k := range 3 {
					ep := fmt.Sprintf("%s-%d", name, k)
					c.endpoint(b, ep, "net", "n1", fmt.Sprintf("10.1.%d.%d", 1+i/80, 1+(i%80)*3+k), state.EndpointStatus{Running: true, Service: name})
				}
			}
			trk := newTracker()
			c.View(func(tx state.ReadTx) { trk.rebuild(tx) })
			ev := []state.Event{{Kind: "endpoint", Action: "update", ID: "s0050-1"}}
			up := false
			for b.Loop() {
				c.status(b, "s0050-1", state.EndpointStatus{Running: up, Service: "s0050"})
				up = !up
				c.View(func(tx state.ReadTx) {
					if ch, ok := trk.update(tx, ev); !ok || !ch["net"] {
						b.Fatalf("changed %v %v", ch, ok)
					}
				})
			}
		})
	}
}
