package update

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

var t0 = time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)

// at is t0 plus sec seconds: the fake clock of the cases.
func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

// web is service web updated at t0 from spec digest "A" to "B", with 3
// replicas and the given update policy.
func web(cfg state.UpdateConfig) *state.Service {
	prev := state.ServiceSpec{Name: "web", Image: "app:1", Replicas: 3}
	return &state.Service{ID: "s", Name: "web", SpecVersion: 2, TaskVersion: 2, SpecDigest: "B",
		Spec:         state.ServiceSpec{Name: "web", Image: "app:2", Replicas: 3, UpdateConfig: &cfg},
		PreviousSpec: &prev,
		UpdateStatus: &state.UpdateStatus{State: state.UpdateUpdating, StartedAt: t0, Message: "update in progress"}}
}

// old is a task of spec A in slot, running on node n<slot> since before
// the update.
func old(id string, slot uint64) *state.Task {
	return &state.Task{ID: id, ServiceID: "s", Slot: slot, NodeID: fmt.Sprintf("n%d", slot), SpecDigest: "A",
		DesiredState: state.TaskRunning, CreatedAt: at(-60),
		Status: state.TaskStatus{State: state.TaskRunning, Timestamp: at(-59)}}
}

// fresh is a task of spec B in slot, made at sec, in st.
func fresh(id string, slot uint64, sec int, st state.TaskState) *state.Task {
	return &state.Task{ID: id, ServiceID: "s", Slot: slot, NodeID: fmt.Sprintf("n%d", slot), SpecDigest: "B",
		DesiredState: state.TaskRunning, CreatedAt: at(sec), Status: state.TaskStatus{State: st, Timestamp: at(sec + 1)}}
}

func with(t *state.Task, edit func(*state.Task)) *state.Task {
	edit(t)
	return t
}

func replacing(id string) func(*state.Task) { return func(t *state.Task) { t.Replaces = id } }

func draining(t *state.Task) { t.Draining = true }

func stopping(t *state.Task) { t.DesiredState = state.TaskShutdown }

func failedAt(sec int, err string) func(*state.Task) {
	return func(t *state.Task) {
		t.Status = state.TaskStatus{State: state.TaskFailed, Err: err, Timestamp: at(sec)}
	}
}

func nodes(n int) []*state.Node {
	var out []*state.Node
	for i := 1; i <= n; i++ {
		out = append(out, &state.Node{ID: fmt.Sprintf("n%d", i), Hostname: fmt.Sprintf("h%d", i), Status: state.StatusReady})
	}
	return out
}

// serving says which tasks serve, and since when: "id@sec".
func serving(in *Input, specs ...string) {
	in.Serving, in.Seen = map[string]bool{}, map[string]time.Time{}
	for _, s := range specs {
		id, sec, _ := strings.Cut(s, "@")
		var n int
		fmt.Sscan(sec, &n)
		in.Serving[id], in.Seen[id] = true, at(n)
	}
}

// summary writes a plan as lines, for comparison.
func summary(p Plan) []string {
	var out []string
	for _, c := range p.Create {
		key := fmt.Sprintf("slot=%d", c.Slot)
		if c.NodeID != "" {
			key = "node=" + c.NodeID
		}
		out = append(out, fmt.Sprintf("create %s replaces=%s: %s", key, c.Replaces, c.Reason))
	}
	for _, r := range p.Retire {
		out = append(out, fmt.Sprintf("retire %s: %s", r.Task.ID, r.Reason))
	}
	for _, id := range p.Undrain {
		out = append(out, "undrain "+id)
	}
	if p.Status != nil {
		s := fmt.Sprintf("status %s: %s", p.Status.State, p.Status.Message)
		if !p.Status.CompletedAt.IsZero() {
			s += fmt.Sprintf(" (completed at %s)", p.Status.CompletedAt.Sub(t0))
		}
		out = append(out, s)
	}
	if p.Rollback != "" {
		out = append(out, "rollback: "+p.Rollback)
	}
	if !p.Wake.IsZero() {
		out = append(out, fmt.Sprintf("wake %s", p.Wake.Sub(t0)))
	}
	return out
}

func TestDecide(t *testing.T) {
	stopFirst := state.DefaultUpdateConfig()
	startFirst := stopFirst
	startFirst.Order = state.OrderStartFirst
	const stop = "update: stopped, a task of the new spec takes its place"
	cases := []struct {
		name    string
		cfg     state.UpdateConfig
		edit    func(*state.Service)
		tasks   []*state.Task
		serving []string // id@sec: serving since t0+sec
		nodes   int      // 3 when 0
		now     int
		want    []string
	}{
		{name: "stop-first, one at a time: the first slot is drained and stopped", cfg: stopFirst,
			tasks: []*state.Task{old("a", 1), old("b", 2), old("c", 3)}, serving: []string{"a@-50", "b@-50", "c@-50"},
			want: []string{"retire a: " + stop}},
		{name: "stop-first: a drained task is retired again (after a leader change), nothing else starts", cfg: stopFirst,
			tasks: []*state.Task{with(old("a", 1), draining), old("b", 2), old("c", 3)},
			want:  []string{"retire a: " + stop}},
		{name: "stop-first: waiting for the old task to stop", cfg: stopFirst,
			tasks: []*state.Task{with(old("a", 1), stopping), old("b", 2), old("c", 3)}},
		{name: "stop-first: stopped, its new task not made yet: the worker waits", cfg: stopFirst, now: 2,
			tasks: []*state.Task{with(old("a", 1), func(t *state.Task) {
				stopping(t)
				t.Status = state.TaskStatus{State: state.TaskShutdown, Timestamp: at(1)}
			}), old("b", 2), old("c", 3)}},
		{name: "stop-first: an old task stopping on a node that is gone does not hold the worker", cfg: stopFirst, nodes: 2,
			tasks: []*state.Task{old("b", 2), with(old("c", 3), stopping), old("d", 1)},
			want:  []string{"retire d: " + stop}},
		{name: "stop-first: waiting for the new task to serve", cfg: stopFirst,
			tasks: []*state.Task{with(old("a", 1), stopping), fresh("a2", 1, 1, state.TaskRunning), old("b", 2), old("c", 3)}},
		{name: "stop-first: the new task serves: next slot", cfg: stopFirst, now: 3, serving: []string{"a2@2"},
			tasks: []*state.Task{fresh("a2", 1, 1, state.TaskRunning), old("b", 2), old("c", 3)},
			want:  []string{"retire b: " + stop}},
		{name: "delay: the worker waits after its slot", now: 5, serving: []string{"a2@2"},
			cfg:   state.UpdateConfig{Parallelism: 1, Delay: 10 * time.Second, Order: state.OrderStopFirst, Monitor: time.Second},
			tasks: []*state.Task{fresh("a2", 1, 1, state.TaskRunning), old("b", 2), old("c", 3)},
			want:  []string{"wake 12s"}},
		{name: "delay over", now: 12, serving: []string{"a2@2"},
			cfg:   state.UpdateConfig{Parallelism: 1, Delay: 10 * time.Second, Order: state.OrderStopFirst, Monitor: time.Second},
			tasks: []*state.Task{fresh("a2", 1, 1, state.TaskRunning), old("b", 2), old("c", 3)},
			want:  []string{"retire b: " + stop}},
		{name: "parallelism 0: every slot at once", cfg: state.UpdateConfig{Parallelism: 0, Order: state.OrderStopFirst},
			tasks: []*state.Task{old("a", 1), old("b", 2), old("c", 3)},
			want:  []string{"retire a: " + stop, "retire b: " + stop, "retire c: " + stop}},
		{name: "parallelism 2 with one slot at work", cfg: state.UpdateConfig{Parallelism: 2, Order: state.OrderStopFirst},
			tasks: []*state.Task{with(old("a", 1), stopping), old("b", 2), old("c", 3)},
			want:  []string{"retire b: " + stop}},
		{name: "start-first: the new task starts beside the old one", cfg: startFirst,
			tasks: []*state.Task{old("a", 1), old("b", 2), old("c", 3)},
			want:  []string{"create slot=1 replaces=a: update: replaces task a"}},
		{name: "start-first: the old task stays while the new one is not serving", cfg: startFirst,
			tasks: []*state.Task{old("a", 1), with(fresh("a2", 1, 1, state.TaskRunning), replacing("a")), old("b", 2), old("c", 3)}},
		{name: "start-first: once the new one serves, the old one is retired", cfg: startFirst, now: 3, serving: []string{"a2@2"},
			tasks: []*state.Task{old("a", 1), with(fresh("a2", 1, 1, state.TaskRunning), replacing("a")), old("b", 2), old("c", 3)},
			want:  []string{"retire a: update: replaced by task a2"}},
		{name: "start-first: a new task that cannot be placed makes its old one go", cfg: startFirst,
			tasks: []*state.Task{old("a", 1), with(fresh("a2", 1, 1, state.TaskPending), func(t *state.Task) {
				t.Replaces, t.NodeID, t.Status.Err = "a", "", "no suitable node: insufficient memory on 3 nodes"
			}), old("b", 2), old("c", 3)},
			want: []string{"retire a: update: replaced by task a2"}},
		{name: "a new task that fails before serving pauses the update", cfg: startFirst, now: 9,
			tasks: []*state.Task{old("a", 1), with(fresh("a2", 1, 1, state.TaskRunning), func(t *state.Task) {
				t.Replaces = "a"
				failedAt(8, "unhealthy: HTTP 500")(t)
			}), old("b", 2), old("c", 3)},
			want: []string{"status paused: update paused: task web.1.a2 failed: unhealthy: HTTP 500 " +
				"(1 of 3 tasks failed, more than the max failure ratio 0 allows)"}},
		{name: "within the ratio the update goes on, around the failing slot", now: 9,
			cfg: state.UpdateConfig{Parallelism: 1, Order: state.OrderStartFirst, MaxFailureRatio: 0.5},
			tasks: []*state.Task{
				old("a", 1), with(fresh("a2", 1, 1, state.TaskFailed), func(t *state.Task) { t.Replaces = "a"; failedAt(8, "exit code 1")(t) }),
				with(fresh("a3", 1, 9, state.TaskStarting), func(t *state.Task) { t.Replaces, t.Attempt = "a2", 1 }),
				old("b", 2), old("c", 3)},
			want: []string{"create slot=2 replaces=b: update: replaces task b"}},
		{name: "a failure after the monitor window does not count", cfg: stopFirst, now: 20, serving: []string{"a2@2"},
			tasks: []*state.Task{with(fresh("a2", 1, 1, state.TaskRunning), failedAt(19, "exit code 2")),
				with(fresh("a3", 1, 19, state.TaskRunning), func(t *state.Task) { t.Replaces, t.Attempt = "a2", 1 }),
				old("b", 2), old("c", 3)},
			want: []string{"retire b: " + stop}},
		{name: "failure action rollback", now: 9,
			cfg: state.UpdateConfig{Parallelism: 1, Order: state.OrderStopFirst, FailureAction: state.FailureRollback},
			tasks: []*state.Task{with(fresh("a2", 1, 1, state.TaskRejected), func(t *state.Task) {
				t.Status.Err = "image app:2 is not on this engine"
			}), old("b", 2), old("c", 3)},
			want: []string{"rollback: update to version 2 failed: task web.1.a2 rejected: image app:2 is not on this engine " +
				"(1 of 3 tasks failed, more than the max failure ratio 0 allows)"}},
		{name: "failure action continue", now: 9,
			cfg:   state.UpdateConfig{Parallelism: 1, Order: state.OrderStopFirst, FailureAction: state.FailureContinue},
			tasks: []*state.Task{with(fresh("a2", 1, 1, state.TaskRunning), failedAt(5, "exit code 1")), old("b", 2), old("c", 3)},
			want:  []string{"retire b: " + stop}},
		{name: "complete once the last new task was watched for the monitor window", cfg: stopFirst, now: 8,
			serving: []string{"a2@2", "b2@4", "c2@6"},
			tasks: []*state.Task{fresh("a2", 1, 1, state.TaskRunning), fresh("b2", 2, 3, state.TaskRunning),
				fresh("c2", 3, 5, state.TaskRunning), with(old("c", 3), stopping)},
			want: []string{"wake 11s"}},
		{name: "completed", cfg: stopFirst, now: 11, serving: []string{"a2@2", "b2@4", "c2@6"},
			tasks: []*state.Task{fresh("a2", 1, 1, state.TaskRunning), fresh("b2", 2, 3, state.TaskRunning),
				fresh("c2", 3, 5, state.TaskRunning)},
			want: []string{"status completed: update completed (completed at 11s)"}},
		{name: "paused: nothing starts, a started slot finishes", cfg: startFirst, now: 5, serving: []string{"a2@2"},
			edit: func(s *state.Service) { s.UpdateStatus.State = state.UpdatePaused },
			tasks: []*state.Task{old("a", 1), with(fresh("a2", 1, 1, state.TaskRunning), replacing("a")),
				old("b", 2), old("c", 3)},
			want: []string{"retire a: update: replaced by task a2"}},
		{name: "a drained task that is up to date again returns to service", cfg: stopFirst,
			tasks: []*state.Task{with(fresh("a2", 1, 1, state.TaskRunning), draining), fresh("b2", 2, 1, state.TaskRunning),
				fresh("c2", 3, 1, state.TaskRunning)},
			serving: []string{"b2@2", "c2@2"}, now: 3,
			want: []string{"undrain a2"}},
		{name: "outdated tasks and no update at work: one starts", cfg: stopFirst, now: 30,
			edit:  func(s *state.Service) { s.UpdateStatus = nil },
			tasks: []*state.Task{old("a", 1), old("b", 2), old("c", 3)},
			want:  []string{"retire a: " + stop, "status updating: update in progress"}},
		{name: "nothing outdated and no update at work: nothing", cfg: stopFirst, now: 30,
			edit:    func(s *state.Service) { s.UpdateStatus = nil },
			tasks:   []*state.Task{fresh("a2", 1, 1, state.TaskRunning), fresh("b2", 2, 1, state.TaskStarting)},
			serving: []string{"a2@2"}},
		{name: "external services have no tasks to update", cfg: stopFirst,
			edit:  func(s *state.Service) { s.External = true },
			tasks: []*state.Task{old("a", 1)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc := web(c.cfg)
			if c.edit != nil {
				c.edit(svc)
			}
			n := c.nodes
			if n == 0 {
				n = 3
			}
			in := Input{Service: svc, Tasks: c.tasks, Nodes: nodes(n), Now: at(c.now)}
			serving(&in, c.serving...)
			if got := summary(Decide(in)); !slices.Equal(got, c.want) {
				t.Fatalf("plan:\n  %q\nwant:\n  %q", got, c.want)
			}
		})
	}
}

func TestDecideRollback(t *testing.T) {
	// Rolled back from B (whose rollback policy replaces every task at
	// once, start-first) to A: the tasks of A never left, the B ones go.
	svc := web(state.DefaultUpdateConfig())
	svc.PreviousSpec, svc.Spec = &svc.Spec, *svc.PreviousSpec
	svc.PreviousSpec.RollbackConfig = &state.UpdateConfig{Parallelism: 0, Order: state.OrderStartFirst,
		FailureAction: state.FailurePause, Monitor: 2 * time.Second}
	svc.SpecDigest = "A"
	svc.UpdateStatus = &state.UpdateStatus{State: state.UpdateRollbackStarted, StartedAt: t0,
		Message: "update to version 2 failed: task web.1.x failed: unhealthy"}
	a2 := with(fresh("a2", 1, -5, state.TaskRunning), replacing("a"))
	in := Input{Service: svc, Nodes: nodes(3), Now: at(0),
		Tasks: []*state.Task{with(old("a", 1), func(t *state.Task) { t.Status.State = state.TaskShutdown; stopping(t) }),
			a2, fresh("b2", 2, -5, state.TaskRunning), old("c", 3)}}
	serving(&in, "a2@-4", "b2@-4", "c@-50")
	want := []string{"create slot=1 replaces=a2: rollback: replaces task a2", "create slot=2 replaces=b2: rollback: replaces task b2"}
	if got := summary(Decide(in)); !slices.Equal(got, want) {
		t.Fatalf("plan:\n  %q\nwant:\n  %q", got, want)
	}

	// A rollback's failure pauses it: its failure action cannot be rollback.
	svc.PreviousSpec.RollbackConfig.FailureAction = state.FailureRollback
	failing := with(fresh("a3", 1, 1, state.TaskFailed), func(t *state.Task) {
		t.SpecDigest, t.Replaces = "A", "a2"
		failedAt(2, "exit code 3")(t)
	})
	in.Tasks, in.Now = append(in.Tasks, failing), at(3)
	got := summary(Decide(in))
	if len(got) == 0 || !strings.HasPrefix(got[len(got)-1], "status rollback_paused: rollback paused: task web.1.a3 failed: exit code 3") {
		t.Fatalf("plan %q: want the rollback paused", got)
	}

	// Done: the message keeps why it rolled back.
	in.Tasks = []*state.Task{with(fresh("a3", 1, 1, state.TaskRunning), func(t *state.Task) { t.SpecDigest = "A" }), old("b", 2), old("c", 3)}
	serving(&in, "a3@2", "b@-50", "c@-50")
	in.Now = at(4)
	want = []string{"status rollback_completed: rolled back: update to version 2 failed: task web.1.x failed: unhealthy (completed at 4s)"}
	if got := summary(Decide(in)); !slices.Equal(got, want) {
		t.Fatalf("plan:\n  %q\nwant:\n  %q", got, want)
	}
}

func TestDecideGlobalNodeDown(t *testing.T) {
	svc := web(state.UpdateConfig{Parallelism: 1, Order: state.OrderStartFirst})
	svc.Spec.Mode, svc.Spec.Replicas = state.ModeGlobal, 0
	g := func(tk *state.Task) *state.Task { tk.Slot = 0; return tk }
	ns := nodes(3)
	ns[0].Status = state.StatusDown
	in := Input{Service: svc, Nodes: ns, Now: at(1),
		Tasks: []*state.Task{g(old("a", 1)), g(fresh("b2", 2, 0, state.TaskRunning)), g(fresh("c2", 3, 0, state.TaskRunning))}}
	serving(&in, "b2@0", "c2@0")
	// n1 is down: its task waits for it; the others are done.
	want := []string{"status completed: update completed (completed at 1s)"}
	if got := summary(Decide(in)); !slices.Equal(got, want) {
		t.Fatalf("plan:\n  %q\nwant:\n  %q", got, want)
	}
}

func TestDecideGlobal(t *testing.T) {
	svc := web(state.UpdateConfig{Parallelism: 2, Order: state.OrderStartFirst})
	svc.Spec.Mode, svc.Spec.Replicas = state.ModeGlobal, 0
	g := func(tk *state.Task) *state.Task { tk.Slot = 0; return tk }
	in := Input{Service: svc, Nodes: nodes(3), Now: at(1),
		Tasks: []*state.Task{g(old("a", 1)), g(old("b", 2)), g(old("c", 3))}}
	want := []string{"create node=n1 replaces=a: update: replaces task a", "create node=n2 replaces=b: update: replaces task b"}
	if got := summary(Decide(in)); !slices.Equal(got, want) {
		t.Fatalf("plan:\n  %q\nwant:\n  %q", got, want)
	}
}
