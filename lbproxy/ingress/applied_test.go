package ingress

import (
	"context"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/hashicorp/raft"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// The controller reports the index of every state it applied, those
// that change nothing of the published ports included.
func TestControllerReportsAppliedIndex(t *testing.T) {
	c := newCluster(t)
	rec := make(recorder, 256)
	p := parts{
		box:         &sandboxes{eng: newFakeEngine(), node: "n1", image: func(context.Context) (string, error) { return "xo-ingress:t", nil }},
		fw:          recFirewall{rec},
		front:       recFront{rec},
		dial:        &recDial{rec: rec},
		openHost:    func() (l4.DataPlane, error) { return &recPlane{"host", rec}, nil },
		openIngress: func(string) (l4.DataPlane, error) { return &recPlane{"ingress", rec}, nil },
	}
	m, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctl := newController(c, fakeEvents{msgs: make(chan events.Message)}, p, "n1", time.Hour, testLog(t), m)
	reports := make(chan uint64, 16)
	ctl.OnApplied(func(i uint64) { reports <- i })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctl.Run(ctx)
	}()
	defer func() { cancel(); <-done }()
	go func() { // the parts' calls are not the point here
		for {
			select {
			case <-rec:
			case <-done:
				return
			}
		}
	}()
	b, err := state.Encode(state.RegisterNode{Node: state.Node{ID: "n3", Hostname: "h3", Role: state.RoleWorker}})
	if err != nil {
		t.Fatal(err)
	}
	c.fsm.Apply(&raft.Log{Index: 9, Type: raft.LogCommand, Data: b})
	for got := range reports {
		if got == 9 {
			return
		}
	}
}
