package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newNodePromoteCmd(opts *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:               "promote NODE [NODE...]",
		Short:             "Make one or more nodes managers",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeNodes(opts),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := opts.client()
			return forEach(args, "node", func(ref string) error {
				if err := c.NodePromote(cmd.Context(), ref); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Node %s promoted to a manager in the cluster.\n", ref)
				return nil
			})
		},
	}
}
