package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

// logTime is docker's timestamp of log lines: RFC 3339 with the
// nanoseconds padded, so that lines align.
const logTime = "2006-01-02T15:04:05.000000000Z07:00"

type serviceLogsOptions struct {
	follow, timestamps, noTrunc, noTaskIDs, noResolve, raw bool
	tail, since                                            string
}

func newServiceLogsCmd(opts *rootOptions) *cobra.Command {
	var o serviceLogsOptions
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] SERVICE|TASK",
		Short: "Show the logs of a service or a task",
		Long: "Show the logs of every task of a service, or of one task, read from the\n" +
			"engines of their nodes. Each line is led by its task and node, as\n" +
			"web.1.abcdef123456@host2    | ...; stderr lines go to stderr.",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeServices(opts),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), opts.client(), args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&o.follow, "follow", "f", false, "follow the output")
	fl.StringVarP(&o.tail, "tail", "n", "all", "number of lines to show from the end of each task's logs")
	fl.StringVar(&o.since, "since", "", "show logs since a timestamp (2013-01-02T13:23:37Z) or a duration (42m)")
	fl.BoolVarP(&o.timestamps, "timestamps", "t", false, "show timestamps")
	fl.BoolVar(&o.noTrunc, "no-trunc", false, "do not truncate task IDs")
	fl.BoolVar(&o.noTaskIDs, "no-task-ids", false, "do not include task IDs")
	fl.BoolVar(&o.noResolve, "no-resolve", false, "show node IDs, not hostnames")
	fl.BoolVar(&o.raw, "raw", false, "do not lead lines with their task and node")
	return cmd
}

func (o serviceLogsOptions) run(ctx context.Context, c *api.Client, ref string, stdout, stderr io.Writer) error {
	if n, err := strconv.Atoi(o.tail); o.tail != "all" && (err != nil || n < 0) {
		return fmt.Errorf("invalid --tail %q: want a number of lines or all", o.tail)
	}
	lo := api.LogsOptions{Follow: o.follow, Tail: o.tail, Since: o.since}
	p := &logPrinter{o: o, stdout: stdout, stderr: stderr}
	svc, err := c.Service(ctx, ref)
	switch {
	case err == nil:
		if svc.Mode == api.ModeReplicated {
			p.slotDigits = len(strconv.FormatUint(svc.Spec.Replicas, 10))
		}
		err = c.ServiceLogs(ctx, svc.ID, lo, p.print)
	case errors.Is(err, api.ErrNotFound):
		err = c.TaskLogs(ctx, ref, lo, p.print)
		if errors.Is(err, api.ErrNotFound) {
			return fmt.Errorf("no such service or task: %s", ref)
		}
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil // interrupted while following
	}
	return err
}

// logPrinter writes log lines as docker service logs does.
type logPrinter struct {
	o              serviceLogsOptions
	stdout, stderr io.Writer
	slotDigits     int // the widest slot number: shorter ones are padded
	mu             sync.Mutex
}

// print writes one line: [TIMESTAMP ]TASK@NODE    | TEXT, on stderr for
// a stderr line or a task whose logs could not be read.
func (p *logPrinter) print(l api.LogLine) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l.Err != "" {
		_, err := fmt.Fprintf(p.stderr, "error from %s: %s\n", strings.TrimRight(p.prefix(l), " "), l.Err)
		return err
	}
	var b strings.Builder
	if p.o.timestamps {
		b.WriteString(l.Time.Format(logTime) + " ")
	}
	if !p.o.raw {
		b.WriteString(p.prefix(l) + "    | ")
	}
	b.WriteString(l.Line + "\n")
	w := p.stdout
	if l.Stream == "stderr" {
		w = p.stderr
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// prefix names a line's task and node: web.1.abcdef123456@host2.
func (p *logPrinter) prefix(l api.LogLine) string {
	name := api.Task{Service: l.Service, Slot: l.Slot, NodeID: l.NodeID}.SlotName()
	if !p.o.noTaskIDs {
		id := l.TaskID
		if !p.o.noTrunc {
			id = api.ShortID(id)
		}
		name += "." + id
	}
	node := l.Node
	if p.o.noResolve {
		node = l.NodeID
	}
	pad := 0
	if l.Slot != 0 {
		pad = p.slotDigits - len(strconv.FormatUint(l.Slot, 10))
	}
	return name + "@" + node + strings.Repeat(" ", max(pad, 0))
}
