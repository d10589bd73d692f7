package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

// Convergence watching, as docker service create/scale do without
// --detach: the CLI follows the service's tasks until every one it wants
// runs, printing a line whenever a slot changes state, then checks that
// they stay up for a moment. Output is plain lines (no cursor movement),
// so it reads the same in a terminal, a pipe and a CI log.

// progressPoll is how often the tasks are read; progressVerify is how
// long a converged service must stay converged.
const (
	progressPoll   = 250 * time.Millisecond
	progressVerify = time.Second
)

// serviceReader is what watching needs of the agent's API.
type serviceReader interface {
	Service(ctx context.Context, ref string) (api.Service, error)
	ServiceTasks(ctx context.Context, ref string) ([]api.Task, error)
}

// progress remembers what was last printed.
type progress struct {
	w       io.Writer
	slots   map[string]string // slot name -> last printed line
	overall string
}

// waitConverged follows service ref until it converges. An interrupt
// (ctx done) leaves the service as it is, like Docker's "operation
// continuing in background".
func waitConverged(ctx context.Context, c serviceReader, w io.Writer, ref string) error {
	p := &progress{w: w, slots: map[string]string{}}
	var since time.Time // when it was first seen converged, zero if not
	tick := time.NewTicker(progressPoll)
	defer tick.Stop()
	for {
		done, err := p.step(ctx, c, ref)
		switch {
		case errors.Is(err, api.ErrNotFound):
			return fmt.Errorf("service %s was removed while starting", ref)
		case err != nil && ctx.Err() == nil:
			return err
		case done && since.IsZero():
			since = time.Now()
			fmt.Fprintf(w, "verify: waiting %s to verify that tasks are stable...\n", progressVerify)
		case done && time.Since(since) >= progressVerify:
			fmt.Fprintln(w, "verify: Service converged")
			return nil
		case !done && !since.IsZero():
			since = time.Time{}
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(w, "Operation continuing in background.\nUse `xo service ps %s` to follow it.\n", ref)
			return nil
		case <-tick.C:
		}
	}
}

// step reads the service and its tasks once, prints what changed, and
// says whether the service has converged.
func (p *progress) step(ctx context.Context, c serviceReader, ref string) (bool, error) {
	_, done, err := p.observe(ctx, c, ref)
	return done, err
}

// observe is step, answering the service read too.
func (p *progress) observe(ctx context.Context, c serviceReader, ref string) (api.Service, bool, error) {
	svc, err := c.Service(ctx, ref)
	if err != nil {
		return svc, false, err
	}
	tasks, err := c.ServiceTasks(ctx, ref)
	if err != nil {
		return svc, false, err
	}
	lines, running, wanted := slotLines(svc, tasks)
	overall := fmt.Sprintf("overall progress: %d out of %d tasks", running, svc.Replicas.Desired)
	if overall != p.overall {
		fmt.Fprintln(p.w, overall)
		p.overall = overall
	}
	names := make([]string, 0, len(lines))
	for k := range lines {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if p.slots[k] != lines[k] {
			fmt.Fprintf(p.w, "%s: %s\n", k, lines[k])
			p.slots[k] = lines[k]
		}
	}
	return svc, running == wanted && uint64(running) == svc.Replicas.Desired, nil
}

// slotLines is one line per slot (replicated: SLOT/REPLICAS; global: the
// node) for the tasks meant to run, and how many of those run the
// service's spec (a task an update is to replace does not count).
func slotLines(svc api.Service, tasks []api.Task) (lines map[string]string, running, wanted int) {
	lines = map[string]string{}
	for _, t := range tasks {
		if t.DesiredState != "running" {
			continue
		}
		wanted++
		key := t.Node
		if t.Slot != 0 {
			key = fmt.Sprintf("%d/%d", t.Slot, svc.Replicas.Desired)
		} else if key == "" {
			key = t.NodeID
		}
		line := t.State
		if t.State == "running" && !t.Outdated {
			running++
		}
		if t.Outdated {
			line += " (previous spec)"
		}
		if why := strings.TrimSpace(firstNonEmpty(t.Err, t.Message)); why != "" && t.State != "running" {
			line += " (" + why + ")"
		}
		lines[key] = line
	}
	return lines, running, wanted
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
