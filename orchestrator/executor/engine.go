package executor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

// stream is one subscription to the engine's events.
type stream struct {
	msgs   <-chan events.Message
	errs   <-chan error
	cancel context.CancelFunc
}

// subscribe follows the container events of task containers that change
// what a task is: start, die, destroy, oom and health_status (not the
// exec events every healthcheck makes).
func (e *Executor) subscribe(ctx context.Context) stream {
	ctx, cancel := context.WithCancel(ctx)
	f := filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)),
		filters.Arg("label", LabelTask),
	)
	for _, a := range []events.Action{events.ActionStart, events.ActionDie, events.ActionDestroy, events.ActionOOM,
		events.ActionHealthStatus} {
		f.Add("event", string(a))
	}
	msgs, errs := e.docker.Events(ctx, events.ListOptions{Filters: f})
	return stream{msgs: msgs, errs: errs, cancel: cancel}
}

// taskEvent is the container an engine event is about, "" for events
// that change no task.
func taskEvent(m events.Message) string {
	if m.Type != events.ContainerEventType {
		return ""
	}
	switch m.Action {
	case events.ActionStart, events.ActionDie, events.ActionDestroy, events.ActionOOM:
		return m.Actor.ID
	}
	if strings.HasPrefix(string(m.Action), string(events.ActionHealthStatus)) {
		return m.Actor.ID
	}
	return ""
}

// listContainers returns this node's task containers, running or not:
// those labelled with a task and this node.
func (e *Executor) listContainers(ctx context.Context) ([]container.Summary, error) {
	var list []container.Summary
	err := e.call(ctx, "list", func(ctx context.Context) (err error) {
		list, err = e.docker.ContainerList(ctx, container.ListOptions{All: true,
			Filters: filters.NewArgs(filters.Arg("label", LabelTask), filters.Arg("label", LabelNode+"="+e.node))})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("executor: list task containers: %w", err)
	}
	mine := list[:0]
	for _, c := range list {
		if c.Labels[LabelTask] != "" && c.Labels[LabelNode] == e.node {
			mine = append(mine, c)
		}
	}
	return mine, nil
}

// call makes one engine call with the executor's timeout and counts its
// failure under op.
func (e *Executor) call(ctx context.Context, op string, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	err := fn(ctx)
	if err != nil {
		e.metrics.engineErrors.WithLabelValues(op).Inc()
	}
	return err
}

// refused says whether the engine answered a request with a refusal
// (bad parameters, a missing image or mount source, a runtime that cannot
// start the command), as opposed to not answering (no connection, a
// timeout, 503): a refusal rejects the task, the rest is retried. A name
// conflict on create is not a refusal: a create that timed out may have
// made the container, which the next list finds.
func refused(op string, err error) bool {
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		cerrdefs.IsUnavailable(err), op == "create" && cerrdefs.IsConflict(err):
		return false
	}
	return cerrdefs.IsInvalidArgument(err) || cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) ||
		cerrdefs.IsPermissionDenied(err) || cerrdefs.IsNotImplemented(err) || cerrdefs.IsInternal(err) ||
		cerrdefs.IsUnknown(err) || cerrdefs.IsFailedPrecondition(err)
}

// live says whether a container in engine state s runs (or may run
// again without being started: paused, restarting).
func live(s container.ContainerState) bool {
	return s == container.StateRunning || s == container.StatePaused || s == container.StateRestarting
}

// staleStopLimit bounds a stop whose grace period is the container's own
// (unknown here) StopTimeout.
const staleStopLimit = 10 * time.Minute

// stop stops a container on its own goroutine, SIGTERM then SIGKILL after
// grace seconds (nil: the container's StopTimeout), unless a stop of it
// is in flight. When it returns, a pass follows: it reports the task and
// removes the container where it must go. A failure backs key off.
func (e *Executor) stop(ctx context.Context, key, id string, grace *int, reason string) {
	e.mu.Lock()
	if e.stopping[id] {
		e.mu.Unlock()
		return
	}
	e.stopping[id] = true
	e.mu.Unlock()
	limit := e.timeout + staleStopLimit
	if grace != nil {
		limit = e.timeout + time.Duration(*grace)*time.Second
		e.log.Info("stopping container", "id", short(id), "reason", reason, "grace_seconds", *grace)
	} else {
		e.log.Info("stopping container", "id", short(id), "reason", reason)
	}
	e.stops.Go(func() {
		defer func() {
			e.mu.Lock()
			delete(e.stopping, id)
			e.mu.Unlock()
			select {
			case e.stopped <- struct{}{}:
			default: // a pass is asked for already
			}
		}()
		sctx, cancel := context.WithTimeout(ctx, limit)
		defer cancel()
		err := e.docker.ContainerStop(sctx, id, container.StopOptions{Timeout: grace})
		switch {
		case err == nil || cerrdefs.IsNotFound(err):
			e.succeeded(key)
		case ctx.Err() == nil:
			e.metrics.engineErrors.WithLabelValues("stop").Inc()
			wait := e.failed(key, e.now())
			e.log.Warn("stopping container failed; will retry", "id", short(id), "err", err, "retry_in", wait)
		}
	})
}

// remove removes a stopped container and its anonymous volumes; a
// container already gone is fine.
func (e *Executor) remove(ctx context.Context, id string) error {
	err := e.call(ctx, "remove", func(ctx context.Context) error {
		return e.docker.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	})
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// removeStale removes a stopped container no task of this node owns.
func (e *Executor) removeStale(ctx context.Context, key string, c container.Summary) {
	if err := e.remove(ctx, c.ID); err != nil {
		if ctx.Err() == nil {
			wait := e.failed(key, e.now())
			e.log.Warn("removing stale container failed; will retry", "id", short(c.ID), "task", c.Labels[LabelTask],
				"err", err, "retry_in", wait)
		}
		return
	}
	e.succeeded(key)
	e.log.Info("removed stale container", "id", short(c.ID), "names", c.Names, "task", c.Labels[LabelTask])
}

// short is a container ID as docker ps shows it.
func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
