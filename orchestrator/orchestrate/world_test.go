package orchestrate

import (
	"fmt"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// spec returns a random service spec called name: replicated or global,
// with constraints, spread, reservations, a network, restart and update
// policies, or not.
func (w *world) spec(name string) state.ServiceSpec {
	r := w.r
	s := state.ServiceSpec{Name: name, Image: "app:v1", Replicas: uint64(r.IntN(5))}
	if r.IntN(6) == 0 {
		s.Mode, s.Replicas = state.ModeGlobal, 0
	}
	if r.IntN(4) == 0 {
		s.Constraints = []string{"node.labels.zone==a"}
	}
	if r.IntN(4) == 0 {
		s.Preferences = []string{"spread=node.labels.zone"}
	}
	if r.IntN(3) == 0 {
		s.Resources.Reservations.NanoCPUs = int64(r.IntN(3)+1) * 5e8
	}
	if r.IntN(2) == 0 { // its tasks serve once their endpoint there does
		s.Networks = []state.NetworkAttachment{{Target: "net"}}
	}
	s.RestartPolicy = state.RestartPolicy{
		Condition:   []string{"", state.RestartOnFailure, state.RestartNone}[r.IntN(3)],
		Delay:       []time.Duration{0, 5 * time.Second, 30 * time.Second}[r.IntN(3)],
		MaxAttempts: uint64(r.IntN(3)),
		Window:      []time.Duration{0, time.Minute}[r.IntN(2)],
	}
	if r.IntN(2) == 0 {
		s.UpdateConfig = &state.UpdateConfig{
			Parallelism:     uint64(r.IntN(3)),
			Delay:           []time.Duration{0, 5 * time.Second}[r.IntN(2)],
			Order:           []string{state.OrderStopFirst, state.OrderStartFirst}[r.IntN(2)],
			Monitor:         []time.Duration{0, 5 * time.Second, 20 * time.Second}[r.IntN(3)],
			FailureAction:   []string{state.FailurePause, state.FailureContinue, state.FailureRollback}[r.IntN(3)],
			MaxFailureRatio: []float64{0, 0.5}[r.IntN(2)],
		}
	}
	return s
}

func (w *world) services() (out []*state.Service) {
	w.view(func(tx state.ReadTx) { out = tx.Services() })
	return out
}

func (w *world) tasks() (out []*state.Task) {
	w.view(func(tx state.ReadTx) { out = tx.Tasks("") })
	return out
}

// commit makes one random change, as the users, the nodes and the
// engines do.
func (w *world) commit() {
	r := w.r
	now := w.clk.Now()
	svcs := w.services()
	switch k := r.IntN(100); {
	case k < 9:
		name := fmt.Sprintf("svc%d", r.IntN(12))
		w.both(state.CreateService{Service: state.Service{ID: "s-" + name, Spec: w.spec(name), CreatedAt: now}})
	case k < 10: // as another leader's pass does
		name := fmt.Sprintf("svc%d", r.IntN(14))
		w.both(state.CreateService{Service: state.Service{ID: "x-" + name, Spec: state.ServiceSpec{Name: name}, External: true,
			CreatedAt: now}})
	case k < 22 && len(svcs) > 0:
		svc := svcs[r.IntN(len(svcs))]
		if svc.External {
			return
		}
		spec := svc.Spec
		switch r.IntN(4) {
		case 0:
			spec.Replicas = uint64(r.IntN(5))
			if spec.Mode == state.ModeGlobal {
				spec.Replicas = 0
			}
		case 1:
			spec.Env = []string{fmt.Sprintf("V=%d", r.IntN(3))} // a rolling update
		case 2:
			n := w.spec(spec.Name)
			n.Mode, n.Replicas = spec.Mode, spec.Replicas
			spec = n
		default:
			spec.Constraints = nil
		}
		w.both(state.UpdateService{ID: svc.ID, Spec: spec, At: now})
	case k < 26 && len(svcs) > 0:
		w.both(state.RemoveService{ID: svcs[r.IntN(len(svcs))].ID})
	case k < 56:
		w.execute()
	case k < 64:
		id := fmt.Sprintf("n%d", 1+r.IntN(w.nodes))
		st := []string{state.StatusDown, state.StatusReady}[r.IntN(2)]
		w.both(state.SetNodeStatus{ID: id, Status: st, At: now.Add(-time.Duration(r.IntN(60)) * time.Second)})
	case k < 66:
		id := fmt.Sprintf("n%d", 1+r.IntN(w.nodes))
		w.both(state.UpdateNode{ID: id, Availability: []string{state.AvailabilityActive, state.AvailabilityDrain}[r.IntN(2)],
			LabelsAdd: map[string]string{"zone": []string{"a", "b"}[r.IntN(2)]}})
	case k < 67 && w.nodes < 5:
		w.addNode()
	case k < 82:
		w.endpoint()
	default:
		w.clk.Advance(time.Duration(r.IntN(40)) * time.Second)
	}
}

// execute plays one node's executor: some assigned tasks start, some
// running ones end, some tasks wanted stopped stop.
func (w *world) execute() {
	r := w.r
	node := fmt.Sprintf("n%d", 1+r.IntN(w.nodes))
	var ups []state.TaskStatusUpdate
	for _, t := range w.tasks() {
		if t.NodeID != node || r.IntN(3) == 0 {
			continue
		}
		st := state.TaskStatus{Timestamp: w.clk.Now()}
		switch {
		case t.DesiredRunning() && t.Status.State == state.TaskAssigned:
			st.State, st.ContainerID = state.TaskRunning, "c"+t.ID
		case t.DesiredRunning() && t.Status.State == state.TaskRunning && r.IntN(4) == 0:
			st.State, st.ExitCode = []state.TaskState{state.TaskFailed, state.TaskComplete}[r.IntN(2)], 1
		case !t.DesiredRunning() && !t.Status.State.Terminal() && !t.Status.State.Less(state.TaskAssigned):
			st.State = state.TaskShutdown
		default:
			continue
		}
		ups = append(ups, state.TaskStatusUpdate{ID: t.ID, Status: st})
	}
	if len(ups) > 0 {
		w.both(state.SetTaskStatus{Node: node, Tasks: ups})
	}
}

// endpoint plays the engines: a running task's endpoint (healthy or
// not), a hand-run container labelled with a service name, a health
// change, or a container gone.
func (w *world) endpoint() {
	r := w.r
	var eps []*state.Endpoint
	w.view(func(tx state.ReadTx) { eps = tx.Endpoints("") })
	switch k := r.IntN(4); {
	case k == 0 || k == 1:
		var running []*state.Task // or about to
		for _, t := range w.tasks() {
			if t.DesiredRunning() && !t.Status.State.Less(state.TaskAssigned) && t.NodeID != "" {
				running = append(running, t)
			}
		}
		w.ip++
		ep := state.Endpoint{ID: fmt.Sprintf("ep%d", w.ip), NetworkID: "net", Node: fmt.Sprintf("n%d", 1+r.IntN(w.nodes)),
			IP: fmt.Sprintf("10.9.%d.%d", w.ip/200, 1+w.ip%200)}
		st := state.EndpointStatus{Running: true, Service: fmt.Sprintf("svc%d", r.IntN(14))}
		cid := fmt.Sprintf("hand%d", w.ip)
		if k == 0 && len(running) > 0 {
			t := running[r.IntN(len(running))]
			ep.Node, cid = t.NodeID, "c"+t.ID
			st.Task = t.ID
			st.Health = []string{"", state.HealthHealthy, state.HealthStarting, state.HealthUnhealthy}[r.IntN(4)]
			w.view(func(tx state.ReadTx) {
				if svc := tx.Service(t.ServiceID); svc != nil {
					st.Service = svc.Name
				}
			})
			if r.IntN(3) == 0 { // a task's container whose endpoint names no task (its label left behind)
				st.Task = ""
				if r.IntN(2) == 0 { // an external service's, preferably
					st.Service = fmt.Sprintf("svc%d", r.IntN(14))
					for _, svc := range w.services() {
						if svc.External && r.IntN(2) == 0 {
							st.Service = svc.Name
						}
					}
				}
			}
		}
		w.both(state.CreateEndpoint{Endpoint: ep})
		w.both(state.SetEndpointStatus{Endpoints: []state.EndpointUpdate{{ID: ep.ID, ContainerID: cid, Status: st}}})
	case k == 2 && len(eps) > 0:
		ep := eps[r.IntN(len(eps))]
		st := ep.EndpointStatus
		st.Health = []string{"", state.HealthHealthy, state.HealthUnhealthy}[r.IntN(3)]
		st.Running = r.IntN(5) > 0
		w.both(state.SetEndpointStatus{Endpoints: []state.EndpointUpdate{{ID: ep.ID, ContainerID: ep.ContainerID,
			Container: ep.Container, Status: st}}})
	case len(eps) > 0:
		w.both(state.DeleteEndpoint{ID: eps[r.IntN(len(eps))].ID})
	}
}
