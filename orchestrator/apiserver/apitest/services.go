package apitest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// IDs of the sample services and tasks of Services.
const (
	TaskAPI1    = "tk1a11111111111111111111a" // api.1 on alpha, running
	TaskAPI1Old = "tk1a00000000000000000000f" // api.1 before it, failed
	TaskAPI2    = "tk2b22222222222222222222b" // api.2 on bravo (down), running
	TaskAPI3    = "tk3c33333333333333333333c" // api.3, pending: no node fits
	TaskMon     = "tkm0000000000000000000000" // mon on alpha, running

	// PendingErr is why TaskAPI3 is not placed.
	PendingErr = "no suitable node: 1 node down, 1 node drained; insufficient memory on 1 node (need 1GiB)"
)

// LegacyID is the ID of the sample's external service legacy.
var LegacyID = ServiceID("legacy (external)")

// ServiceID is the ID Ops, and Services, give a service.
func ServiceID(name string) string {
	sum := sha256.Sum256([]byte("service:" + name))
	return hex.EncodeToString(sum[:])[:25]
}

// Services adds to the sample cluster of Store:
//
//   - api (replicated, 3 replicas, nginx:1.27 on web with alias www,
//     8080:80, reserving 1GiB): api.1 running on alpha (TaskAPI1, container c-api1,
//     replacing TaskAPI1Old, which failed with exit code 3), api.2
//     running on bravo, which is down (TaskAPI2), api.3 pending
//     (TaskAPI3, PendingErr);
//   - mon (global, prom/node-exporter, --constraint node.role==manager):
//     running on alpha (TaskMon, container c-mon);
//   - legacy (external): containers web-1 (in service) and web-3 (not
//     running) run by hand with --label xo.service=legacy.
func Services(t testing.TB, s *state.Store) {
	t.Helper()
	at := func(sec int) time.Time { return Created.Add(time.Hour + time.Duration(sec)*time.Second) }
	api := ServiceID("api")
	Apply(t, s,
		state.CreateService{Service: state.Service{ID: api, CreatedAt: at(0), Spec: state.ServiceSpec{
			Name: "api", Image: "nginx:1.27", Replicas: 3,
			Resources: state.ResourceRequirements{Reservations: state.Resources{MemoryBytes: 1 << 30}},
			Networks:  []state.NetworkAttachment{{Target: "web", Aliases: []string{"www"}}},
			Ports:     []state.PortConfig{{Target: 80, Published: 8080}},
		}}},
		state.CreateService{Service: state.Service{ID: ServiceID("mon"), CreatedAt: at(0), Spec: state.ServiceSpec{
			Name: "mon", Image: "prom/node-exporter", Mode: state.ModeGlobal, Constraints: []string{"node.role==manager"},
		}}},
		state.CreateService{Service: state.Service{ID: LegacyID, Spec: state.ServiceSpec{Name: "legacy"},
			External: true, CreatedAt: at(0)}},
		state.CreateTasks{Tasks: []state.Task{
			{ID: TaskAPI1Old, ServiceID: api, Slot: 1, CreatedAt: at(1)},
			{ID: TaskAPI2, ServiceID: api, Slot: 2, CreatedAt: at(1)},
			{ID: TaskAPI3, ServiceID: api, Slot: 3, CreatedAt: at(1)},
			{ID: TaskMon, ServiceID: ServiceID("mon"), NodeID: AlphaNode, CreatedAt: at(1)},
		}},
		state.UpdateTasks{Updates: []state.TaskUpdate{
			{ID: TaskAPI1Old, NodeID: AlphaNode, Status: &state.TaskStatus{State: state.TaskAssigned, Timestamp: at(2)}},
			{ID: TaskAPI2, NodeID: BravoNode, Status: &state.TaskStatus{State: state.TaskAssigned, Timestamp: at(2)}},
			{ID: TaskAPI3, Status: &state.TaskStatus{State: state.TaskPending, Err: PendingErr, Timestamp: at(2)}},
			{ID: TaskMon, Status: &state.TaskStatus{State: state.TaskAssigned, Timestamp: at(2)}},
		}},
		running(AlphaNode, TaskMon, "c-mon", at(3)),
		running(BravoNode, TaskAPI2, "c-api2", at(3)),
		state.SetTaskStatus{Node: AlphaNode, Tasks: []state.TaskStatusUpdate{{ID: TaskAPI1Old, Status: state.TaskStatus{
			State: state.TaskFailed, Err: "task: non-zero exit (3)", ExitCode: 3, ContainerID: "c-api1-old", Timestamp: at(4)}}}},
		state.CreateTasks{Tasks: []state.Task{{ID: TaskAPI1, ServiceID: api, Slot: 1, Replaces: TaskAPI1Old, CreatedAt: at(5)}}},
		state.UpdateTasks{Updates: []state.TaskUpdate{{ID: TaskAPI1Old, DesiredState: state.TaskShutdown}}},
		state.UpdateTasks{Updates: []state.TaskUpdate{
			{ID: TaskAPI1, NodeID: AlphaNode, Status: &state.TaskStatus{State: state.TaskAssigned, Timestamp: at(5)}},
		}},
		running(AlphaNode, TaskAPI1, "c-api1", at(6)),
		state.SetEndpointStatus{Endpoints: []state.EndpointUpdate{
			{ID: "ep0003aaaa", ContainerID: "c0ep0003aaaa", Container: "web-1",
				Status: state.EndpointStatus{Running: true, Service: "legacy"}},
			{ID: "ep0001bbbb", ContainerID: "c0ep0001bbbb", Container: "web-3", Status: state.EndpointStatus{Service: "legacy"}},
		}},
	)
}

func running(node, task, container string, at time.Time) state.Command {
	return state.SetTaskStatus{Node: node, Tasks: []state.TaskStatusUpdate{{ID: task, Status: state.TaskStatus{
		State: state.TaskRunning, ContainerID: container, Timestamp: at}}}}
}

// ServiceCreate stores the service as ServiceID of its name.
func (o *Ops) ServiceCreate(_ context.Context, spec state.ServiceSpec) (string, error) {
	b, _ := json.Marshal(spec)
	if err := o.record("ServiceCreate", string(b)); err != nil {
		return "", err
	}
	if err := apply(o.Store, state.CreateService{Service: state.Service{
		ID: ServiceID(spec.Name), Spec: spec, CreatedAt: Created.Add(2 * time.Hour),
	}}); err != nil {
		return "", err
	}
	var id string
	o.Store.View(func(tx state.ReadTx) { id = tx.ServiceByName(spec.Name).ID })
	return id, nil
}

// ServiceUpdate replaces the spec, from version.
func (o *Ops) ServiceUpdate(_ context.Context, id string, version uint64, spec state.ServiceSpec) error {
	if err := o.record("ServiceUpdate", id, version, spec.Replicas); err != nil {
		return err
	}
	return apply(o.Store, state.UpdateService{ID: id, Spec: spec, Version: version, At: Created.Add(3 * time.Hour)})
}

// ServiceRollback puts the service back on its previous spec, from
// version.
func (o *Ops) ServiceRollback(_ context.Context, id string, version uint64) error {
	if err := o.record("ServiceRollback", id, version); err != nil {
		return err
	}
	return apply(o.Store, state.RollbackService{ID: id, Version: version, At: Created.Add(3 * time.Hour)})
}

// ServiceRemove removes the service.
func (o *Ops) ServiceRemove(_ context.Context, id string) error {
	if err := o.record("ServiceRemove", id); err != nil {
		return err
	}
	return apply(o.Store, state.RemoveService{ID: id})
}

// TaskLogs emits Logs of the container; with Follow it then waits until
// ctx ends.
func (o *Ops) TaskLogs(ctx context.Context, req apiserver.LogsRequest, emit func(api.LogLine) error) error {
	if err := o.record("TaskLogs", req); err != nil {
		return err
	}
	o.mu.Lock()
	lines := o.Logs[req.ContainerID]
	o.mu.Unlock()
	for _, l := range lines {
		if err := emit(l); err != nil {
			return err
		}
	}
	if req.Follow {
		<-ctx.Done()
	}
	return nil
}
