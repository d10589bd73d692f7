package agent

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver"
	"github.com/xoverlay/xoverlay/orchestrator/cluster"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// ServiceCreate stores a service under a new ID. The FSM validates the
// spec again and answers the stored service: an external service of the
// same name is adopted with its ID.
func (o *ops) ServiceCreate(ctx context.Context, spec state.ServiceSpec) (string, error) {
	v, err := o.rep.Propose(ctx, state.CreateService{Service: state.Service{
		ID: state.NewID(), Spec: spec, CreatedAt: time.Now().UTC(),
	}})
	if err != nil {
		return "", err
	}
	svc, ok := v.(*state.Service)
	if !ok {
		return "", fmt.Errorf("agent: create service %s: the cluster answered %T", spec.Name, v)
	}
	return svc.ID, nil
}

// ServiceUpdate replaces a service's spec, refused when the service is no
// longer at version (0 skips the check).
func (o *ops) ServiceUpdate(ctx context.Context, id string, version uint64, spec state.ServiceSpec) error {
	_, err := o.rep.Propose(ctx, state.UpdateService{ID: id, Spec: spec, Version: version, At: time.Now().UTC()})
	return err
}

// ServiceRollback puts a service back on its previous spec, refused when
// it has none or is no longer at version (0 skips the check).
func (o *ops) ServiceRollback(ctx context.Context, id string, version uint64) error {
	_, err := o.rep.Propose(ctx, state.RollbackService{ID: id, Version: version, At: time.Now().UTC()})
	return err
}

// ServiceRemove removes a service; the executors stop its tasks.
func (o *ops) ServiceRemove(ctx context.Context, id string) error {
	_, err := o.rep.Propose(ctx, state.RemoveService{ID: id})
	return err
}

// TaskLogs reads a task container's logs from this node's engine, or
// asks the task's node over the cluster port.
func (o *ops) TaskLogs(ctx context.Context, req apiserver.LogsRequest, emit func(api.LogLine) error) error {
	creq := cluster.LogsRequest{ContainerID: req.ContainerID, Follow: req.Follow, Tail: req.Tail, Since: req.Since}
	line := func(e cluster.LogEntry) error { return emit(api.LogLine{Stream: e.Stream, Time: e.Time, Line: e.Line}) }
	if req.NodeID == o.id {
		return o.logSource().ContainerLogs(ctx, creq, line)
	}
	n, err := o.node(req.NodeID)
	switch {
	case err != nil:
		return err
	case n.Status == state.StatusDown:
		return fmt.Errorf("node %s is down: its logs cannot be read", n.Hostname)
	case n.RaftAddr == "":
		return fmt.Errorf("node %s has no cluster address: its logs cannot be read", n.Hostname)
	}
	return o.rep.member().Logs(ctx, n.RaftAddr, creq, line)
}

// logSource is what this node's RPC serves other agents asking for logs:
//
//	unregister := cluster.RegisterLogSource(id, o.logSource())
func (o *ops) logSource() cluster.LogSource {
	return engineLogs{docker: o.docker, store: o.rep, node: o.id}
}

// logEngine is the part of the engine API logs need.
type logEngine interface {
	ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error)
	ContainerLogs(ctx context.Context, id string, options container.LogsOptions) (io.ReadCloser, error)
}

// engineLogs reads the logs of this node's task containers from its
// engine; other containers are not served.
type engineLogs struct {
	docker logEngine
	store  apiserver.Reader
	node   string
}

// ContainerLogs emits the container's lines, timestamped by the engine. A
// container that is gone has none.
func (e engineLogs) ContainerLogs(ctx context.Context, req cluster.LogsRequest, emit func(cluster.LogEntry) error) error {
	if !e.runsTask(req.ContainerID) {
		return fmt.Errorf("%w: container %s is not a task container of this node", state.ErrNotFound, api.ShortID(req.ContainerID))
	}
	info, err := e.docker.ContainerInspect(ctx, req.ContainerID)
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("agent: logs of container %s: %w", api.ShortID(req.ContainerID), err)
	}
	rc, err := e.docker.ContainerLogs(ctx, req.ContainerID, container.LogsOptions{
		ShowStdout: true, ShowStderr: true, Timestamps: true,
		Follow: req.Follow, Tail: req.Tail, Since: req.Since,
	})
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("agent: logs of container %s: %w", api.ShortID(req.ContainerID), err)
	}
	defer rc.Close()
	return readLogs(rc, info.Config != nil && info.Config.Tty, emit)
}

func (e engineLogs) runsTask(containerID string) bool {
	found := false
	e.store.View(func(tx state.ReadTx) {
		for _, t := range tx.NodeTasks(e.node) {
			found = found || (containerID != "" && t.Status.ContainerID == containerID)
		}
	})
	return found
}

// maxFrame bounds one frame of the engine's log stream (it writes lines
// of at most 16 KiB per frame).
const maxFrame = 1 << 20

// readLogs splits an engine log stream into lines: a raw stream for a
// container with a TTY, else frames of an 8-byte header (stream 1 stdout
// or 2 stderr, 3 zero bytes, the big-endian size) and a payload. Each
// line starts with its RFC 3339 timestamp.
func readLogs(r io.Reader, tty bool, emit func(cluster.LogEntry) error) error {
	l := &logLines{emit: emit, pending: map[string][]byte{}}
	read := l.frames
	if tty {
		read = l.raw
	}
	if err := read(r); err != nil {
		return fmt.Errorf("agent: read logs: %w", err)
	}
	for _, stream := range []string{"stdout", "stderr"} {
		if p := l.pending[stream]; len(p) > 0 {
			if err := emit(entry(stream, string(p))); err != nil {
				return err
			}
		}
	}
	return nil
}

type logLines struct {
	emit    func(cluster.LogEntry) error
	pending map[string][]byte // stream -> its unfinished line
}

func (l *logLines) raw(r io.Reader) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if err := l.add("stdout", buf[:n]); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (l *logLines) frames(r io.Reader) error {
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		size := binary.BigEndian.Uint32(hdr[4:])
		if size > maxFrame {
			return fmt.Errorf("log frame of %d bytes", size)
		}
		payload := make([]byte, size)
		if _, err := io.ReadFull(r, payload); err != nil {
			return err
		}
		stream := "stdout"
		if hdr[0] == 2 {
			stream = "stderr"
		}
		if err := l.add(stream, payload); err != nil {
			return err
		}
	}
}

// add appends p to the stream's unfinished line and emits every line it
// completes.
func (l *logLines) add(stream string, p []byte) error {
	buf := append(l.pending[stream], p...)
	for {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			break
		}
		if err := l.emit(entry(stream, string(buf[:i]))); err != nil {
			return err
		}
		buf = buf[i+1:]
	}
	l.pending[stream] = buf
	return nil
}

// entry parses "TIMESTAMP text"; a line without a timestamp is kept whole.
func entry(stream, line string) cluster.LogEntry {
	if ts, rest, ok := strings.Cut(line, " "); ok {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			return cluster.LogEntry{Stream: stream, Time: t, Line: rest}
		}
	}
	return cluster.LogEntry{Stream: stream, Line: line}
}
