package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

func newNodeLsCmd(opts *rootOptions) *cobra.Command {
	var (
		format string
		quiet  bool
	)
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List the nodes of the cluster",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := newFormatter(format)
			if err != nil {
				return err
			}
			nodes, err := opts.client().Nodes(cmd.Context())
			if err != nil {
				return err
			}
			return printNodes(cmd.OutOrStdout(), f, quiet, nodes)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&format, "format", "f", "", formatHelp+"; the template runs once per node")
	fl.BoolVarP(&quiet, "quiet", "q", false, "only print node IDs")
	return cmd
}

func printNodes(w io.Writer, f *formatter, quiet bool, nodes []api.Node) error {
	switch {
	case quiet:
		for _, n := range nodes {
			fmt.Fprintln(w, n.ID)
		}
		return nil
	case f.json():
		if nodes == nil {
			nodes = []api.Node{}
		}
		return writeJSON(w, nodes)
	case !f.human():
		for _, n := range nodes {
			if err := f.execute(w, n); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "ID\tHOSTNAME\tSTATUS\tAVAILABILITY\tMANAGER STATUS\tENGINE VERSION")
	for _, n := range nodes {
		id := n.ID
		if n.Self {
			id += " *"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n",
			id, n.Hostname, title(n.Status), title(n.Availability), n.ManagerStatus, n.Capabilities.Engine)
	}
	return tw.Flush()
}

// title capitalizes a state word as docker node ls shows it: "Ready".
func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
