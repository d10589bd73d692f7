package reconcile

import (
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

func TestRestartDelay(t *testing.T) {
	cases := []struct {
		delay time.Duration
		quick int
		want  time.Duration
	}{
		{0, 0, 0},
		{0, 1, 0}, // a first failure is replaced at once
		{0, 2, time.Second},
		{0, 3, 2 * time.Second},
		{0, 6, 16 * time.Second},
		{0, 7, MaxBackoff},
		{0, 1000, MaxBackoff},
		{5 * time.Second, 1, 5 * time.Second},
		{5 * time.Second, 3, 5 * time.Second},
		{time.Minute, 9, time.Minute},
	}
	for _, c := range cases {
		if got := RestartDelay(state.RestartPolicy{Delay: c.delay}, c.quick); got != c.want {
			t.Errorf("RestartDelay(%s, %d) = %s, want %s", c.delay, c.quick, got, c.want)
		}
	}
}

func TestAttempts(t *testing.T) {
	svc := service(1)
	svc.SpecVersion, svc.TaskVersion = 3, 2
	mk := func(attempt, version uint64, age time.Duration) *state.Task {
		return &state.Task{Attempt: attempt, SpecVersion: version, CreatedAt: t0.Add(-age)}
	}
	tasks := []*state.Task{
		mk(0, 2, time.Hour),
		mk(1, 1, time.Hour),      // under an older spec: not counted
		mk(1, 2, 50*time.Minute), // restart 1
		mk(2, 2, 10*time.Minute), // restart 2
		mk(2, 3, time.Minute),    // the same restart, moved off a lost node
		mk(3, 3, 30*time.Second), // restart 3
	}
	if n := Attempts(svc, tasks, t0); n != 3 {
		t.Fatalf("attempts = %d, want 3", n)
	}
	svc.Spec.RestartPolicy.Window = 15 * time.Minute
	if n := Attempts(svc, tasks, t0); n != 2 {
		t.Fatalf("attempts within 15m = %d, want 2", n)
	}
}

func TestHistoryLimit(t *testing.T) {
	svc := service(1)
	if HistoryLimit(svc) != DefaultHistory {
		t.Fatal("default")
	}
	svc.Spec.RestartPolicy.MaxAttempts = 9
	if HistoryLimit(svc) != 10 {
		t.Fatal("max attempts + 1")
	}
}

func TestPlanConversions(t *testing.T) {
	p := Plan{ServiceID: "s",
		Create:  []NewTask{{Slot: 2, Reason: "created"}},
		Restart: []NewTask{{Slot: 1, Attempt: 3, Replaces: "a", Reason: "replaces task a (failed)"}},
		Stop:    []Stop{{TaskID: "b", Desired: state.TaskRemove, Reason: "scaled down to 1 replicas"}}}
	ids := []string{"x", "y"}
	tasks := p.Tasks(func() string { id := ids[0]; ids = ids[1:]; return id }, t0)
	if len(tasks) != 2 || tasks[0].ID != "x" || tasks[0].Slot != 2 || tasks[1].Replaces != "a" || tasks[1].Attempt != 3 ||
		tasks[1].ServiceID != "s" || tasks[1].DesiredState != state.TaskRunning || tasks[1].Status.State != state.TaskPending ||
		tasks[1].Status.Message != "replaces task a (failed)" || !tasks[1].CreatedAt.Equal(t0) {
		t.Fatalf("tasks %+v", tasks)
	}
	u := p.Updates()
	if len(u) != 1 || u[0] != (state.TaskUpdate{ID: "b", DesiredState: state.TaskRemove, Message: "scaled down to 1 replicas"}) {
		t.Fatalf("updates %+v", u)
	}
	if p.Empty() || !(Plan{}).Empty() {
		t.Fatal("Empty")
	}
}

func TestQuickFailures(t *testing.T) {
	mk := func(id, replaces string, attempt uint64, lived time.Duration) *state.Task {
		return &state.Task{ID: id, Replaces: replaces, Attempt: attempt, CreatedAt: t0,
			Status: state.TaskStatus{State: state.TaskFailed, Timestamp: t0.Add(lived)}}
	}
	cases := []struct {
		name  string
		tasks []*state.Task
		want  int
	}{
		{"first", []*state.Task{mk("a", "", 0, time.Second)}, 1},
		{"ran a while", []*state.Task{mk("a", "", 0, time.Minute)}, 0},
		{"chain", []*state.Task{mk("a", "", 0, time.Second), mk("b", "a", 1, time.Second), mk("c", "b", 2, time.Second)}, 3},
		{"a stable run breaks it", []*state.Task{mk("a", "", 0, time.Second), mk("b", "a", 1, time.Hour), mk("c", "b", 2, time.Second)}, 1},
		{"a move breaks it", []*state.Task{mk("a", "", 0, time.Second), mk("b", "a", 0, time.Second), mk("c", "b", 1, time.Second)}, 2},
		{"trimmed history", []*state.Task{mk("c", "b", 2, time.Second)}, 1},
		{"unknown end", []*state.Task{{ID: "a", Status: state.TaskStatus{State: state.TaskFailed}}}, 0},
	}
	for _, c := range cases {
		if got := quickFailures(c.tasks[len(c.tasks)-1], c.tasks); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
