package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

// maxErrLength is where xo service ps cuts errors, as docker does.
const maxErrLength = 30

type servicePsOptions struct {
	format    string
	quiet     bool
	noTrunc   bool
	noResolve bool
	filter    []string
}

func newServicePsCmd(opts *rootOptions) *cobra.Command {
	var o servicePsOptions
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] SERVICE [SERVICE...]",
		Short: "List the tasks of one or more services",
		Long: "List the tasks of one or more services, current and past: each slot's (or, for\n" +
			"a global service, each node's) newest task first, then those it replaced.\n" +
			"ERROR says why a task failed, or why it cannot be placed.",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeServices(opts),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := newFormatter(o.format)
			if err != nil {
				return err
			}
			flt, err := parseFilters(o.filter, "desired-state", "id", "name", "node")
			if err != nil {
				return usagef(cmd, "%w", err)
			}
			var tasks []api.Task
			c := opts.client()
			lookupErr := forEach(args, "service", func(ref string) error {
				ts, err := c.ServiceTasks(cmd.Context(), ref)
				for _, t := range newestFirst(ts) {
					if flt.matchTask(t) {
						tasks = append(tasks, t)
					}
				}
				return err
			})
			if errors.Is(lookupErr, api.ErrUnreachable) {
				return lookupErr
			}
			id := func(t api.Task) string { return o.id(t.ID) }
			if err := renderList(cmd.OutOrStdout(), f, o.quiet, tasks, id, o.print); err != nil {
				return err
			}
			return lookupErr
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.format, "format", "", formatHelp+"; the template runs once per task")
	fl.BoolVarP(&o.quiet, "quiet", "q", false, "only print task IDs")
	fl.BoolVar(&o.noTrunc, "no-trunc", false, "do not truncate IDs and errors")
	fl.BoolVar(&o.noResolve, "no-resolve", false, "show node IDs, not hostnames")
	fl.StringArrayVarP(&o.filter, "filter", "f", nil,
		"show only tasks with desired-state=running|shutdown|STATE, id=PREFIX, name=NAME, node=NODE")
	return cmd
}

// newestFirst orders tasks by slot (or node), the newest first in each.
func newestFirst(ts []api.Task) []api.Task {
	slices.SortStableFunc(ts, func(a, b api.Task) int {
		c := cmp.Compare(a.Slot, b.Slot)
		if c == 0 && a.Slot == 0 { // global: by node
			c = cmp.Compare(a.NodeID, b.NodeID)
		}
		return cmp.Or(c, b.CreatedAt.Compare(a.CreatedAt))
	})
	return ts
}

// matchTask applies the filters of xo service ps. desired-state=running
// keeps the tasks wanted running; shutdown those being or stopped.
func (f filters) matchTask(t api.Task) bool {
	return f.match("desired-state", func(v string) bool {
		wanted := slices.Contains([]string{"new", "pending", "assigned", "accepted", "preparing", "starting", "running"}, t.DesiredState)
		return v == t.DesiredState || (v == "running" && wanted) || (v == "shutdown" && !wanted)
	}) &&
		f.match("id", func(v string) bool { return strings.HasPrefix(t.ID, v) }) &&
		f.match("name", func(v string) bool { return v == t.SlotName() || v == t.Name }) &&
		f.match("node", func(v string) bool { return v == t.Node || v == t.NodeID })
}

func (o servicePsOptions) id(id string) string {
	if o.noTrunc {
		return id
	}
	return api.ShortID(id)
}

func (o servicePsOptions) print(w io.Writer, tasks []api.Task) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tIMAGE\tNODE\tDESIRED STATE\tCURRENT STATE\tERROR")
	prev := ""
	for _, t := range tasks {
		name := t.SlotName()
		if name == prev {
			name = ` \_ ` + name
		} else {
			prev = name
		}
		node := t.Node
		if o.noResolve {
			node = t.NodeID
		}
		errText := ""
		if t.Err != "" {
			errText = t.Err
			if r := []rune(errText); !o.noTrunc && len(r) > maxErrLength {
				errText = string(r[:maxErrLength-1]) + "…"
			}
			errText = strconv.Quote(errText)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			o.id(t.ID), name, t.Image, node, title(t.DesiredState), currentState(t), errText)
	}
	return tw.Flush()
}

// currentState is "Running 5 seconds ago", as docker shows it.
func currentState(t api.Task) string {
	at := t.Timestamp
	if at.IsZero() {
		at = t.CreatedAt
	}
	return title(t.State) + " " + humanDuration(now().Sub(at)) + " ago"
}
