package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver"
	"github.com/xoverlay/xoverlay/orchestrator/cluster"
	"github.com/xoverlay/xoverlay/orchestrator/state"
	"github.com/xoverlay/xoverlay/orchestrator/state/statetest"
)

// fakeLogEngine answers one container's logs with a fixed stream.
type fakeLogEngine struct {
	id     string
	tty    bool
	stream []byte
	asked  []container.LogsOptions
}

func (f *fakeLogEngine) ContainerInspect(_ context.Context, id string) (container.InspectResponse, error) {
	if id != f.id {
		return container.InspectResponse{}, cerrdefs.ErrNotFound.WithMessage("No such container: " + id)
	}
	return container.InspectResponse{Config: &container.Config{Tty: f.tty}}, nil
}

func (f *fakeLogEngine) ContainerLogs(_ context.Context, id string, o container.LogsOptions) (io.ReadCloser, error) {
	f.asked = append(f.asked, o)
	return io.NopCloser(bytes.NewReader(f.stream)), nil
}

// muxed writes lines as the engine multiplexes them, one frame each;
// "2:" leads a stderr line.
func muxed(lines ...string) []byte {
	var b bytes.Buffer
	out, errw := stdcopy.NewStdWriter(&b, stdcopy.Stdout), stdcopy.NewStdWriter(&b, stdcopy.Stderr)
	for _, l := range lines {
		if s, ok := strings.CutPrefix(l, "2:"); ok {
			_, _ = errw.Write([]byte(s))
		} else {
			_, _ = out.Write([]byte(l))
		}
	}
	return b.Bytes()
}

func readAll(t *testing.T, r io.Reader, tty bool) []string {
	t.Helper()
	var got []string
	err := readLogs(r, tty, func(e cluster.LogEntry) error {
		got = append(got, fmt.Sprintf("%s %s %q", e.Stream, e.Time.Format(time.RFC3339Nano), e.Line))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestReadLogs(t *testing.T) {
	const ts = "2025-03-01T12:00:00.123456789Z "
	for _, tc := range []struct {
		name   string
		stream []byte
		tty    bool
		want   []string
	}{
		{"frames", muxed(ts+"hello\n", "2:"+ts+"oops\n", ts+"bye\n"), false, []string{
			`stdout 2025-03-01T12:00:00.123456789Z "hello"`,
			`stderr 2025-03-01T12:00:00.123456789Z "oops"`,
			`stdout 2025-03-01T12:00:00.123456789Z "bye"`,
		}},
		// A line split over frames, interleaved with the other stream, and
		// a last line without its newline.
		{"partial lines", muxed(ts+"he", "2:"+ts+"err\n", "llo\n", ts+"tail"), false, []string{
			`stderr 2025-03-01T12:00:00.123456789Z "err"`,
			`stdout 2025-03-01T12:00:00.123456789Z "hello"`,
			`stdout 2025-03-01T12:00:00.123456789Z "tail"`,
		}},
		{"tty", []byte(ts + "one\r\n" + ts + "two\n"), true, []string{
			`stdout 2025-03-01T12:00:00.123456789Z "one\r"`,
			`stdout 2025-03-01T12:00:00.123456789Z "two"`,
		}},
		{"no timestamp", muxed("plain text\n"), false, []string{`stdout 0001-01-01T00:00:00Z "plain text"`}},
		{"empty", nil, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := readAll(t, bytes.NewReader(tc.stream), tc.tty); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
	bad := muxed("x\n")
	if err := readLogs(bytes.NewReader(bad[:len(bad)-1]), false, func(cluster.LogEntry) error { return nil }); err == nil {
		t.Error("a truncated frame: no error")
	}
	stop := errors.New("stop")
	if err := readLogs(bytes.NewReader(muxed("a\n", "b\n")), false, func(cluster.LogEntry) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("emit error: %v", err)
	}
}

func TestEngineLogs(t *testing.T) {
	c := statetest.New()
	ctx := context.Background()
	for _, cmd := range []state.Command{
		state.RegisterNode{Node: state.Node{ID: "n1", Hostname: "h1", Role: state.RoleManager}},
		state.CreateService{Service: state.Service{ID: "s1", Spec: state.ServiceSpec{Name: "web", Image: "x", Replicas: 1}}},
		state.CreateTasks{Tasks: []state.Task{{ID: "t1", ServiceID: "s1", Slot: 1}}},
		state.UpdateTasks{Updates: []state.TaskUpdate{{ID: "t1", NodeID: "n1", Status: &state.TaskStatus{State: state.TaskAssigned}}}},
		state.SetTaskStatus{Node: "n1", Tasks: []state.TaskStatusUpdate{{ID: "t1", Status: state.TaskStatus{State: state.TaskRunning, ContainerID: "c1"}}}},
	} {
		if _, err := c.Propose(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	docker := &fakeLogEngine{id: "c1", stream: muxed("2025-03-01T12:00:00Z up\n")}
	src := engineLogs{docker: docker, store: c, node: "n1"}
	var got []cluster.LogEntry
	emit := func(e cluster.LogEntry) error { got = append(got, e); return nil }
	if err := src.ContainerLogs(ctx, cluster.LogsRequest{ContainerID: "c1", Follow: true, Tail: "3", Since: "1m"}, emit); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Line != "up" || got[0].Stream != "stdout" {
		t.Errorf("lines = %+v", got)
	}
	want := container.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true, Follow: true, Tail: "3", Since: "1m"}
	if len(docker.asked) != 1 || docker.asked[0] != want {
		t.Errorf("engine asked %+v", docker.asked)
	}
	// Only this node's task containers are served.
	err := (engineLogs{docker: docker, store: c, node: "n2"}).ContainerLogs(ctx, cluster.LogsRequest{ContainerID: "c1"}, emit)
	if !errors.Is(err, state.ErrNotFound) || err.Error() != "not found: container c1 is not a task container of this node" {
		t.Errorf("another node's container: %v", err)
	}
	// A task container the engine no longer has: no lines.
	got = nil
	docker.id = "other"
	if err := src.ContainerLogs(ctx, cluster.LogsRequest{ContainerID: "c1"}, emit); err != nil || len(got) != 0 {
		t.Errorf("removed container: %+v, %v", got, err)
	}
}

func TestTaskLogsOfOtherNodes(t *testing.T) {
	c := statetest.New()
	ctx := context.Background()
	for _, cmd := range []state.Command{
		state.RegisterNode{Node: state.Node{ID: "n2", Hostname: "h2", Role: state.RoleWorker, RaftAddr: "10.0.0.2:2378"}},
		state.RegisterNode{Node: state.Node{ID: "n3", Hostname: "h3", Role: state.RoleWorker}},
		state.SetNodeStatus{ID: "n2", Status: state.StatusDown},
	} {
		if _, err := c.Propose(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	o := &ops{rep: &replica{Store: c.Store}, id: "n1"}
	emit := func(api.LogLine) error { return nil }
	for node, want := range map[string]string{
		"n2": "node h2 is down: its logs cannot be read",
		"n3": "node h3 has no cluster address: its logs cannot be read",
		"n9": "not found: node n9",
	} {
		if err := o.TaskLogs(ctx, apiserver.LogsRequest{NodeID: node, ContainerID: "c"}, emit); err == nil || err.Error() != want {
			t.Errorf("logs on %s: %v, want %s", node, err, want)
		}
	}
}
