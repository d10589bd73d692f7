package ingress

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// TestInterestPassesOverOnlyWhatCannotMatter applies random commits and
// checks the promise passOver relies on: whenever interest says a burst
// does not affect the plan, recomputing gives the plan computed before.
// It also checks that bursts are passed over at all (a filter that says
// yes to everything would pass the first check).
func TestInterestPassesOverOnlyWhatCannotMatter(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			c := newCluster(t)
			evs, stop := c.Watch()
			defer stop()
			plans := map[string]Plan{"n1": c.plan("n1"), "n2": c.plan("n2")}
			var in interest
			c.View(func(tx state.ReadTx) { in = interestOf(tx) })
			passed := 0
			for step := range 300 {
				if _, err := c.try(randomCommand(rng, step)); err != nil {
					continue // refused: nothing changed
				}
				burst := collect(evs)
				var affects bool
				c.View(func(tx state.ReadTx) { affects = in.affects(tx, burst) })
				for node, before := range plans {
					after := c.plan(node)
					if !affects && !reflect.DeepEqual(after, before) {
						t.Fatalf("step %d: events %+v passed over, but %s's plan changed\nbefore %+v\nafter  %+v",
							step, burst, node, before, after)
					}
					plans[node] = after
				}
				if affects {
					c.View(func(tx state.ReadTx) { in = interestOf(tx) })
				} else {
					passed++
				}
			}
			if passed == 0 {
				t.Fatal("no burst was passed over")
			}
		})
	}
}

// randomCommand is one commit of a small cluster: services that publish
// or not, tasks wanted running or stopped, endpoints (running tasks or
// not) coming, changing health, going, nodes going down and up.
func randomCommand(rng *rand.Rand, step int) state.Command {
	svc := fmt.Sprintf("s%d", rng.IntN(6))
	ep := fmt.Sprintf("e%d", rng.IntN(12))
	node := fmt.Sprintf("n%d", 1+rng.IntN(2))
	task := fmt.Sprintf("t%d", rng.IntN(6))
	switch rng.IntN(10) {
	case 0, 1:
		spec := state.ServiceSpec{Name: svc, Image: "xo-demo:v1", Replicas: 1,
			Networks: []state.NetworkAttachment{{Target: "appnet"}}}
		switch rng.IntN(4) {
		case 0:
			spec.Ports = []state.PortConfig{{Target: 8080, Published: uint16(8000 + rng.IntN(3))}}
		case 1:
			spec.Ports = []state.PortConfig{{Target: 8080, Published: 9000, Mode: state.PublishHTTP}}
			spec.Labels = map[string]string{state.LabelHTTPPath: "/" + svc}
		}
		if rng.IntN(2) == 0 {
			return state.CreateService{Service: state.Service{ID: "id-" + svc, Spec: spec, CreatedAt: t0}}
		}
		return state.UpdateService{ID: "id-" + svc, Spec: spec}
	case 2:
		return state.RemoveService{ID: "id-" + svc}
	case 3:
		return state.CreateEndpoint{Endpoint: state.Endpoint{ID: ep, NetworkID: "net", Node: node,
			IP: fmt.Sprintf("10.1.0.%d", 10+step%200), CreatedAt: t0}}
	case 4, 5:
		st := state.EndpointStatus{Running: rng.IntN(4) > 0, Service: fmt.Sprintf("s%d", rng.IntN(6))}
		if rng.IntN(2) == 0 {
			st.Task = task
		}
		if rng.IntN(3) == 0 {
			st.Health = state.HealthUnhealthy
		}
		return state.SetEndpointStatus{Endpoints: []state.EndpointUpdate{{ID: ep, ContainerID: "c-" + ep, Container: ep, Status: st}}}
	case 6:
		return state.DeleteEndpoint{ID: ep}
	case 7:
		return state.CreateTasks{Tasks: []state.Task{{ID: task, ServiceID: "id-" + svc, Slot: uint64(1 + step),
			DesiredState: state.TaskRunning, CreatedAt: t0}}}
	case 8:
		desired := state.TaskShutdown
		if rng.IntN(2) == 0 {
			desired = state.TaskRunning
		}
		return state.UpdateTasks{Updates: []state.TaskUpdate{{ID: task, DesiredState: desired}}}
	default:
		status := state.StatusReady
		if rng.IntN(2) == 0 {
			status = state.StatusDown
		}
		return state.SetNodeStatus{ID: node, Status: status, At: t0}
	}
}
