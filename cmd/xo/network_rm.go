package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newNetworkRmCmd(opts *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more networks from every host",
		Long: "Remove one or more networks from every engine of the cluster. NETWORK is\n" +
			"a name, an ID or a unique ID prefix. A network with containers on it\n" +
			"is not removed.",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeNetworks(opts),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := opts.client()
			return forEach(args, "network", func(ref string) error {
				if err := c.NetworkRemove(cmd.Context(), ref); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), ref)
				return nil
			})
		},
	}
}
