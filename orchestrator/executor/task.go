package executor

import (
	"context"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// work does one task's part of a pass. It runs on a worker goroutine and
// touches only its job (and the executor's locked maps).
func (e *Executor) work(ctx context.Context, j *job) {
	if j.ctr != nil {
		j.cid = j.ctr.ID
	}
	switch j.act {
	case actCreate:
		e.create(ctx, j)
	case actStart:
		if j.ready() {
			e.observe(ctx, j, true)
		}
	case actObserve:
		e.observe(ctx, j, false)
	case actLost:
		j.report(state.TaskStatus{State: state.TaskFailed, Err: "container removed"})
	case actSettle:
		e.settle(ctx, j)
	}
	if !j.retried {
		e.succeeded(j.t.ID)
	}
	if n := len(j.out); n > 0 && j.out[n-1].Status.State == state.TaskRunning {
		e.observeStart(j.t.ID)
	}
}

// ready says whether the task's container can be made: its service and
// networks are there. Otherwise it reports why not.
func (j *job) ready() bool {
	switch {
	case j.svc == nil:
		return false // its desired state follows (remove)
	case j.gone != "":
		j.report(state.TaskStatus{State: state.TaskRejected, Err: j.gone})
		return false
	case j.wait != "":
		j.report(state.TaskStatus{State: j.last().State, Message: j.wait})
		return false
	}
	return true
}

// create checks the image (nothing is pulled), creates the container and
// starts it.
func (e *Executor) create(ctx context.Context, j *job) {
	j.report(state.TaskStatus{State: state.TaskAccepted})
	if !j.ready() {
		return
	}
	spec := j.svc.TaskSpec(j.t) // a task made before an update runs the spec it was made from
	if j.svc.Outdated(j.t) {
		e.log.Info("task made from an older spec; creating it from that spec if it is the previous one, else the current",
			"task", j.t.ID, "task_spec", j.t.SpecVersion, "service_spec", j.svc.SpecVersion, "image", spec.Image)
	}
	err := e.call(ctx, "image", func(ctx context.Context) error {
		_, err := e.docker.ImageInspect(ctx, spec.Image)
		return err
	})
	if cerrdefs.IsNotFound(err) {
		j.report(state.TaskStatus{State: state.TaskRejected,
			Err: fmt.Sprintf("image %s is not on this engine: docker pull it or load it", spec.Image)})
		return
	}
	if e.blocked(ctx, j, "image", err) {
		return
	}
	j.report(state.TaskStatus{State: state.TaskPreparing})
	cfg, host, nets := containerSpec(j.svc, spec, j.t, e.node, j.nets)
	name := state.TaskName(j.svc.Name, j.t)
	err = e.call(ctx, "create", func(ctx context.Context) error {
		resp, err := e.docker.ContainerCreate(ctx, cfg, host, nets, nil, name)
		j.cid = resp.ID
		return err
	})
	if e.blocked(ctx, j, "create", err) {
		return
	}
	e.log.Info("created task container", "task", j.t.ID, "container", name, "id", short(j.cid))
	var first map[string]*network.EndpointSettings
	if len(j.nets) > 0 {
		first = map[string]*network.EndpointSettings{j.nets[0].name: {}}
	}
	e.start(ctx, j, first)
}

// start connects the networks the container lacks (settings: those it
// has, by name), starts it and reports what it then is.
func (e *Executor) start(ctx context.Context, j *job, settings map[string]*network.EndpointSettings) {
	for _, n := range j.nets {
		if connected(settings, n) {
			continue
		}
		err := e.call(ctx, "connect", func(ctx context.Context) error {
			return e.docker.NetworkConnect(ctx, n.name, j.cid, &network.EndpointSettings{Aliases: n.aliases})
		})
		if e.blocked(ctx, j, "connect", err) {
			return
		}
	}
	j.report(state.TaskStatus{State: state.TaskStarting})
	err := e.call(ctx, "start", func(ctx context.Context) error {
		return e.docker.ContainerStart(ctx, j.cid, container.StartOptions{})
	})
	if e.blocked(ctx, j, "start", err) {
		return
	}
	e.observe(ctx, j, false)
}

// observe inspects the task's container and reports what it is. With
// resume, a container created before and never started (a pass whose
// start failed, or an agent restart in between) is started, after
// connecting the networks it lacks.
func (e *Executor) observe(ctx context.Context, j *job, resume bool) {
	var in container.InspectResponse
	err := e.call(ctx, "inspect", func(ctx context.Context) (err error) {
		in, err = e.docker.ContainerInspect(ctx, j.cid)
		return err
	})
	switch {
	case cerrdefs.IsNotFound(err):
		if !j.last().State.Less(state.TaskStarting) {
			j.report(state.TaskStatus{State: state.TaskFailed, Err: "container removed"})
		} // else gone before its start: the next pass creates it
	case err != nil:
		e.retryLater(ctx, j, "inspect", err)
	case in.ContainerJSONBase == nil || in.State == nil:
	case resume && in.State.Status == container.StateCreated:
		var settings map[string]*network.EndpointSettings
		if in.NetworkSettings != nil {
			settings = in.NetworkSettings.Networks
		}
		e.start(ctx, j, settings)
	default:
		j.report(observed(in.State, j.last().State))
	}
}

// observed is the task status an engine container state shows, given
// the state last reported; an empty State when there is nothing new.
func observed(s *container.State, last state.TaskState) state.TaskStatus {
	switch {
	case s.Status == container.StateRemoving || (s.Dead && !s.Running):
		return state.TaskStatus{State: state.TaskFailed, Err: "container removed"}
	case s.Running && s.Health != nil && s.Health.Status == container.Unhealthy:
		return state.TaskStatus{State: state.TaskFailed, Err: "unhealthy: " + healthOutput(s.Health)}
	case s.Running && last.Less(state.TaskRunning):
		return state.TaskStatus{State: state.TaskRunning, Message: "started"}
	case s.Running || s.Status == container.StateCreated:
		return state.TaskStatus{}
	case s.ExitCode == 0 && !s.OOMKilled && s.Error == "":
		return state.TaskStatus{State: state.TaskComplete, Message: "exit code 0"}
	}
	msg := fmt.Sprintf("exit code %d", s.ExitCode)
	if s.OOMKilled {
		msg += " (OOM killed)"
	}
	if s.Error != "" {
		msg += ": " + s.Error
	}
	return state.TaskStatus{State: state.TaskFailed, Err: msg, ExitCode: s.ExitCode}
}

// healthOutput is what the last health probe said, at most 512 bytes.
func healthOutput(h *container.Health) string {
	if len(h.Log) == 0 || h.Log[len(h.Log)-1] == nil {
		return "no health probe output"
	}
	last := h.Log[len(h.Log)-1]
	out := strings.Join(strings.Fields(last.Output), " ")
	if out == "" {
		return fmt.Sprintf("health probe exit code %d", last.ExitCode)
	}
	if len(out) > 512 {
		out = out[:512] + "..."
	}
	return out
}

// settle reports a task that must not run and whose container does not:
// shutdown (unless it ended by itself before), and removes its container
// when its desired state is remove.
func (e *Executor) settle(ctx context.Context, j *job) {
	msg := j.t.Status.Message // the orchestrator's reason ("scaled down") stays
	if msg == "" {
		msg = "stopped: desired " + string(j.t.DesiredState)
	}
	j.report(state.TaskStatus{State: state.TaskShutdown, Message: msg})
	if j.t.DesiredState != state.TaskRemove || j.ctr == nil {
		return
	}
	err := e.remove(ctx, j.ctr.ID)
	if err != nil {
		e.retryLater(ctx, j, "remove", err)
		return
	}
	e.log.Info("removed task container", "task", j.t.ID, "id", short(j.ctr.ID))
}
