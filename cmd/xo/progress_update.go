package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

// followUpdate follows what a write of the service started, unless
// --detach (--quiet: without printing): the rolling update (or rollback)
// to its end when the write started one (before and after are the
// service around the write), else the tasks to convergence. asked says
// the user asked for a rollback: its completion is then a success.
func followUpdate(cmd *cobra.Command, c serviceReader, ref string, before, after api.Service, asked bool) error {
	if detach, _ := cmd.Flags().GetBool("detach"); detach {
		return nil
	}
	w := cmd.OutOrStdout()
	if quiet, _ := cmd.Flags().GetBool("quiet"); quiet {
		w = io.Discard
	}
	if a, b := after.UpdateStatus, before.UpdateStatus; a == nil || (b != nil && b.StartedAt.Equal(a.StartedAt)) {
		return waitConverged(cmd.Context(), c, w, ref)
	}
	return waitUpdated(cmd.Context(), c, w, ref, asked)
}

// waitUpdated follows a rolling update of ref until its status says it
// completed (or rolled back) and every slot runs a task of the spec, for
// progressVerify. It prints a line per slot as it changes, and each new
// status that says more than "in progress". A pause is an error, and so
// is an automatic rollback (unless asked: the user rolled back). An
// interrupt leaves the update going.
func waitUpdated(ctx context.Context, c serviceReader, w io.Writer, ref string, asked bool) error {
	p := &progress{w: w, slots: map[string]string{}}
	var since time.Time // when it was first seen done, zero if not
	said := ""          // the last status printed
	tick := time.NewTicker(progressPoll)
	defer tick.Stop()
	for {
		svc, converged, err := p.observe(ctx, c, ref)
		switch {
		case errors.Is(err, api.ErrNotFound):
			return fmt.Errorf("service %s was removed while updating", ref)
		case err != nil && ctx.Err() == nil:
			return err
		case err == nil:
			st := svc.UpdateStatus
			if st == nil {
				st = &api.UpdateStatus{State: api.UpdateCompleted}
			}
			if line := statusLine(st); line != "" && line != said {
				fmt.Fprintln(w, line)
				said = line
			}
			switch st.State {
			case api.UpdatePaused, api.UpdateRollbackPaused:
				return fmt.Errorf("service %s: %s; roll it back with xo service rollback %s, or change its spec "+
					"with xo service update %s", svc.Name, st.Message, svc.Name, svc.Name)
			}
			done := converged && (st.State == api.UpdateCompleted || st.State == api.UpdateRollbackCompleted)
			switch {
			case done && since.IsZero():
				since = time.Now()
				fmt.Fprintf(w, "verify: waiting %s to verify that tasks are stable...\n", progressVerify)
			case done && time.Since(since) >= progressVerify:
				fmt.Fprintln(w, "verify: Service converged")
				if st.State == api.UpdateRollbackCompleted && !asked {
					return fmt.Errorf("service %s %s", svc.Name, st.Message)
				}
				return nil
			case !done:
				since = time.Time{}
			}
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(w, "Operation continuing in background.\nUse `xo service ps %s` to follow it.\n", ref)
			return nil
		case <-tick.C:
		}
	}
}

// statusLine is what a status says beyond "in progress" or "completed",
// "" for nothing.
func statusLine(st *api.UpdateStatus) string {
	switch st.State {
	case api.UpdateUpdating, api.UpdateCompleted:
		return ""
	case api.UpdateRollbackStarted:
		return "rollback: " + st.Message
	}
	return st.Message
}
