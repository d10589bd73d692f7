package reconcile

import (
	"fmt"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// Restart back-off: a task that fails within StableRun of its creation,
// after a predecessor that did the same, is replaced after a delay that
// doubles from 1s up to MaxBackoff (or the policy's Delay if longer), so
// an image that cannot start never makes a hot loop. The first failure
// is replaced after the policy's Delay alone.
const (
	StableRun  = 10 * time.Second
	MaxBackoff = 30 * time.Second
)

// DefaultHistory is how many stopped tasks a slot keeps at least (Swarm's
// task history limit).
const DefaultHistory = 5

// HistoryLimit is how many of a slot's stopped tasks the reaper must
// keep: enough to count the restart policy's attempts and the back-off.
func HistoryLimit(svc *state.Service) int {
	return max(DefaultHistory, int(min(svc.Spec.RestartPolicy.MaxAttempts, 1000))+1)
}

// RestartDelay is how long after its failure a task is replaced, given
// the number of quick failures in a row that end with it (1 for a
// first failure).
func RestartDelay(p state.RestartPolicy, quickFailures int) time.Duration {
	if quickFailures < 2 {
		return p.Delay
	}
	backoff := MaxBackoff
	if shift := quickFailures - 2; shift < 5 {
		backoff = min(MaxBackoff, time.Second<<shift)
	}
	return max(p.Delay, backoff)
}

// Attempts counts the restarts of a slot (its tasks, any order) under the
// service's current spec, within the restart window ending at now (ever,
// without a window). A move off a lost node is not a restart.
func Attempts(svc *state.Service, slotTasks []*state.Task, now time.Time) uint64 {
	first := map[uint64]time.Time{} // attempt -> when its first task was made
	for _, t := range slotTasks {
		if t.Attempt == 0 || svc.Outdated(t) {
			continue
		}
		if at, ok := first[t.Attempt]; !ok || t.CreatedAt.Before(at) {
			first[t.Attempt] = t.CreatedAt
		}
	}
	var n uint64
	w := svc.Spec.RestartPolicy.Window
	for _, at := range first {
		if w == 0 || !at.Before(now.Add(-w)) {
			n++
		}
	}
	return n
}

// quickFailures counts the tasks that failed soon after their creation,
// following the chain of restarts back from cur (a move off a lost node
// breaks it: that task did not fail).
func quickFailures(cur *state.Task, slotTasks []*state.Task) int {
	byID := make(map[string]*state.Task, len(slotTasks))
	for _, t := range slotTasks {
		byID[t.ID] = t
	}
	n := 0
	for t := cur; t != nil && n <= len(slotTasks); {
		ended := t.Status.Timestamp
		if !t.Status.State.Terminal() || ended.IsZero() || ended.Sub(t.CreatedAt) >= StableRun {
			break
		}
		n++
		prev := byID[t.Replaces]
		if prev == nil || t.Attempt != prev.Attempt+1 {
			break
		}
		t = prev
	}
	return n
}

// restart decides about a slot's current task that stopped by itself:
// replace it (after its delay), or give up and leave the slot failed.
func (r *run) restart(cur *state.Task, sl *slot, at NewTask) {
	pol := r.svc.Spec.RestartPolicy
	ended := cur.Status.State
	switch {
	case pol.Condition == state.RestartNone:
		r.plan.stop(cur, state.TaskComplete, fmt.Sprintf("task %s: not restarted (--restart-condition none)", ended))
		return
	case pol.Condition == state.RestartOnFailure && ended == state.TaskComplete:
		r.plan.stop(cur, state.TaskComplete, "task complete: not restarted (--restart-condition on-failure)")
		return
	}
	if n := Attempts(r.svc, sl.tasks, r.now); pol.MaxAttempts > 0 && n >= pol.MaxAttempts {
		within := ""
		if pol.Window > 0 {
			within = " within " + pol.Window.String()
		}
		r.plan.stop(cur, state.TaskComplete, fmt.Sprintf("task %s: gave up after %d restarts%s (--restart-max-attempts %d)",
			ended, n, within, pol.MaxAttempts))
		return
	}
	failedAt := cur.Status.Timestamp
	if failedAt.IsZero() {
		failedAt = cur.CreatedAt
	}
	if due := failedAt.Add(RestartDelay(pol, quickFailures(cur, sl.tasks))); r.now.Before(due) {
		r.plan.wake(due)
		return
	}
	at.Attempt, at.Replaces = cur.Attempt+1, cur.ID
	at.Reason = fmt.Sprintf("replaces task %s (%s)", cur.ID, describe(cur.Status))
	r.plan.Restart = append(r.plan.Restart, at)
}

func describe(s state.TaskStatus) string {
	switch {
	case s.Err != "":
		return string(s.State) + ": " + s.Err
	case s.ExitCode != 0:
		return fmt.Sprintf("%s: exit code %d", s.State, s.ExitCode)
	}
	return string(s.State)
}
