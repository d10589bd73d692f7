package main

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver/apitest"
)

var logAt = time.Date(2025, 3, 1, 14, 0, 0, 0, time.UTC)

// logsSocket serves the sample services; their containers have logs.
func logsSocket(t *testing.T) (string, *apitest.Ops) {
	t.Helper()
	socket, ops := serviceSocket(t)
	ops.Logs = map[string][]api.LogLine{
		"c-api1":     {{Stream: "stdout", Time: logAt, Line: "GET / 200"}, {Stream: "stderr", Time: logAt.Add(time.Second), Line: "slow"}},
		"c-api1-old": {{Stream: "stdout", Time: logAt.Add(-time.Hour), Line: "starting"}},
		"c-mon":      {{Stream: "stdout", Time: logAt, Line: "scraped"}},
	}
	return socket, ops
}

// sortedLines sorts output lines: tasks are read at once, so their lines interleave.
func sortedLines(s string) string {
	lines := strings.SplitAfter(s, "\n")
	slices.Sort(lines)
	return strings.Join(lines, "")
}

func TestServiceLogsCmd(t *testing.T) {
	socket, _ := logsSocket(t)
	stdout, stderr, code := xo(t, socket, "service", "logs", "api")
	wantOut := "" +
		"api.1.tk1a00000000@alpha    | starting\n" +
		"api.1.tk1a11111111@alpha    | GET / 200\n"
	if code != 0 || sortedLines(stdout) != wantOut || stderr != "api.1.tk1a11111111@alpha    | slow\n" {
		t.Errorf("code %d\nstdout %q\nwant   %q\nstderr %q", code, sortedLines(stdout), wantOut, stderr)
	}
	for _, tc := range []struct {
		args           []string
		stdout, stderr string
	}{
		{[]string{"-t", apitest.TaskAPI1}, "2025-03-01T14:00:00.000000000Z api.1.tk1a11111111@alpha    | GET / 200\n",
			"2025-03-01T14:00:01.000000000Z api.1.tk1a11111111@alpha    | slow\n"},
		{[]string{"--no-task-ids", "--no-resolve", apitest.TaskAPI1[:6]}, "api.1@zz-node    | GET / 200\n", "api.1@zz-node    | slow\n"},
		{[]string{"--no-trunc", "api.1." + apitest.TaskAPI1}, "api.1." + apitest.TaskAPI1 + "@alpha    | GET / 200\n",
			"api.1." + apitest.TaskAPI1 + "@alpha    | slow\n"},
		{[]string{"--raw", "--timestamps", apitest.TaskAPI1}, "2025-03-01T14:00:00.000000000Z GET / 200\n",
			"2025-03-01T14:00:01.000000000Z slow\n"},
		{[]string{"mon"}, "mon.zz-node.tkm000000000@alpha    | scraped\n", ""},
	} {
		check(t, socket, 0, tc.stdout, tc.stderr, append([]string{"service", "logs"}, tc.args...)...)
	}
}

func TestServiceLogsErrors(t *testing.T) {
	socket, ops := logsSocket(t)
	ops.Fail("TaskLogs", errors.New("node bravo is down: its logs cannot be read"))
	check(t, socket, 0, "", "error from api.2.tk2b22222222@bravo: node bravo is down: its logs cannot be read\n",
		"service", "logs", apitest.TaskAPI2)
	check(t, socket, 1, "", "Error: no such service or task: nope\n", "service", "logs", "nope")
	check(t, socket, 1, "", "Error: invalid --tail \"x\": want a number of lines or all\n", "service", "logs", "--tail", "x", "api")
	check(t, socket, 0, "", "", "service", "logs", apitest.TaskAPI3) // pending: no container yet
	calls := ops.Calls()
	if len(calls) != 1 || calls[0] != "TaskLogs {NodeID:aa-node ContainerID:c-api2 Follow:false Tail:all Since:}" {
		t.Errorf("calls = %q", calls)
	}
	check(t, socket, 0, "api.1.tk1a11111111@alpha    | GET / 200\n", "api.1.tk1a11111111@alpha    | slow\n",
		"service", "logs", "-n", "2", "--since", "5m", apitest.TaskAPI1)
	if calls := ops.Calls(); calls[1] != "TaskLogs {NodeID:zz-node ContainerID:c-api1 Follow:false Tail:2 Since:5m}" {
		t.Errorf("calls = %q", calls)
	}
}

// cancelWriter cancels once it has seen want.
type cancelWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	want   string
	cancel func()
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.cancel()
	}
	return len(p), nil
}

// Following ends without an error when the user interrupts it.
func TestServiceLogsFollow(t *testing.T) {
	socket, _ := logsSocket(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &cancelWriter{want: "slow", cancel: cancel}
	o := serviceLogsOptions{follow: true, tail: "all"}
	if err := o.run(ctx, api.NewClient(socket), apitest.TaskAPI1, w, w); err != nil {
		t.Fatalf("interrupted follow: %v", err)
	}
	if got := w.buf.String(); !strings.Contains(got, "GET / 200") {
		t.Errorf("output %q", got)
	}
}

func TestLogPrefix(t *testing.T) {
	var out bytes.Buffer
	p := &logPrinter{stdout: &out, slotDigits: 2}
	lines := []api.LogLine{
		{Service: "web", Slot: 3, TaskID: "abcdefabcdefabcdef", NodeID: "n2", Node: "h2", Line: "one"},
		{Service: "web", Slot: 12, TaskID: "0123456789abcdef", NodeID: "n1", Node: "h1", Line: "two"},
		{Service: "mon", NodeID: "n1", Node: "h1", TaskID: "x", Line: "global"},
	}
	for _, l := range lines {
		if err := p.print(l); err != nil {
			t.Fatal(err)
		}
	}
	want := "" +
		"web.3.abcdefabcdef@h2     | one\n" +
		"web.12.0123456789ab@h1    | two\n" +
		"mon.n1.x@h1    | global\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}
