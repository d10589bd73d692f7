package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newNodeRmCmd(opts *rootOptions) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] NODE [NODE...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more nodes from the cluster",
		Long: "Remove one or more nodes from the cluster. The agent refuses to remove a\n" +
			"node that is still up unless --force is given.",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeNodes(opts),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := opts.client()
			return forEach(args, "node", func(ref string) error {
				if err := c.NodeRemove(cmd.Context(), ref, force); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), ref)
				return nil
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "remove the node even if it is up")
	return cmd
}
