package main

import (
	"github.com/spf13/cobra"
)

func newNodeInspectCmd(opts *rootOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:               "inspect [OPTIONS] NODE [NODE...]",
		Short:             "Show one or more nodes in detail",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeNodes(opts),
		RunE: func(cmd *cobra.Command, args []string) error {
			return inspect(cmd, format, "node", args, opts.client().Node)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", formatHelp+"; the template runs once per node")
	return cmd
}
