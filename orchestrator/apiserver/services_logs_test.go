package apiserver_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver/apitest"
)

var logAt = time.Date(2025, 3, 1, 14, 0, 0, 0, time.UTC)

func sampleLogs() map[string][]api.LogLine {
	return map[string][]api.LogLine{
		"c-api1":     {{Stream: "stdout", Time: logAt, Line: "GET / 200"}, {Stream: "stderr", Time: logAt.Add(time.Second), Line: "slow"}},
		"c-api1-old": {{Stream: "stderr", Time: logAt.Add(-time.Hour), Line: "panic: boom"}},
	}
}

// collect reads logs into "service task slot node stream time line err"
// strings, sorted: tasks are read at once, so their lines interleave.
func collect(t *testing.T, read func(fn func(api.LogLine) error) error) ([]string, error) {
	t.Helper()
	var got []string
	err := read(func(l api.LogLine) error {
		got = append(got, fmt.Sprintf("%s %s %d %s@%s %s %s %q %q",
			l.Service, l.TaskID, l.Slot, l.NodeID, l.Node, l.Stream, l.Time.Format(time.RFC3339), l.Line, l.Err))
		return nil
	})
	slices.Sort(got)
	return got, err
}

func TestServiceLogs(t *testing.T) {
	c, ops := servicesClient(t)
	ops.Logs = sampleLogs()
	ctx := context.Background()
	got, err := collect(t, func(fn func(api.LogLine) error) error {
		return c.ServiceLogs(ctx, "api", api.LogsOptions{Tail: "5", Since: "10m"}, fn)
	})
	want := []string{
		`api ` + apitest.TaskAPI1Old + ` 1 zz-node@alpha stderr 2025-03-01T13:00:00Z "panic: boom" ""`,
		`api ` + apitest.TaskAPI1 + ` 1 zz-node@alpha stderr 2025-03-01T14:00:01Z "slow" ""`,
		`api ` + apitest.TaskAPI1 + ` 1 zz-node@alpha stdout 2025-03-01T14:00:00Z "GET / 200" ""`,
	}
	if err != nil || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("logs: %v\n%s\nwant\n%s", err, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Every task with a container was asked for, on its node; api.3 has none.
	calls := ops.Calls()
	slices.Sort(calls)
	wantCalls := []string{
		"TaskLogs {NodeID:aa-node ContainerID:c-api2 Follow:false Tail:5 Since:10m}",
		"TaskLogs {NodeID:zz-node ContainerID:c-api1 Follow:false Tail:5 Since:10m}",
		"TaskLogs {NodeID:zz-node ContainerID:c-api1-old Follow:false Tail:5 Since:10m}",
	}
	if strings.Join(calls, "\n") != strings.Join(wantCalls, "\n") {
		t.Errorf("calls:\n%s", strings.Join(calls, "\n"))
	}
}

func TestTaskLogs(t *testing.T) {
	c, ops := servicesClient(t)
	ops.Logs = sampleLogs()
	ctx := context.Background()
	got, err := collect(t, func(fn func(api.LogLine) error) error {
		return c.TaskLogs(ctx, apitest.TaskAPI1[:5], api.LogsOptions{}, fn)
	})
	if err != nil || len(got) != 2 || !strings.Contains(got[1], `"GET / 200"`) {
		t.Errorf("task logs by prefix: %q, %v", got, err)
	}
	// By name; a failure is a line with the error.
	ops.Fail("TaskLogs", errors.New("node bravo is down: its logs cannot be read"))
	got, err = collect(t, func(fn func(api.LogLine) error) error {
		return c.TaskLogs(ctx, "api.2."+apitest.TaskAPI2, api.LogsOptions{}, fn)
	})
	want := `api ` + apitest.TaskAPI2 + ` 2 aa-node@bravo  0001-01-01T00:00:00Z "" "node bravo is down: its logs cannot be read"`
	if err != nil || len(got) != 1 || got[0] != want {
		t.Errorf("failed task logs: %q, %v", got, err)
	}
	// A task without a container has no lines.
	got, err = collect(t, func(fn func(api.LogLine) error) error {
		return c.TaskLogs(ctx, apitest.TaskAPI3, api.LogsOptions{}, fn)
	})
	if err != nil || len(got) != 0 {
		t.Errorf("pending task logs: %q, %v", got, err)
	}
	none := func(api.LogLine) error { return nil }
	if err := c.TaskLogs(ctx, "nope", api.LogsOptions{}, none); !errors.Is(err, api.ErrNotFound) || err.Error() != `task "nope" not found` {
		t.Errorf("missing task: %v", err)
	}
	if err := c.ServiceLogs(ctx, "nope", api.LogsOptions{}, none); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("missing service: %v", err)
	}
	err = c.ServiceLogs(ctx, "api", api.LogsOptions{Tail: "-1"}, none)
	if !errors.Is(err, api.ErrInvalid) || err.Error() != `query parameter tail="-1": want a number of lines or all` {
		t.Errorf("bad tail: %v", err)
	}
}

func TestFollowLogs(t *testing.T) {
	c, ops := servicesClient(t)
	ops.Logs = sampleLogs()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var lines int
	err := c.TaskLogs(ctx, apitest.TaskAPI1, api.LogsOptions{Follow: true}, func(api.LogLine) error {
		if lines++; lines == 2 {
			cancel() // the stream stays open after the lines: only the reader ends it
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || lines != 2 {
		t.Errorf("followed logs: %d lines, %v", lines, err)
	}
	// An error of the callback also ends the stream.
	stop := errors.New("enough")
	err = c.TaskLogs(context.Background(), apitest.TaskAPI1, api.LogsOptions{Follow: true}, func(api.LogLine) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("callback error: %v", err)
	}
}

// Shutdown does not wait for followed streams: it ends them.
func TestShutdownEndsFollowedLogs(t *testing.T) {
	s := apitest.Store(t)
	apitest.Services(t, s)
	ops := apitest.NewOps(s)
	ops.Logs = sampleLogs()
	socket := filepath.Join(t.TempDir(), "xo.sock")
	l, err := apiserver.Listen(socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := apiserver.New(s, apitest.Info, ops, nil, nil)
	go func() { _ = srv.Serve(l) }()
	first := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- api.NewClient(socket).TaskLogs(context.Background(), apitest.TaskAPI1, api.LogsOptions{Follow: true},
			func(l api.LogLine) error {
				if l.Line == "slow" {
					close(first)
				}
				return nil
			})
	}()
	<-first
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with a followed stream: %v after %s", err, time.Since(start))
	}
	if err := <-done; err != nil {
		t.Errorf("the stream ended with %v", err)
	}
}
