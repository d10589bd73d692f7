package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newServiceRmCmd(opts *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "rm SERVICE [SERVICE...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more services",
		Long: "Remove one or more services. Their tasks' containers are stopped (each\n" +
			"within its --stop-grace-period) and removed by the agents of their nodes.",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeServices(opts),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := opts.client()
			return forEach(args, "service", func(ref string) error {
				if err := c.ServiceRemove(cmd.Context(), ref); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), ref)
				return nil
			})
		},
	}
}
