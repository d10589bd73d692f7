package update

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// failures are the new tasks of an update that failed.
type failures struct {
	failed []*state.Task // oldest failure first
	total  int           // the tasks the service runs
}

// countFailures finds the tasks of the update that started at since
// (up to date, made since) that stopped by themselves (failed, rejected
// by the engine, or exited) before they served, or within the monitor
// window after they began serving.
func countFailures(in Input, since time.Time, cfg state.UpdateConfig, slots []*slot) failures {
	svc := in.Service
	f := failures{total: len(slots)}
	if !svc.Global() {
		f.total = int(svc.Spec.Replicas)
	}
	f.total = max(f.total, 1)
	for _, t := range in.Tasks {
		if t.ServiceID != svc.ID || svc.Outdated(t) || t.CreatedAt.Before(since) || !endedByItself(t) {
			continue
		}
		if seen, ok := in.Seen[t.ID]; ok && t.Status.Timestamp.After(seen.Add(cfg.Monitor)) {
			continue // it served for the whole window: a later failure is the restart policy's
		}
		f.failed = append(f.failed, t)
	}
	slices.SortStableFunc(f.failed, func(a, b *state.Task) int { return a.Status.Timestamp.Compare(b.Status.Timestamp) })
	return f
}

// endedByItself says whether a task stopped without being asked to.
func endedByItself(t *state.Task) bool {
	switch t.Status.State {
	case state.TaskFailed, state.TaskRejected, state.TaskComplete:
		return true
	}
	return false
}

// exceeded says whether the failures are past the policy's ratio.
func (f failures) exceeded(cfg state.UpdateConfig) bool {
	return len(f.failed) > 0 && float64(len(f.failed))/float64(f.total) > cfg.MaxFailureRatio
}

// describe says what failed, after prefix: the first failed task and
// why, and the count against the ratio.
func (f failures) describe(svc *state.Service, cfg state.UpdateConfig, prefix string) string {
	t := f.failed[0]
	why := string(t.Status.State)
	switch {
	case t.Status.Err != "":
		why += ": " + t.Status.Err
	case t.Status.ExitCode != 0:
		why += fmt.Sprintf(": exit code %d", t.Status.ExitCode)
	}
	return fmt.Sprintf("%stask %s %s (%d of %d tasks failed, more than the max failure ratio %g allows)",
		prefix, state.TaskName(svc.Name, t), why, len(f.failed), f.total, cfg.MaxFailureRatio)
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
