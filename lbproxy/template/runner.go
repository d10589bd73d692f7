package template

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

// Source reads the cluster state; *api.Client is one. With an index it
// may block until the state differs from it or wait ends.
type Source interface {
	Watch(ctx context.Context, index string, wait time.Duration) (api.WatchState, error)
}

// Command runs after the files changed; Shell is one.
type Command interface {
	Run(ctx context.Context) error
}

// Defaults of Options.
const (
	DefaultWatchWait = 5 * time.Minute
	execRetryMin     = time.Second
	execRetryMax     = time.Minute
	watchRetryMin    = 500 * time.Millisecond
	watchRetryMax    = 30 * time.Second
	// pollEvery paces reads from an agent that answers a blocking query
	// at once (one that cannot block), so they do not spin.
	pollEvery = time.Second
)

// Options tune a Runner; the zero value renders at once, runs no command
// and writes files.
type Options struct {
	Command Command // after a change; nil: none
	Wait    Wait
	// Dry, when set, gets the renders instead of the files, and no
	// command runs.
	Dry       io.Writer
	WatchWait time.Duration // of one blocking query; 0: DefaultWatchWait
	Log       *slog.Logger
	Metrics   *Metrics // nil: unregistered ones
	Clock     Clock    // nil: the system's
}

// Runner renders templates over the cluster state into files.
type Runner struct {
	src     Source
	tmpls   []*Template
	opts    Options
	out     output
	log     *slog.Logger
	m       *Metrics
	clock   Clock
	execBO  backoff
	watchBO backoff
}

// NewRunner returns a runner of tmpls over src.
func NewRunner(src Source, tmpls []*Template, opts Options) *Runner {
	r := &Runner{src: src, tmpls: tmpls, opts: opts, log: opts.Log, m: opts.Metrics, clock: opts.Clock,
		execBO: backoff{min: execRetryMin, max: execRetryMax}, watchBO: backoff{min: watchRetryMin, max: watchRetryMax}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.m == nil {
		r.m, _ = NewMetrics(nil)
	}
	if r.clock == nil {
		r.clock = realClock{}
	}
	if r.opts.WatchWait <= 0 {
		r.opts.WatchWait = DefaultWatchWait
	}
	r.out = files{}
	if opts.Dry != nil {
		r.out = &dry{w: opts.Dry, last: map[*Template]string{}}
		r.opts.Command = nil
	}
	return r
}

// Once renders every template from the current state, writes those whose
// content changed and, when one did, runs the command once. It returns
// every failure, after handling the templates that did not fail.
func (r *Runner) Once(ctx context.Context) error {
	st, err := r.src.Watch(ctx, "", 0)
	if err != nil {
		return fmt.Errorf("read the cluster state: %w", err)
	}
	changed, err := r.renderAll(NewView(st), false)
	if changed {
		err = errors.Join(err, r.exec(ctx, false))
	}
	return err
}

// Run renders whenever the state changes, debounced by Options.Wait, and
// runs the command after each round that changed a file; a failed
// command is run again with back-off until it succeeds. It returns nil
// when ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	states := make(chan api.WatchState, 1)
	var wg sync.WaitGroup
	wg.Go(func() { r.watch(ctx, states) })
	defer func() {
		cancel()
		wg.Wait()
	}()
	var (
		view    *View
		deb     = debouncer{wait: r.opts.Wait}
		execDue time.Time // when the command is to run; zero: not
	)
	for {
		var fire <-chan time.Time
		var timer Timer
		if at := earliest(deb, execDue); !at.IsZero() {
			timer = r.clock.NewTimer(max(at.Sub(r.clock.Now()), 0))
			fire = timer.C()
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return nil
		case st := <-states:
			first := view == nil
			view = NewView(st)
			deb.change(r.clock.Now())
			if first { // nothing rendered yet: no reason to wait
				deb.done()
				if changed, _ := r.renderAll(view, true); changed {
					execDue = r.clock.Now()
				}
			}
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
		now := r.clock.Now()
		if at, ok := deb.due(); ok && !now.Before(at) {
			deb.done()
			if changed, _ := r.renderAll(view, true); changed {
				execDue = now
			}
		}
		if !execDue.IsZero() && !now.Before(execDue) {
			execDue = time.Time{}
			if err := r.exec(ctx, true); err != nil && ctx.Err() == nil {
				delay := r.execBO.next()
				execDue = r.clock.Now().Add(delay)
				r.log.Warn("command will be retried", "in", delay)
			} else if err == nil {
				r.execBO.reset()
			}
		}
	}
}

// earliest is when Run's loop must wake next; zero: on input only.
func earliest(deb debouncer, execDue time.Time) time.Time {
	at, ok := deb.due()
	if !ok || (!execDue.IsZero() && execDue.Before(at)) {
		return execDue
	}
	return at
}

// watch sends each new state to out, replacing one not read yet, until
// ctx ends. A failed read is retried with back-off.
func (r *Runner) watch(ctx context.Context, out chan api.WatchState) {
	index := ""
	for ctx.Err() == nil {
		asked := r.clock.Now()
		st, err := r.src.Watch(ctx, index, r.opts.WatchWait)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.m.watchErrors.Inc()
			delay := r.watchBO.next()
			r.log.Warn("cannot read the cluster state from the agent; retrying", "in", delay, "err", err)
			r.sleep(ctx, delay)
			continue
		}
		r.watchBO.reset()
		if st.Index == index {
			// The wait ended with no change. An agent that answered at
			// once cannot block: ask again later, not in a spin.
			if r.clock.Now().Sub(asked) < r.opts.WatchWait/2 {
				r.sleep(ctx, pollEvery)
			}
			continue
		}
		index = st.Index
		r.m.updates.Inc()
		r.log.Debug("cluster state changed", "index", index)
		select { // only the newest state matters
		case <-out:
		default:
		}
		out <- st // this goroutine is the only sender: there is room
	}
}

func (r *Runner) sleep(ctx context.Context, d time.Duration) {
	t := r.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C():
	}
}

// renderAll renders every template and writes those that changed. A
// template that fails keeps its file as it was; the others go on. With
// report, failures are logged (Run); else the caller reports them (Once).
func (r *Runner) renderAll(v *View, report bool) (bool, error) {
	changed := false
	var errs []error
	for _, t := range r.tmpls {
		content, err := t.Render(v)
		wrote := false
		if err == nil {
			wrote, err = r.out.write(t, content)
		}
		switch {
		case err != nil:
			r.m.rendered(t.Dest, resultError)
			r.logIf(report, "template not rendered: the file keeps its previous content", "file", t.Dest, "err", err)
			errs = append(errs, err)
		case wrote:
			changed = true
			r.m.rendered(t.Dest, resultChanged)
			r.log.Info("rendered", "template", t.Source, "file", t.Dest, "bytes", len(content))
		default:
			r.m.rendered(t.Dest, resultUnchanged)
			r.log.Debug("unchanged", "file", t.Dest)
		}
	}
	return changed, errors.Join(errs...)
}

// exec runs the command, when there is one; report as for renderAll.
func (r *Runner) exec(ctx context.Context, report bool) error {
	if r.opts.Command == nil {
		return nil
	}
	start := r.clock.Now()
	err := r.opts.Command.Run(ctx)
	took := r.clock.Now().Sub(start)
	r.m.executed(err, took.Seconds())
	if err != nil {
		r.logIf(report, "command failed", "err", err)
		return err
	}
	r.log.Info("command ran", "took", took)
	return nil
}

// logIf logs an error when report is set.
func (r *Runner) logIf(report bool, msg string, args ...any) {
	if report {
		r.log.Error(msg, args...)
	}
}
