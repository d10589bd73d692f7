package executor

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// simFixture is the executor fixture (node n1, service web on appnet)
// with the real executor on a SimEngine instead of the fake engine.
type simFixture struct {
	*fixture
	sim     *SimEngine
	journal string
}

func newSimFixture(t *testing.T) *simFixture {
	t.Helper()
	f := &simFixture{fixture: newFixture(t, webSpec()), journal: filepath.Join(t.TempDir(), "engine.jsonl")}
	f.restart()
	return f
}

// restart is n1's agent killed and started again: a new executor on a
// SimEngine opened on the journal of the last one, which is not closed
// (kill -9).
func (f *simFixture) restart() {
	sim, err := OpenSimEngine(f.journal)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = sim.Close() })
	f.sim = sim
	f.ex = New(f.sim, f.cl, "n1", slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	f.ex.now = f.now
}

// container returns the simulated container named name, nil when none.
func (f *simFixture) container(name string) *container.InspectResponse {
	in, err := f.sim.ContainerInspect(context.Background(), name)
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return &in
}

// eventually polls cond until it holds; the deadline only bounds a
// broken run.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestSimTaskLifecycle(t *testing.T) {
	f := newSimFixture(t)
	f.assign("t1", 1, "n1")
	f.assign("t2", 2, "n1")
	f.converge()
	for _, id := range []string{"t1", "t2"} {
		tk := f.status(id, state.TaskRunning, "")
		c := f.container(tk.Status.ContainerID)
		if c == nil || !c.State.Running || c.Name != "/web."+map[string]string{"t1": "1", "t2": "2"}[id]+"."+id {
			t.Fatalf("task %s: container %+v", id, c)
		}
		if c.Config.Labels[LabelTask] != id || c.Config.Labels[LabelNode] != "n1" || c.Config.Labels[LabelService] != "web" {
			t.Fatalf("task %s: labels %v", id, c.Config.Labels)
		}
		if _, ok := c.NetworkSettings.Networks["appnet"]; !ok {
			t.Fatalf("task %s: networks %v", id, c.NetworkSettings.Networks)
		}
	}

	// Desired shutdown: stopped (a stop of its own goroutine), then reported.
	f.desire("t1", state.TaskShutdown)
	f.converge()
	f.converge()
	f.status("t1", state.TaskShutdown, "")
	c1 := f.container("web.1.t1")
	if c1 == nil || c1.State.Running || c1.State.ExitCode != 0 {
		t.Fatalf("stopped container: %+v", c1)
	}
	// Desired remove: its container goes.
	f.desire("t1", state.TaskRemove)
	f.converge()
	if f.container("web.1.t1") != nil {
		t.Fatal("desired remove: the container is still there")
	}
	f.status("t2", state.TaskRunning, "")
}

// TestSimEventsDriveTheExecutor runs the executor's loop with its period
// out of the way: only the engine's events can tell it a container went.
func TestSimEventsDriveTheExecutor(t *testing.T) {
	f := newSimFixture(t)
	f.ex.debounce, f.ex.period = time.Millisecond, time.Hour
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); f.ex.Run(ctx) }()
	defer func() { cancel(); <-done }()

	f.assign("t1", 1, "n1")
	eventually(t, "t1 running", func() bool { return f.task("t1").Status.State == state.TaskRunning })
	// docker rm -f behind the executor's back: die and destroy events.
	if err := f.sim.ContainerRemove(t.Context(), "web.1.t1", container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "t1 failed", func() bool { return f.task("t1").Status.State == state.TaskFailed })
	f.status("t1", state.TaskFailed, "container removed")
}

func TestSimRestartFindsItsContainers(t *testing.T) {
	f := newSimFixture(t)
	f.assign("t1", 1, "n1")
	f.assign("t2", 2, "n1")
	f.assign("t3", 3, "n1")
	f.converge()
	f.desire("t2", state.TaskShutdown)
	f.desire("t3", state.TaskShutdown)
	f.converge()
	f.converge()
	f.desire("t3", state.TaskRemove)
	f.converge()
	id := f.status("t1", state.TaskRunning, "").Status.ContainerID
	f.status("t2", state.TaskShutdown, "")
	f.statusWrites()

	f.restart() // the agent was killed; the engine kept its containers
	f.converge()
	f.status("t1", state.TaskRunning, "")
	if c := f.container(id); c == nil || !c.State.Running || c.Name != "/web.1.t1" ||
		c.Config.Labels[LabelTask] != "t1" || c.NetworkSettings.Networks["appnet"] == nil {
		t.Fatalf("container %s after the restart: %+v", id, c)
	}
	if c := f.container("web.2.t2"); c == nil || c.State.Running || c.State.Status != container.StateExited {
		t.Fatalf("the stopped container after the restart: %+v", c)
	}
	if f.container("web.3.t3") != nil {
		t.Fatal("a removed container is back after the restart")
	}
	if w := f.statusWrites(); len(w) != 0 {
		t.Fatalf("a restart changed the tasks: %+v", w)
	}
}

func TestSimJournal(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "engine.jsonl")
	s, err := OpenSimEngine(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ContainerCreate(ctx, &container.Config{Image: "img"}, nil, nil, nil, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ContainerList(ctx, container.ListOptions{}); !cerrdefs.IsUnavailable(err) {
		t.Fatalf("a closed engine answered: %v", err)
	}

	// A last line cut short by a kill is left out.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"op":"start","id":`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s, err = OpenSimEngine(path)
	if err != nil {
		t.Fatalf("a torn last line: %v", err)
	}
	if in, err := s.ContainerInspect(ctx, "a"); err != nil || in.State.Status != container.StateCreated {
		t.Fatalf("container a: %+v, %v", in.State, err)
	}
	s.Close()

	// A bad line before the end is an error that says what to do.
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, append([]byte("garbage\n"), b...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenSimEngine(path); err == nil || !strings.Contains(err.Error(), "line 1") ||
		!strings.Contains(err.Error(), "remove the file") {
		t.Fatalf("a bad first line: %v", err)
	}
}

func TestSimEngineErrors(t *testing.T) {
	ctx := t.Context()
	s := NewSimEngine()
	cfg := &container.Config{Image: "any:1", Labels: map[string]string{"a": "1"}}
	created, err := s.ContainerCreate(ctx, cfg, nil, nil, nil, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ContainerCreate(ctx, cfg, nil, nil, nil, "c1"); !cerrdefs.IsConflict(err) {
		t.Fatalf("same name again: %v, want a conflict", err)
	}
	for _, err := range []error{
		s.ContainerStart(ctx, "nope", container.StartOptions{}),
		s.ContainerStop(ctx, "nope", container.StopOptions{}),
		s.ContainerRemove(ctx, "nope", container.RemoveOptions{Force: true}),
	} {
		if !cerrdefs.IsNotFound(err) {
			t.Fatalf("missing container: %v, want not found", err)
		}
	}
	if err := s.ContainerStart(ctx, "c1", container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.ContainerRemove(ctx, created.ID, container.RemoveOptions{}); !cerrdefs.IsConflict(err) {
		t.Fatalf("removing a running container without force: %v, want a conflict", err)
	}
	if _, err := s.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("ancestor", "x"))}); !cerrdefs.IsInvalidArgument(err) {
		t.Fatalf("unknown list filter: %v", err)
	}
	if _, err := s.ImageInspect(ctx, "never-pulled:9"); err != nil {
		t.Fatalf("image inspect: %v; every image exists", err)
	}
}

func TestSimEngineList(t *testing.T) {
	ctx := t.Context()
	s := NewSimEngine()
	mk := func(name string, labels map[string]string, start bool) string {
		r, err := s.ContainerCreate(ctx, &container.Config{Image: "img", Labels: labels}, nil, nil, nil, name)
		if err != nil {
			t.Fatal(err)
		}
		if start {
			if err := s.ContainerStart(ctx, name, container.StartOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		return r.ID
	}
	a := mk("a", map[string]string{LabelTask: "t1", LabelNode: "n1"}, true)
	mk("b", map[string]string{LabelTask: "t2", LabelNode: "n2"}, true)
	c := mk("c", map[string]string{LabelTask: "t3", LabelNode: "n1"}, false)
	mk("d", nil, true)

	names := func(opts container.ListOptions) []string {
		list, err := s.ContainerList(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range list {
			out = append(out, c.Names[0])
		}
		return out
	}
	mine := filters.NewArgs(filters.Arg("label", LabelTask), filters.Arg("label", LabelNode+"=n1"))
	cases := []struct {
		name string
		opts container.ListOptions
		want []string
	}{
		{"running", container.ListOptions{}, []string{"/d", "/b", "/a"}},
		{"all, newest first", container.ListOptions{All: true}, []string{"/d", "/c", "/b", "/a"}},
		{"labels", container.ListOptions{All: true, Filters: mine}, []string{"/c", "/a"}},
		{"labels, running", container.ListOptions{Filters: mine}, []string{"/a"}},
		{"status", container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("status", "created"))}, []string{"/c"}},
		{"id prefix", container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("id", c[:10]))}, []string{"/c"}},
		{"name", container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("name", "/a"))}, []string{"/a"}},
	}
	for _, tc := range cases {
		if got := names(tc.opts); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if err := s.ContainerRemove(ctx, a, container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if got := names(container.ListOptions{All: true, Filters: mine}); !slices.Equal(got, []string{"/c"}) {
		t.Fatalf("after removing a: %v", got)
	}
}

func TestSimEngineEvents(t *testing.T) {
	s := NewSimEngine()
	ctx, cancel := context.WithCancel(t.Context())
	f := filters.NewArgs(filters.Arg("type", "container"), filters.Arg("label", LabelTask),
		filters.Arg("event", "start"), filters.Arg("event", "die"), filters.Arg("event", "destroy"),
		filters.Arg("event", "health_status"))
	msgs, errs := s.Events(ctx, events.ListOptions{Filters: f})

	bg := context.Background()
	hc := &container.HealthConfig{Test: []string{"CMD", "true"}}
	for _, n := range []string{"task", "other"} {
		labels := map[string]string{LabelTask: "t1"}
		if n == "other" {
			labels = map[string]string{"x": "y"}
		}
		if _, err := s.ContainerCreate(bg, &container.Config{Image: "img", Labels: labels, Healthcheck: hc}, nil, nil, nil, n); err != nil {
			t.Fatal(err)
		}
		if err := s.ContainerStart(bg, n, container.StartOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if in, _ := s.ContainerInspect(bg, "task"); in.State.Health == nil || in.State.Health.Status != container.Healthy {
		t.Fatalf("a container with a healthcheck: health %+v, want healthy", in.State.Health)
	}
	if err := s.ContainerStop(bg, "task", container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.ContainerRemove(bg, "task", container.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.ContainerRemove(bg, "other", container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	want := []events.Action{events.ActionStart, events.ActionDie, events.ActionDestroy}
	for i, a := range want {
		select {
		case m := <-msgs:
			if m.Action != a || m.Type != events.ContainerEventType || m.Actor.Attributes["name"] != "task" ||
				m.Actor.Attributes[LabelTask] != "t1" {
				t.Fatalf("event %d: %+v, want %s of task", i, m, a)
			}
		case err := <-errs:
			t.Fatalf("stream ended: %v", err)
		}
	}
	if !(&simSub{filter: f}).wants(events.Message{Type: events.ContainerEventType, Action: "health_status: unhealthy"},
		&simContainer{cfg: &container.Config{Labels: map[string]string{LabelTask: "t1"}}}) {
		t.Fatal("an event filter health_status does not match health_status: unhealthy")
	}
	cancel()
	for {
		select {
		case m := <-msgs:
			t.Fatalf("unexpected event %+v (of the unlabelled container?)", m)
		case err := <-errs:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("stream ended with %v, want the context's error", err)
			}
			return
		}
	}
}

func TestSimEngineEventsOverflow(t *testing.T) {
	s := NewSimEngine()
	s.maxSubQ = 2
	msgs, errs := s.Events(t.Context(), events.ListOptions{})
	bg := context.Background()
	// Nobody reads while the containers are created: the subscription's
	// goroutine holds at most one batch (up to maxSubQ events, blocked
	// on the unbuffered channel), so 2*maxSubQ+1 events overflow it.
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		if _, err := s.ContainerCreate(bg, &container.Config{Image: "img"}, nil, nil, nil, n); err != nil {
			t.Fatal(err)
		}
	}
	for {
		select {
		case <-msgs: // what was queued before the overflow may come first
		case err := <-errs:
			if !cerrdefs.IsUnavailable(err) {
				t.Fatalf("overflow: %v, want unavailable", err)
			}
			return
		}
	}
}
