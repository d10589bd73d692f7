package vip

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// applyAt applies cmd as raft would at index i.
func (c *cluster) applyAt(t *testing.T, i uint64, cmd state.Command) {
	t.Helper()
	b, err := state.Encode(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if res := c.fsm.Apply(&raft.Log{Index: i, Type: raft.LogCommand, Data: b}).(state.Result); res.Err != nil {
		t.Fatal(res.Err)
	}
}

// The controller reports the index of the state it applied to every
// namespace; a failed namespace holds the report back until it is
// applied again.
func TestControllerReportsAppliedIndex(t *testing.T) {
	c := newCluster(t)
	c.service(t, "s1", "web", "appnet")
	c.endpoint(t, "w1", "net", "n2", "10.1.0.11", state.EndpointStatus{Running: true, Service: "web"})
	c.apply(t, state.CreateEndpoint{Endpoint: state.Endpoint{ID: "cl", NetworkID: "net", Node: "n1", IP: "10.1.0.20"}})
	e := newEngine()
	ops := make(chan op, 64)
	fail := &failures{}
	open := func(path string) (l4.DataPlane, error) { return &plane{path: path, log: ops, fail: fail}, nil }
	reports := make(chan uint64, 64)
	m, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	// A short period: a failed namespace is applied again by the next sync.
	ctl := New(c, e, Options{Node: "n1", Plane: "fake", Open: open, Reconcile: 20 * time.Millisecond, Log: testLog(t), Metrics: m,
		Applied: func(i uint64) { reports <- i }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctl.Run(ctx)
	}()
	defer func() { cancel(); <-done }()
	e.run("client", "cl")
	wantOp(t, ops, "/ns/client", "apply")
	go func() { // the planes' calls are not the point here
		for {
			select {
			case <-ops:
			case <-done:
				return
			}
		}
	}()
	next := func(want uint64) {
		t.Helper()
		for got := range reports {
			if got == want {
				return
			}
			if got > want {
				t.Fatalf("reported %d, want %d first", got, want)
			}
		}
	}
	down := state.EndpointUpdate{ID: "w1", Status: state.EndpointStatus{Service: "web"}}
	c.applyAt(t, 5, state.SetEndpointStatus{Endpoints: []state.EndpointUpdate{down}})
	next(5)
	fail.mu.Lock()
	fail.apply = 1
	fail.mu.Unlock()
	up := down
	up.Status.Running = true
	c.applyAt(t, 6, state.SetEndpointStatus{Endpoints: []state.EndpointUpdate{up}})
	c.applyAt(t, 7, state.SetEndpointStatus{Endpoints: []state.EndpointUpdate{down}})
	for got := range reports {
		if got == 6 {
			t.Fatal("reported index 6, whose apply failed")
		}
		if got == 7 {
			break
		}
	}
}
