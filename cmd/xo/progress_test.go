package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

// fakeService plays back a list of task lists, one per read, then stays
// on the last one.
type fakeService struct {
	mu     sync.Mutex
	svc    api.Service
	frames [][]api.Task
	reads  int
}

func (f *fakeService) Service(context.Context, string) (api.Service, error) { return f.svc, nil }

func (f *fakeService) ServiceTasks(context.Context, string) ([]api.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := min(f.reads, len(f.frames)-1)
	f.reads++
	return f.frames[i], nil
}

func task(slot uint64, desired, state, err string) api.Task {
	return api.Task{Service: "web", Slot: slot, DesiredState: desired, State: state, Err: err}
}

func TestWaitConverged(t *testing.T) {
	f := &fakeService{
		svc: api.Service{Name: "web", Replicas: api.ServiceReplicas{Desired: 2}},
		frames: [][]api.Task{
			{task(1, "running", "pending", "no suitable node"), task(2, "running", "assigned", "")},
			{task(1, "running", "starting", ""), task(2, "running", "running", "")},
			{task(1, "shutdown", "failed", "exit 1"), task(1, "running", "running", ""), task(2, "running", "running", "")},
		},
	}
	var out strings.Builder
	if err := waitConverged(context.Background(), f, &out, "web"); err != nil {
		t.Fatal(err)
	}
	want := `overall progress: 0 out of 2 tasks
1/2: pending (no suitable node)
2/2: assigned
overall progress: 1 out of 2 tasks
1/2: starting
2/2: running
overall progress: 2 out of 2 tasks
1/2: running
verify: waiting 1s to verify that tasks are stable...
verify: Service converged
`
	if out.String() != want {
		t.Fatalf("progress:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestWaitConvergedInterrupted(t *testing.T) {
	f := &fakeService{svc: api.Service{Name: "web", Replicas: api.ServiceReplicas{Desired: 1}},
		frames: [][]api.Task{{task(1, "running", "pending", "")}}}
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	var out strings.Builder
	if err := waitConverged(ctx, f, &out, "web"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Operation continuing in background.") {
		t.Fatalf("no background note:\n%s", out.String())
	}
}
