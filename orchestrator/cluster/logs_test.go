package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// fakeLogs serves scripted lines per container; "follow" containers then
// wait for the request to end and report it on ended.
type fakeLogs struct {
	lines map[string][]LogEntry
	errs  map[string]error
	asked chan LogsRequest
	ended chan struct{}
}

func (f *fakeLogs) ContainerLogs(ctx context.Context, req LogsRequest, emit func(LogEntry) error) error {
	f.asked <- req
	for _, e := range f.lines[req.ContainerID] {
		if err := emit(e); err != nil {
			return err
		}
	}
	if req.Follow {
		<-ctx.Done()
		close(f.ended)
		return nil
	}
	return f.errs[req.ContainerID]
}

func TestLogsRPC(t *testing.T) {
	n1, _, mgrToken, _ := initCluster(t)
	n2, err := join(t, n1, "n2", mgrToken)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 3, 1, 12, 0, 0, 5, time.UTC)
	src := &fakeLogs{
		lines: map[string][]LogEntry{
			"c1": {{Stream: "stdout", Time: at, Line: "hello"}, {Stream: "stderr", Time: at.Add(time.Second), Line: "oops"}},
			"c3": {{Stream: "stdout", Line: "partial"}},
			"cf": {{Stream: "stdout", Line: "first"}},
		},
		errs: map[string]error{
			"c2": fmt.Errorf("%w: no such container: c2", state.ErrNotFound),
			"c3": errors.New("engine went away"),
		},
		asked: make(chan LogsRequest, 10),
		ended: make(chan struct{}),
	}
	unregister := RegisterLogSource("n2", src)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	read := func(ctx context.Context, req LogsRequest) ([]string, error) {
		var got []string
		err := n1.raft.Logs(ctx, n2.addr, req, func(e LogEntry) error {
			got = append(got, fmt.Sprintf("%s %s %s", e.Stream, e.Time.Format(time.RFC3339Nano), e.Line))
			return nil
		})
		return got, err
	}

	got, err := read(ctx, LogsRequest{ContainerID: "c1", Tail: "10", Since: "5m"})
	want := "stdout 2025-03-01T12:00:00.000000005Z hello,stderr 2025-03-01T12:00:01.000000005Z oops"
	if err != nil || strings.Join(got, ",") != want {
		t.Fatalf("c1: %q, %v", got, err)
	}
	if req := <-src.asked; req != (LogsRequest{ContainerID: "c1", Tail: "10", Since: "5m"}) {
		t.Errorf("the source was asked %+v", req)
	}
	// An error before any line keeps its class; one after the lines too.
	if _, err := read(ctx, LogsRequest{ContainerID: "c2"}); !errors.Is(err, state.ErrNotFound) || !strings.Contains(err.Error(), "no such container: c2") {
		t.Errorf("c2: %v", err)
	}
	if got, err := read(ctx, LogsRequest{ContainerID: "c3"}); len(got) != 1 || err == nil || err.Error() != "engine went away" {
		t.Errorf("c3: %q, %v", got, err)
	}

	// Following: the stream stays open until the reader cancels, and the
	// cancel reaches the source on the other node.
	fctx, fcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- n1.raft.Logs(fctx, n2.addr, LogsRequest{ContainerID: "cf", Follow: true}, func(e LogEntry) error {
			if e.Line == "first" {
				fcancel()
			}
			return nil
		})
	}()
	select {
	case <-src.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the source did not see the reader go away")
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("followed read: %v", err)
	}

	if _, err := read(ctx, LogsRequest{}); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("no container: %v", err)
	}
	unregister()
	if _, err := read(ctx, LogsRequest{ContainerID: "c1"}); err == nil || !strings.Contains(err.Error(), "node n2 does not serve logs") {
		t.Errorf("without a source: %v", err)
	}
}
