package executor

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/errdefs"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

func TestContainerSpec(t *testing.T) {
	spec := state.ServiceSpec{
		Name: "web", Image: "xo-demo:v1", Command: []string{"/demoapp"}, Args: []string{"-listen", ":80"},
		Env: []string{"A=1"}, Labels: map[string]string{"team": "x", LabelTask: "forged"},
		Resources: state.ResourceRequirements{Reservations: state.Resources{NanoCPUs: 5e8, MemoryBytes: 64 << 20},
			Limits: state.Resources{NanoCPUs: 1e9, MemoryBytes: 128 << 20}},
		Healthcheck: &state.Healthcheck{Test: []string{"CMD", "/demoapp", "-check"}, Interval: time.Second,
			Timeout: 2 * time.Second, StartPeriod: 3 * time.Second, Retries: 4},
		Mounts: []state.Mount{{Type: state.MountBind, Source: "/srv", Target: "/data", ReadOnly: true}, {Target: "/cache"}},
		Ports:  []state.PortConfig{{Target: 80, Published: 8080}},
	}
	svc := &state.Service{ID: "s1", Name: "web", Spec: spec}
	tk := &state.Task{ID: "t1", Slot: 2, StopGracePeriod: 1500 * time.Millisecond}
	nets := []attachment{{name: "appnet", id: "e1", aliases: []string{"www"}}, {name: "backnet", id: "e2"}}
	cfg, host, netCfg := containerSpec(svc, spec, tk, "n1", nets)

	wantLabels := map[string]string{"team": "x", LabelService: "web", LabelServiceID: "s1", LabelTask: "t1",
		LabelSlot: "2", LabelNode: "n1"}
	if !reflect.DeepEqual(cfg.Labels, wantLabels) {
		t.Errorf("labels %v", cfg.Labels)
	}
	if spec.Labels[LabelTask] != "forged" {
		t.Error("the spec's labels were changed")
	}
	if !reflect.DeepEqual([]string(cfg.Entrypoint), spec.Command) || !reflect.DeepEqual([]string(cfg.Cmd), spec.Args) ||
		!reflect.DeepEqual(cfg.Env, spec.Env) || cfg.Image != "xo-demo:v1" {
		t.Errorf("config %+v", cfg)
	}
	wantHealth := &container.HealthConfig{Test: []string{"CMD", "/demoapp", "-check"}, Interval: time.Second,
		Timeout: 2 * time.Second, StartPeriod: 3 * time.Second, Retries: 4}
	if !reflect.DeepEqual(cfg.Healthcheck, wantHealth) {
		t.Errorf("healthcheck %+v", cfg.Healthcheck)
	}
	if cfg.StopTimeout == nil || *cfg.StopTimeout != 2 {
		t.Errorf("stop timeout %v, want 2 (1.5 s rounded up)", cfg.StopTimeout)
	}
	if len(cfg.ExposedPorts) != 0 || len(host.PortBindings) != 0 {
		t.Error("published ports are the load balancer's")
	}
	if host.RestartPolicy.Name != container.RestartPolicyDisabled {
		t.Errorf("restart policy %q", host.RestartPolicy.Name)
	}
	if r := host.Resources; r.NanoCPUs != 1e9 || r.Memory != 128<<20 || r.MemoryReservation != 64<<20 {
		t.Errorf("resources %+v", r)
	}
	wantMounts := []mount.Mount{{Type: mount.TypeBind, Source: "/srv", Target: "/data", ReadOnly: true},
		{Type: mount.TypeVolume, Target: "/cache"}}
	if !reflect.DeepEqual(host.Mounts, wantMounts) {
		t.Errorf("mounts %+v", host.Mounts)
	}
	wantNet := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{"appnet": {Aliases: []string{"www"}}}}
	if host.NetworkMode != "appnet" || !reflect.DeepEqual(netCfg, wantNet) {
		t.Errorf("network mode %q, config %+v", host.NetworkMode, netCfg.EndpointsConfig)
	}

	cfg, host, netCfg = containerSpec(svc, state.ServiceSpec{Image: "x"}, &state.Task{ID: "g", NodeID: "n1"}, "n1", nil)
	if cfg.Healthcheck != nil || cfg.StopTimeout != nil || host.NetworkMode != "" || netCfg != nil {
		t.Errorf("minimal spec: %+v %+v %+v", cfg, host, netCfg)
	}
}

func TestDecide(t *testing.T) {
	ctr := func(s container.ContainerState) *container.Summary { return &container.Summary{ID: "c", State: s} }
	task := func(desired, observed state.TaskState) *state.Task {
		return &state.Task{ID: "t", DesiredState: desired, Status: state.TaskStatus{State: observed}}
	}
	const (
		run, shut, rm, done = state.TaskRunning, state.TaskShutdown, state.TaskRemove, state.TaskComplete
	)
	cases := []struct {
		name string
		t    *state.Task
		c    *container.Summary
		want action
	}{
		{"pending", task(run, state.TaskPending), nil, actNone},
		{"assigned", task(run, state.TaskAssigned), nil, actCreate},
		{"preparing, no container yet", task(run, state.TaskPreparing), nil, actCreate},
		{"created", task(run, state.TaskPreparing), ctr(container.StateCreated), actStart},
		{"running", task(run, run), ctr(container.StateRunning), actObserve},
		{"exited, not reported", task(run, run), ctr(container.StateExited), actObserve},
		{"started, container gone", task(run, state.TaskStarting), nil, actLost},
		{"running, being removed", task(run, run), ctr(container.StateRemoving), actLost},
		{"failed: never restarted", task(run, state.TaskFailed), ctr(container.StateExited), actNone},
		{"unhealthy: runs on", task(run, state.TaskFailed), ctr(container.StateRunning), actNone},
		{"shutdown wanted, running", task(shut, run), ctr(container.StateRunning), actStop},
		{"shutdown wanted, paused", task(shut, run), ctr(container.StatePaused), actStop},
		{"failed, then shutdown wanted", task(shut, state.TaskFailed), ctr(container.StateRunning), actStop},
		{"shutdown wanted, stopped", task(shut, run), ctr(container.StateExited), actSettle},
		{"shutdown wanted, never created", task(shut, state.TaskAssigned), nil, actSettle},
		{"shut down, kept for logs", task(shut, shut), ctr(container.StateExited), actNone},
		{"given up (complete)", task(done, run), ctr(container.StateRunning), actStop},
		{"remove wanted, ended", task(rm, state.TaskFailed), ctr(container.StateExited), actSettle},
		{"remove wanted, removed", task(rm, shut), nil, actNone},
	}
	for _, c := range cases {
		if got := decide(c.t, c.c); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

func TestTaskEvent(t *testing.T) {
	ev := func(a events.Action) events.Message {
		return events.Message{Type: events.ContainerEventType, Action: a, Actor: events.Actor{ID: "c"}}
	}
	for a, want := range map[events.Action]string{
		events.ActionStart: "c", events.ActionDie: "c", events.ActionDestroy: "c", events.ActionOOM: "c",
		events.ActionHealthStatusUnhealthy: "c", events.ActionExecStart: "", events.ActionCreate: "",
	} {
		if got := taskEvent(ev(a)); got != want {
			t.Errorf("%s: %q, want %q", a, got, want)
		}
	}
	if taskEvent(events.Message{Type: events.NetworkEventType, Action: events.ActionConnect}) != "" {
		t.Error("network event")
	}
}

func TestRefused(t *testing.T) {
	e := errors.New("x")
	cases := []struct {
		op   string
		err  error
		want bool
	}{
		{"create", errdefs.InvalidParameter(e), true},
		{"start", errdefs.System(e), true}, // the runtime cannot start the command
		{"create", errdefs.NotFound(e), true},
		{"create", errdefs.Conflict(e), false}, // an earlier create that timed out made it
		{"start", errdefs.Conflict(e), true},
		{"create", errdefs.Unavailable(e), false},
		{"create", e, false}, // no answer: connection refused, EOF
		{"create", context.DeadlineExceeded, false},
		{"create", nil, false},
	}
	for _, c := range cases {
		if got := refused(c.op, c.err); got != c.want {
			t.Errorf("%s %v: %v, want %v", c.op, c.err, got, c.want)
		}
	}
}
