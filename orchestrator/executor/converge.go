package executor

import (
	"context"
	"maps"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"golang.org/x/sync/errgroup"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// action is what a pass does for one task.
type action int

const (
	actNone    action = iota
	actCreate         // no container yet: accept, check the image, create, start
	actStart          // created, never started: connect the other networks, start
	actObserve        // a container exists: inspect it and report what it is
	actLost           // it was started and its container is gone
	actStop           // wanted stopped and its container runs: stop it (on its own goroutine)
	actSettle         // wanted stopped and its container does not run: report it, remove it for desired remove
)

// decide is the pure part of a pass: what to do for task t, whose
// container the engine lists as c (nil: none). A task that ended keeps
// its container (for docker logs) until the task goes from the state or
// its desired state is remove.
func decide(t *state.Task, c *container.Summary) action {
	st := t.Status.State
	wanted := t.DesiredRunning()
	switch {
	case st.Less(state.TaskAssigned):
		return actNone // not this node's yet
	case !wanted && c != nil && live(c.State):
		return actStop
	case !wanted && (!st.Terminal() || c != nil && t.DesiredState == state.TaskRemove):
		return actSettle
	case !wanted || st.Terminal():
		return actNone // never restarted here: the orchestrator replaces it
	case c == nil && st.Less(state.TaskStarting):
		return actCreate
	case c == nil || c.State == container.StateRemoving || c.State == container.StateDead:
		return actLost
	case c.State == container.StateCreated:
		return actStart
	}
	return actObserve
}

// job is one task's work in a pass, and what it observed.
type job struct {
	t    *state.Task
	svc  *state.Service // nil: the service is gone
	nets []attachment
	wait string // why its container cannot be created yet
	gone string // why it never can
	ctr  *container.Summary
	act  action

	cid     string                   // its container, once known
	out     []state.TaskStatusUpdate // the statuses it went through, in order
	retried bool                     // an engine call failed transiently
}

// plan is what one pass found to do.
type plan struct {
	jobs   []*job
	stale  []container.Summary // containers no task of this node owns: stop, then remove
	counts map[state.TaskState]int
	keys   map[string]bool // back-off keys still in use
	wake   time.Time       // a stale container's grace period ends
}

// converge makes one pass and returns when the next must run at the
// latest (zero: only on events and the period).
func (e *Executor) converge(ctx context.Context, dirty map[string]bool, full bool) time.Time {
	now := e.now()
	if !e.due(listKey, now) {
		return e.nextRetry(time.Time{})
	}
	list, err := e.listContainers(ctx)
	if err != nil {
		wait := e.failed(listKey, now)
		e.log.Warn("listing task containers; will retry", "err", err, "retry_in", wait)
		return e.nextRetry(time.Time{})
	}
	e.succeeded(listKey)
	p := e.plan(list, dirty, full, now)
	e.act(ctx, p, now)
	e.report(ctx, p)
	p.keys[listKey], p.keys[reportKey] = true, true
	e.forget(p.keys)
	return e.nextRetry(p.wake)
}

// plan reads this node's tasks in one View and decides for each, and for
// every container no task of this node owns.
func (e *Executor) plan(list []container.Summary, dirty map[string]bool, full bool, now time.Time) *plan {
	byTask := map[string][]container.Summary{}
	for _, c := range list {
		byTask[c.Labels[LabelTask]] = append(byTask[c.Labels[LabelTask]], c)
	}
	p := &plan{counts: map[state.TaskState]int{}, keys: map[string]bool{}}
	known, staleSince := map[string]bool{}, map[string]time.Time{}
	waiting := false
	e.cluster.View(func(tx state.ReadTx) {
		for _, t := range tx.NodeTasks(e.node) {
			known[t.ID], p.keys[t.ID] = true, true
			p.counts[t.Status.State]++
			svc := tx.Service(t.ServiceID)
			ctr, extra := pick(byTask[t.ID], t, svc)
			delete(byTask, t.ID)
			p.stale = append(p.stale, extra...)
			j := &job{t: t, svc: svc, ctr: ctr, act: decide(t, ctr)}
			if j.act == actObserve && !full && !dirty[ctr.ID] && ctr.State == container.StateRunning &&
				!t.Status.State.Less(state.TaskRunning) {
				j.act = actNone // running as reported: events tell when that changes
			}
			if (j.act == actCreate || j.act == actStart) && svc != nil {
				j.nets, j.wait, j.gone = networks(tx, svc.TaskSpec(t), e.node)
				waiting = waiting || j.wait != ""
			}
			if t.Status.State == state.TaskAssigned {
				e.noteAssigned(t, now)
			}
			if j.act != actNone {
				p.jobs = append(p.jobs, j)
			}
		}
		for id, cs := range byTask {
			t := tx.Task(id) // nil, not assigned yet, or assigned to another node
			for _, c := range cs {
				known[id] = true
				// The state may be being replaced (a join) or replayed (a restart: the
				// assignment not applied yet): judge it twice, apart.
				if t == nil || t.NodeID == "" {
					since, ok := e.staleSince[c.ID]
					if !ok {
						since = now
					}
					staleSince[c.ID] = since
					if due := since.Add(e.staleGrace); now.Before(due) {
						p.wake = earliest(p.wake, due)
						continue
					}
				}
				p.stale = append(p.stale, c)
			}
		}
	})
	e.known, e.waiting, e.staleSince = known, waiting, staleSince
	return p
}

// pick returns t's container among those labelled with it: the one the
// state records, or the one with its name; the others are stale.
func pick(cs []container.Summary, t *state.Task, svc *state.Service) (*container.Summary, []container.Summary) {
	if len(cs) == 0 {
		return nil, nil
	}
	best := 0
	for i, c := range cs {
		if c.ID == t.Status.ContainerID || svc != nil && hasName(c, state.TaskName(svc.Name, t)) {
			best = i
			break
		}
	}
	c := cs[best]
	var extra []container.Summary
	for i, o := range cs {
		if i != best {
			extra = append(extra, o)
		}
	}
	return &c, extra
}

func hasName(c container.Summary, name string) bool {
	for _, n := range c.Names {
		if strings.TrimPrefix(n, "/") == name {
			return true
		}
	}
	return false
}

// act runs the plan: engine calls for different tasks in parallel (at
// most e.workers at once), stops on their own goroutines. A task or
// container still backing off after a failure is skipped.
func (e *Executor) act(ctx context.Context, p *plan, now time.Time) {
	var g errgroup.Group
	g.SetLimit(e.workers)
	for _, j := range p.jobs {
		key := j.t.ID
		switch {
		case !e.due(key, now):
		case j.act == actStop:
			e.stop(ctx, key, j.ctr.ID, graceSeconds(j.t.StopGracePeriod), "desired "+string(j.t.DesiredState))
		default:
			g.Go(func() error { e.work(ctx, j); return nil })
		}
	}
	for _, c := range p.stale {
		key := containerKey(c.ID)
		p.keys[key] = true
		switch {
		case !e.due(key, now):
		case live(c.State):
			// Its own StopTimeout (the task's grace period) applies.
			e.stop(ctx, key, c.ID, nil, "stale: its task is not this node's any more")
		default:
			g.Go(func() error { e.removeStale(ctx, key, c); return nil })
		}
	}
	_ = g.Wait() // workers report through their jobs
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// Back-off keys besides task IDs.
const (
	listKey   = "list"
	reportKey = "report"

	minBackoff = time.Second
	maxBackoff = 30 * time.Second
)

func containerKey(id string) string { return "container/" + id }

// memo is what the executor keeps of a task, or of a stale container,
// between passes: its back-off after transient engine failures, and
// when it was assigned (for the start histogram).
type memo struct {
	fails    int
	retryAt  time.Time
	assigned time.Time
}

// with runs fn on key's memo, made on first use, under the lock.
func (e *Executor) with(key string, fn func(*memo)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := e.memos[key]
	if m == nil {
		m = &memo{}
		e.memos[key] = m
	}
	fn(m)
}

// due says whether key's back-off allows a try at now.
func (e *Executor) due(key string, now time.Time) (ok bool) {
	e.with(key, func(m *memo) { ok = !now.Before(m.retryAt) })
	return ok
}

// failed records a transient failure of key at now and returns the wait
// before its next try: 1, 2, 4 ... 30 seconds.
func (e *Executor) failed(key string, now time.Time) (wait time.Duration) {
	e.with(key, func(m *memo) {
		wait = min(minBackoff<<min(m.fails, 10), maxBackoff)
		m.fails, m.retryAt = m.fails+1, now.Add(wait)
	})
	return wait
}

// succeeded ends key's back-off.
func (e *Executor) succeeded(key string) {
	e.with(key, func(m *memo) { m.fails, m.retryAt = 0, time.Time{} })
}

// nextRetry is the earliest of at and the ends of the back-offs still
// running (zero: none).
func (e *Executor) nextRetry(at time.Time) time.Time {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, m := range e.memos {
		if m.retryAt.After(now) {
			at = earliest(at, m.retryAt)
		}
	}
	return at
}

// forget drops the memos of keys the pass did not use: tasks gone from
// this node, containers gone from the engine.
func (e *Executor) forget(keys map[string]bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	maps.DeleteFunc(e.memos, func(k string, _ *memo) bool { return !keys[k] })
}
