package executor

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/errdefs"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

func staleContainer(id, task, node string, running bool) *fakeContainer {
	st := container.State{Status: container.StateExited}
	if running {
		st = container.State{Status: container.StateRunning, Running: true}
	}
	return &fakeContainer{id: id, name: "web.9." + task, state: st,
		cfg: &container.Config{Image: "xo-demo:v1", Labels: map[string]string{LabelTask: task, LabelNode: node, LabelService: "web"}}}
}

func TestStaleContainers(t *testing.T) {
	f := newFixture(t, webSpec())
	f.assign("moved", 1, "n2") // rescheduled on n2 while n1 was down
	f.eng.add(staleContainer("c-moved", "moved", "n1", true))
	f.eng.add(staleContainer("c-gone", "gone", "n1", true))        // its task was deleted meanwhile
	f.eng.add(staleContainer("c-other", "other", "n9", true))      // another node's label: not ours
	f.eng.add(staleContainer("c-exited", "gone-too", "n1", false)) // stopped already
	next := f.converge()
	f.converge()
	if f.eng.find("c-moved") != nil {
		t.Fatal("the container of a task rescheduled on another node still exists")
	}
	if c := f.eng.find("c-gone"); c == nil || !c.state.Running {
		t.Fatal("a container whose task is missing is stopped before the grace period")
	}
	if f.eng.find("c-other") == nil {
		t.Fatal("removed a container labelled with another node")
	}
	if !next.Equal(t0.Add(f.ex.staleGrace)) {
		t.Fatalf("next pass at %v, want when the grace period ends", next)
	}
	f.advance(f.ex.staleGrace)
	f.converge() // stops
	f.converge() // removes
	for _, id := range []string{"c-gone", "c-exited"} {
		if f.eng.find(id) != nil {
			t.Fatalf("stale container %s still exists after the grace period", id)
		}
	}
	if len(f.statusWrites()) != 0 {
		t.Fatal("reported on another node's task")
	}
}

func TestStaleGraceRestartsWhenTheTaskReturns(t *testing.T) {
	f := newFixture(t, webSpec())
	f.eng.add(staleContainer("c1", "t1", "n1", true))
	f.converge()
	f.assign("t1", 9, "n1") // a replica being replayed: the task is back
	f.advance(f.ex.staleGrace)
	f.converge()
	if c := f.eng.find("c1"); c == nil || !c.state.Running {
		t.Fatal("stopped the container of a task of this node")
	}
}

func TestRestartFindsItsContainers(t *testing.T) {
	f := newFixture(t, webSpec())
	ctr := f.running("t1")
	// t2's container was created, then the agent stopped before starting it.
	f.eng.fail("start", errdefs.Unavailable(errors.New("engine restarting")))
	f.assign("t2", 2, "n1")
	f.converge()
	f.status("t2", state.TaskStarting, "")
	f.eng.calls = nil

	f.ex = f.executor() // the agent restarts
	f.converge()
	f.status("t1", state.TaskRunning, "")
	f.status("t2", state.TaskRunning, "")
	if f.eng.count("create") != 0 || f.eng.count("stop") != 0 || f.eng.count("start") != 1 {
		t.Fatalf("after a restart: calls %v", f.eng.callLog())
	}
	if len(f.eng.containers) != 2 || f.eng.find(ctr.id) == nil {
		t.Fatal("containers changed")
	}
}

func TestBackoff(t *testing.T) {
	f := newFixture(t, webSpec())
	down := errors.New("Cannot connect to the Docker daemon at unix:///var/run/docker.sock")
	for range 8 {
		f.eng.fail("create", down)
	}
	f.assign("t1", 1, "n1")
	start := f.now()
	var tries []time.Duration // when each create was tried, from the start
	for step := 0; step < 1500 && len(tries) < 9; step++ {
		before := f.eng.count("create")
		next := f.converge()
		if f.eng.count("create") > before {
			tries = append(tries, f.now().Sub(start))
		}
		if f.task("t1").Status.State == state.TaskRunning {
			break
		}
		if next.IsZero() || !next.After(f.now()) {
			t.Fatalf("after try %d: next pass at %v, now %v", len(tries), next, f.now())
		}
		f.advance(100 * time.Millisecond) // events and ticks come more often than the back-off allows
	}
	want := []time.Duration{0, 1, 3, 7, 15, 31, 61, 91, 121} // waits 1, 2, 4, 8, 16, 30, 30, 30 s
	if len(tries) != len(want) {
		t.Fatalf("tries at %v", tries)
	}
	for i, w := range want {
		if tries[i].Round(100*time.Millisecond) != w*time.Second {
			t.Fatalf("try %d at %v, want %v (all: %v)", i, tries[i], w*time.Second, tries)
		}
	}
	tk := f.status("t1", state.TaskRunning, "")
	if tk.Status.Message != "started" {
		t.Fatalf("message %q", tk.Status.Message)
	}
	if m := f.ex.memos["t1"]; m.fails != 0 || !m.retryAt.IsZero() {
		t.Fatal("back-off kept after the task ran")
	}
}

func TestBackoffOfStop(t *testing.T) {
	f := newFixture(t, webSpec())
	ctr := f.running("t1")
	f.eng.fail("stop", errors.New("connection reset by peer"), errors.New("connection reset by peer"))
	f.desire("t1", state.TaskShutdown)
	f.converge()
	f.converge()
	if n := f.eng.count("stop"); n != 1 {
		t.Fatalf("%d stops within the back-off", n)
	}
	f.advance(time.Second)
	f.converge()
	f.advance(2 * time.Second)
	f.converge()
	f.converge()
	if f.eng.count("stop") != 3 || f.eng.find(ctr.id).state.Running {
		t.Fatalf("calls %v", f.eng.callLog())
	}
	f.status("t1", state.TaskShutdown, "")
}

// TestRun drives the loop: engine events and store commits start passes.
func TestRun(t *testing.T) {
	f := newFixture(t, webSpec())
	f.ex.debounce = time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); f.ex.Run(ctx) }()
	defer func() { cancel(); <-done }()

	f.assign("t1", 1, "n1") // a store commit
	waitFor(t, func() bool { return f.task("t1").Status.State == state.TaskRunning })
	c := f.eng.find("web.1.t1")
	f.eng.edit(c.id, func(c *fakeContainer) { c.state = container.State{Status: container.StateExited, ExitCode: 2} })
	f.eng.events <- events.Message{Type: events.ContainerEventType, Action: events.ActionDie, Actor: events.Actor{ID: c.id}}
	waitFor(t, func() bool { return f.task("t1").Status.State == state.TaskFailed })
	f.status("t1", state.TaskFailed, "exit code 2")

	// The event stream breaks: the executor subscribes again and converges.
	f.eng.eventErrs <- errors.New("unexpected EOF")
	waitFor(t, func() bool { return testutil.ToFloat64(f.ex.metrics.engineErrors.WithLabelValues("events")) == 1 })
}

// waitFor polls cond every millisecond for up to 5 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestEngineDown(t *testing.T) {
	f := newFixture(t, webSpec())
	f.assign("t1", 1, "n1")
	down := errors.New("Cannot connect to the Docker daemon")
	f.eng.fail("list", down, down)
	if next := f.converge(); !next.Equal(t0.Add(time.Second)) {
		t.Fatalf("next pass at %v, want in 1 s", next)
	}
	f.converge() // an event within the back-off: no call
	if n := f.eng.count("list"); n != 1 {
		t.Fatalf("%d lists within the back-off", n)
	}
	f.advance(time.Second)
	if next := f.converge(); !next.Equal(f.now().Add(2 * time.Second)) {
		t.Fatalf("next pass at %v, want in 2 s", next)
	}
	f.advance(2 * time.Second)
	f.converge()
	f.status("t1", state.TaskRunning, "")
	if testutil.ToFloat64(f.ex.metrics.engineErrors.WithLabelValues("list")) != 2 {
		t.Fatal("engine errors not counted")
	}
}

func TestNetworkGone(t *testing.T) {
	f := newFixture(t, webSpec())
	f.propose(state.MarkNetworkDeleting{NetworkID: "net"})
	f.assign("t1", 1, "n1")
	f.converge()
	f.status("t1", state.TaskRejected, "network appnet is being removed")
}
