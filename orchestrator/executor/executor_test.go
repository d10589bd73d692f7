package executor

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/errdefs"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

func TestCreateStartRunning(t *testing.T) {
	f := newFixture(t, webSpec())
	f.assign("t1", 1, "n1")
	f.cl.TakeWrites()
	f.advance(1500 * time.Millisecond)
	f.converge()

	c := f.eng.find("web.1.t1")
	if c == nil || !c.state.Running {
		t.Fatalf("container web.1.t1: %+v", c)
	}
	tk := f.status("t1", state.TaskRunning, "")
	if tk.Status.ContainerID != c.id {
		t.Fatalf("container ID %q, want %q", tk.Status.ContainerID, c.id)
	}
	writes := f.statusWrites()
	if len(writes) != 1 {
		t.Fatalf("%d status writes, want the pass batched in one: %+v", len(writes), writes)
	}
	var states []state.TaskState
	for _, u := range writes[0].Tasks {
		states = append(states, u.Status.State)
	}
	want := []state.TaskState{state.TaskAccepted, state.TaskPreparing, state.TaskStarting, state.TaskRunning}
	if writes[0].Node != "n1" || !reflect.DeepEqual(states, want) {
		t.Fatalf("reported %v on %s, want %v on n1", states, writes[0].Node, want)
	}
	if got := f.eng.callLog(); !reflect.DeepEqual(got[:3], []string{"list ", "image xo-demo:v1", "create web.1.t1"}) {
		t.Fatalf("calls %v", got)
	}
	if testutil.ToFloat64(f.ex.metrics.tasks.WithLabelValues("running")) != 1 ||
		testutil.CollectAndCount(f.ex.metrics.startSeconds) != 1 {
		t.Fatal("metrics: want 1 running task and 1 start observed")
	}

	// Nothing changed: no engine call beyond the list, no write.
	f.eng.calls = nil
	f.ex.converge(t.Context(), nil, false)
	if w := f.statusWrites(); len(w) != 0 {
		t.Fatalf("idle pass wrote %+v", w)
	}
	if calls := f.eng.callLog(); len(calls) != 1 {
		t.Fatalf("idle pass called %v", calls)
	}
}

func TestExit(t *testing.T) {
	cases := []struct {
		name     string
		exit     container.State
		want     state.TaskState
		wantErr  string
		wantCode int
	}{
		{"exit 0", container.State{Status: container.StateExited}, state.TaskComplete, "", 0},
		{"exit 1", container.State{Status: container.StateExited, ExitCode: 1}, state.TaskFailed, "exit code 1", 1},
		{"oom", container.State{Status: container.StateExited, ExitCode: 137, OOMKilled: true}, state.TaskFailed,
			"exit code 137 (OOM killed)", 137},
		{"rm -f under way", container.State{Status: container.StateRemoving, ExitCode: 137}, state.TaskFailed,
			"container removed", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, webSpec())
			ctr := f.running("t1")
			f.eng.edit(ctr.id, func(fc *fakeContainer) { fc.state = c.exit })
			f.ex.converge(t.Context(), map[string]bool{ctr.id: true}, false)
			if tk := f.status("t1", c.want, c.wantErr); tk.Status.ExitCode != c.wantCode {
				t.Fatalf("exit code %d, want %d", tk.Status.ExitCode, c.wantCode)
			}
			// Never restarted here, nor removed: the orchestrator replaces it.
			f.converge()
			if f.eng.count("start") != 1 || f.eng.count("create") != 1 || f.eng.count("remove") != 0 {
				t.Fatalf("calls %v", f.eng.callLog())
			}
		})
	}
}

func TestContainerRemoved(t *testing.T) {
	f := newFixture(t, webSpec())
	ctr := f.running("t1")
	f.eng.drop(ctr.id) // docker rm -f
	f.ex.converge(t.Context(), map[string]bool{ctr.id: true}, false)
	f.status("t1", state.TaskFailed, "container removed")
	f.converge()
	if f.eng.count("create") != 1 {
		t.Fatal("the executor made the container again")
	}
}

func TestUnhealthy(t *testing.T) {
	spec := webSpec()
	spec.Healthcheck = &state.Healthcheck{Test: []string{"CMD", "/demoapp", "-check"}, Interval: time.Second, Retries: 2}
	spec.StopGracePeriod = 2500 * time.Millisecond
	f := newFixture(t, spec)
	ctr := f.running("t1")
	if !reflect.DeepEqual(ctr.cfg.Healthcheck.Test, []string{"CMD", "/demoapp", "-check"}) {
		t.Fatalf("healthcheck %+v", ctr.cfg.Healthcheck)
	}
	f.eng.edit(ctr.id, func(c *fakeContainer) {
		c.state.Health = &container.Health{Status: container.Unhealthy, FailingStreak: 2, Log: []*container.HealthcheckResult{
			{ExitCode: 0, Output: "ok\n"}, {ExitCode: 1, Output: "demoapp: told to fail\n"}}}
	})
	f.ex.converge(t.Context(), map[string]bool{ctr.id: true}, false)
	f.status("t1", state.TaskFailed, "unhealthy: demoapp: told to fail")
	if f.eng.count("stop") != 0 || !f.eng.find(ctr.id).state.Running {
		t.Fatal("an unhealthy task's container is stopped only when its desired state says so")
	}
	// The replacement runs: the orchestrator stops this one.
	f.desire("t1", state.TaskShutdown)
	f.converge()
	c := f.eng.find(ctr.id)
	if c.state.Running || c.stopped == nil || *c.stopped != 3 {
		t.Fatalf("stop: running %v, timeout %v; want a stop with the grace period (3 s, rounded up)", c.state.Running, c.stopped)
	}
	f.converge()
	f.status("t1", state.TaskFailed, "unhealthy: demoapp: told to fail") // its end stays failed
}

func TestRejected(t *testing.T) {
	badMount := errdefs.InvalidParameter(errors.New(`invalid mount config for type "bind": bind source path does not exist: /nope`))
	cases := []struct {
		name    string
		image   string
		op      string
		err     error
		wantErr string
	}{
		{"image missing", "xo-demo:v9", "", nil, "image xo-demo:v9 is not on this engine: docker pull it or load it"},
		{"create refused", "xo-demo:v1", "create", badMount, badMount.Error()},
		{"start refused", "xo-demo:v1", "start", errdefs.System(errors.New("exec: \"/nope\": no such file or directory")),
			"exec: \"/nope\": no such file or directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := webSpec()
			spec.Image = c.image
			f := newFixture(t, spec)
			if c.op != "" {
				f.eng.fail(c.op, c.err)
			}
			f.assign("t1", 1, "n1")
			f.converge()
			f.status("t1", state.TaskRejected, c.wantErr)
			if c.image == "xo-demo:v9" && f.eng.count("create") != 0 {
				t.Fatal("created a container without its image")
			}
			calls := len(f.eng.callLog())
			f.converge()
			if len(f.eng.callLog()) != calls+1 {
				t.Fatalf("a rejected task is tried again: %v", f.eng.callLog()[calls:])
			}
		})
	}
}

func TestDesiredShutdownAndRemove(t *testing.T) {
	spec := webSpec()
	spec.StopGracePeriod = 5 * time.Second
	f := newFixture(t, spec)
	ctr := f.running("t1")
	f.propose(state.UpdateTasks{Updates: []state.TaskUpdate{{ID: "t1", DesiredState: state.TaskShutdown, Message: "scaled down"}}})
	f.converge() // stops
	if c := f.eng.find(ctr.id); c.state.Running || c.stopped == nil || *c.stopped != 5 {
		t.Fatalf("want a stop with a 5 s grace: %+v", c)
	}
	f.converge() // reports
	if tk := f.status("t1", state.TaskShutdown, ""); tk.Status.Message != "scaled down" {
		t.Fatalf("message %q: the orchestrator's reason is lost", tk.Status.Message)
	}
	if f.eng.find(ctr.id) == nil {
		t.Fatal("a shut down task's container is kept until the task goes")
	}
	f.desire("t1", state.TaskRemove)
	f.converge()
	if f.eng.find(ctr.id) != nil {
		t.Fatal("desired remove: the container is still there")
	}
	if f.eng.count("stop") != 1 {
		t.Fatalf("stopped %d times", f.eng.count("stop"))
	}
}

func TestServiceRemoved(t *testing.T) {
	f := newFixture(t, webSpec())
	ctr := f.running("t1")
	f.propose(state.RemoveService{ID: "s1"})
	f.converge()
	f.converge()
	f.status("t1", state.TaskShutdown, "")
	if f.eng.find(ctr.id) != nil {
		t.Fatal("the container of a removed service's task is still there")
	}
	f.propose(state.DeleteTasks{IDs: []string{"t1"}})
	f.converge()
	if n := testutil.ToFloat64(f.ex.metrics.tasks.WithLabelValues("shutdown")); n != 0 {
		t.Fatalf("gauge shutdown = %v after the task went", n)
	}
}

func TestNotAssignedHere(t *testing.T) {
	f := newFixture(t, webSpec())
	f.assign("t1", 1, "n2")
	f.converge()
	if f.eng.count("create") != 0 || len(f.statusWrites()) != 0 {
		t.Fatal("acted on another node's task")
	}
}

func TestWaitsForNetworkCopy(t *testing.T) {
	f := newFixture(t, webSpec())
	f.propose(state.CreateNetwork{ID: "net2", Subnet: "10.2.0.0/24", CreatedAt: t0},
		state.AttachEngine{NetworkID: "net2", Node: "n2", EngineID: "x2"}, state.RenameNetwork{NetworkID: "net2", Name: "backnet"})
	spec := webSpec()
	spec.Networks = append(spec.Networks, state.NetworkAttachment{Target: "backnet", Aliases: []string{"b"}})
	f.propose(state.UpdateService{ID: "s1", Spec: spec})
	f.assign("t1", 1, "n1")
	f.converge()
	if tk := f.status("t1", state.TaskAccepted, ""); !strings.Contains(tk.Status.Message, "waiting for network backnet") {
		t.Fatalf("message %q", tk.Status.Message)
	}
	f.converge()
	if w := f.statusWrites(); len(w) != 1 || f.eng.count("create") != 0 {
		t.Fatalf("waiting: writes %+v, calls %v", w, f.eng.callLog())
	}
	if !f.ex.relevant(state.Event{Kind: "network", Action: "update", ID: "net2"}) {
		t.Fatal("a network commit does not wake a waiting executor")
	}
	f.propose(state.AttachEngine{NetworkID: "net2", Node: "n1", EngineID: "e2"})
	f.converge()
	f.status("t1", state.TaskRunning, "")
	calls := strings.Join(f.eng.callLog(), ",")
	c := f.eng.find("web.1.t1")
	if es := c.nets["backnet"]; es == nil || !reflect.DeepEqual(es.Aliases, []string{"b"}) ||
		!strings.Contains(calls, "connect "+c.id+",start "+c.id) {
		t.Fatalf("the second network is not connected before the start: %s, networks %v", calls, c.nets)
	}
}
