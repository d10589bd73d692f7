package executor

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// last is the task's status as this pass last reported it.
func (j *job) last() state.TaskStatus {
	if n := len(j.out); n > 0 {
		return j.out[n-1].Status
	}
	return j.t.Status
}

// report records st as the task's next status, unless it says nothing
// new: an empty state, a state the task has passed or ended in, or a bare
// repeat of the current one. A zero container ID is the one known.
func (j *job) report(st state.TaskStatus) {
	last := j.last()
	if st.State == "" || last.State.Terminal() || st.State.Less(last.State) {
		return
	}
	st.ContainerID = cmp.Or(st.ContainerID, j.cid, last.ContainerID)
	if st.State == last.State && (st.Message == "" && st.Err == "" ||
		st.Message == last.Message && st.Err == last.Err && st.ContainerID == last.ContainerID && st.ExitCode == last.ExitCode) {
		return
	}
	j.out = append(j.out, state.TaskStatusUpdate{ID: j.t.ID, Status: st})
}

// blocked handles the failure of an engine call that moves a task
// forward: a refusal rejects the task with the engine's words, anything
// else is retried after a back-off. It says whether the task is stuck for
// this pass.
func (e *Executor) blocked(ctx context.Context, j *job, op string, err error) bool {
	switch {
	case err == nil:
		return false
	case ctx.Err() == nil && refused(op, err):
		e.log.Warn("engine refused the task", "task", j.t.ID, "op", op, "err", err)
		j.report(state.TaskStatus{State: state.TaskRejected, Err: err.Error()})
	default:
		e.retryLater(ctx, j, op, err)
	}
	return true
}

// retryLater backs off the task after a transient engine failure: 1, 2,
// 4 ... 30 seconds. Its status says so.
func (e *Executor) retryLater(ctx context.Context, j *job, op string, err error) {
	j.retried = true
	if ctx.Err() != nil {
		return // stopping
	}
	wait := e.failed(j.t.ID, e.now())
	e.log.Warn("engine call failed; will retry", "task", j.t.ID, "op", op, "err", err, "retry_in", wait)
	j.report(state.TaskStatus{State: j.last().State, Message: fmt.Sprintf("%s failed, retrying in %s: %v", op, wait, err)})
}

// maxReport bounds the statuses of one SetTaskStatus.
const maxReport = 500

// report writes every status the pass observed in SetTaskStatus writes
// and updates the task gauge.
func (e *Executor) report(ctx context.Context, p *plan) {
	now := e.now()
	var ups []state.TaskStatusUpdate
	for _, j := range p.jobs {
		for _, u := range j.out {
			u.Status.Timestamp = now
			ups = append(ups, u)
		}
		if n := len(j.out); n > 0 {
			p.counts[j.t.Status.State]--
			p.counts[j.out[n-1].Status.State]++
		}
	}
	e.metrics.setTasks(p.counts)
	if len(ups) == 0 {
		e.succeeded(reportKey)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	// In writes of at most maxReport statuses: a follower forwards its
	// writes to the leader, whose RPC requests are bounded in size.
	for rest := ups; len(rest) > 0; {
		batch := rest[:min(len(rest), maxReport)]
		rest = rest[len(batch):]
		if _, err := e.cluster.Propose(ctx, state.SetTaskStatus{Node: e.node, Tasks: batch}); err != nil {
			if ctx.Err() == nil {
				wait := e.failed(reportKey, now)
				e.log.Warn("reporting task statuses; will retry", "tasks", len(batch)+len(rest), "err", err, "retry_in", wait)
			}
			return
		}
	}
	e.succeeded(reportKey)
	for _, u := range ups {
		e.log.Debug("task status", "task", u.ID, "state", u.Status.State, "err", u.Status.Err, "msg", u.Status.Message)
		if u.Status.State == state.TaskFailed || u.Status.State == state.TaskRejected {
			e.log.Info("task ended", "task", u.ID, "state", u.Status.State, "err", u.Status.Err)
		}
	}
}

// noteAssigned remembers when t was assigned, for the start histogram.
func (e *Executor) noteAssigned(t *state.Task, now time.Time) {
	e.with(t.ID, func(m *memo) {
		if m.assigned.IsZero() {
			m.assigned = cmp.Or(t.Status.Timestamp, now)
		}
	})
}

// observeStart records how long the task took from assigned to running.
func (e *Executor) observeStart(id string) {
	var at time.Time
	e.with(id, func(m *memo) { at, m.assigned = m.assigned, time.Time{} })
	if !at.IsZero() {
		e.metrics.startSeconds.Observe(e.now().Sub(at).Seconds())
	}
}

// gaugeStates are the task states xo_executor_tasks always shows (0 when
// no task is in one), in order.
var gaugeStates = []state.TaskState{
	state.TaskAssigned, state.TaskAccepted, state.TaskPreparing, state.TaskStarting, state.TaskRunning,
	state.TaskComplete, state.TaskShutdown, state.TaskFailed, state.TaskRejected,
}

type metrics struct {
	tasks        *prometheus.GaugeVec
	engineErrors *prometheus.CounterVec
	startSeconds prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, log *slog.Logger) *metrics {
	m := &metrics{
		tasks: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "xo_executor_tasks",
			Help: "Tasks assigned to this node, by the state last observed.",
		}, []string{"state"}),
		engineErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xo_executor_engine_errors_total",
			Help: "Engine calls of the node executor that failed, by operation.",
		}, []string{"op"}),
		startSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "xo_executor_task_start_seconds",
			Help:    "Time from a task's assignment to this node to its container running.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 10),
		}),
	}
	if reg == nil {
		return m
	}
	for _, c := range []prometheus.Collector{m.tasks, m.engineErrors, m.startSeconds} {
		if err := reg.Register(c); err != nil {
			log.Warn("executor metric not registered", "err", err)
		}
	}
	return m
}

// setTasks sets the gauge from counts of tasks by state.
func (m *metrics) setTasks(counts map[state.TaskState]int) {
	for _, s := range gaugeStates {
		m.tasks.WithLabelValues(string(s)).Set(float64(counts[s]))
	}
}
