package orchestrate_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/orchestrate"
	"github.com/xoverlay/xoverlay/orchestrator/reconcile"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// TestReaperTrimsHistory: a task that keeps failing is replaced each
// time; its slot keeps reconcile.HistoryLimit stopped tasks.
func TestReaperTrimsHistory(t *testing.T) {
	h := newHarness(t, 3)
	h.start(h.member(true), orchestrate.Options{})
	h.createService("web", func(s *state.ServiceSpec) { s.Replicas = 1 })
	var limit int
	h.c.View(func(tx state.ReadTx) { limit = reconcile.HistoryLimit(tx.Service("web")) })

	for i := range limit + 3 {
		h.runs("web", 1, 0, 1)
		var cur *state.Task
		h.c.View(func(tx state.ReadTx) {
			for _, tk := range tx.Tasks("web") {
				if tk.DesiredRunning() {
					cur = tk
				}
			}
		})
		if cur.Attempt != uint64(i) {
			t.Fatalf("failure %d: running task's attempt %d", i, cur.Attempt)
		}
		h.propose(state.SetTaskStatus{Node: cur.NodeID, Tasks: []state.TaskStatusUpdate{{ID: cur.ID,
			Status: state.TaskStatus{State: state.TaskFailed, ExitCode: 2, Timestamp: h.clock.Now()}}}})
		h.clock.Advance(time.Minute) // past the back-off of quick failures
	}
	h.runs("web", 1, 0, 1)
	h.eventually(fmt.Sprintf("the running task and %d stopped ones", limit), func() bool {
		return h.countTasks("web") == limit+1
	})
	h.c.View(func(tx state.ReadTx) {
		for _, tk := range tx.Tasks("web") {
			if tk.Attempt < 3 {
				t.Errorf("attempt %d kept: the oldest go first\n%s", tk.Attempt, h.dump())
			}
		}
	})
}

// TestExternalService: a hand-run container labelled xo.service=web
// makes web an external service, removed a grace period after its last
// container goes; a label naming a managed service changes nothing.
func TestExternalService(t *testing.T) {
	h := newHarness(t, 3)
	h.start(h.member(true), orchestrate.Options{ExternalGrace: time.Minute})
	h.createService("api", func(s *state.ServiceSpec) { s.Replicas = 1 })
	h.propose(state.CreateNetwork{ID: "net", Subnet: "10.1.0.0/24", CreatedAt: t0})
	h.propose(state.SetGateway{NetworkID: "net"})
	h.propose(state.AttachEngine{NetworkID: "net", Node: "n1", EngineID: "e1", MTU: 1450})
	h.propose(state.RenameNetwork{NetworkID: "net", Name: "appnet"})
	for i, label := range []string{"web", "api"} {
		id := "ep-" + label
		h.propose(state.CreateEndpoint{Endpoint: state.Endpoint{ID: id, NetworkID: "net", Node: "n1", IP: fmt.Sprintf("10.1.0.%d", i+10)}})
		h.propose(state.SetEndpointStatus{Endpoints: []state.EndpointUpdate{{ID: id, ContainerID: "hand-" + label,
			Container: label + "-manual", Status: state.EndpointStatus{Running: true, Service: label}}}})
	}
	service := func(name string) (svc *state.Service) {
		h.c.View(func(tx state.ReadTx) { svc = tx.ServiceByName(name) })
		return svc
	}
	h.eventually("external service web", func() bool { return service("web") != nil })
	if svc := service("web"); !svc.External || len(svc.ID) != 25 || !svc.CreatedAt.Equal(t0) {
		t.Fatalf("service web %+v: want external, a 25-character ID, created now", svc)
	}
	if svc := service("api"); svc.External || svc.ID != "api" {
		t.Fatalf("service api %+v: want the managed one untouched", svc)
	}

	h.propose(state.DeleteEndpoint{ID: "ep-web"})
	h.clock.Advance(59 * time.Second)
	time.Sleep(100 * time.Millisecond) // passes within the grace
	if service("web") == nil {
		t.Fatal("web removed before its grace ended")
	}
	h.clock.Advance(time.Second)
	h.eventually("web removed after its grace", func() bool { return service("web") == nil })
	if service("api") == nil {
		t.Fatal("managed service api removed")
	}
}
