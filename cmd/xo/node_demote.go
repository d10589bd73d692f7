package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newNodeDemoteCmd(opts *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:               "demote NODE [NODE...]",
		Short:             "Make one or more managers workers",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeNodes(opts),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := opts.client()
			return forEach(args, "node", func(ref string) error {
				if err := c.NodeDemote(cmd.Context(), ref); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Manager %s demoted to a worker in the cluster.\n", ref)
				return nil
			})
		},
	}
}
