package main

import (
	"github.com/spf13/cobra"
)

func newNetworkInspectCmd(opts *rootOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect NETWORK [NETWORK...]",
		Short: "Show one or more networks in detail",
		Long: "Show one or more networks in detail. NETWORK is a name, an ID or a\n" +
			"unique ID prefix.",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeNetworks(opts),
		RunE: func(cmd *cobra.Command, args []string) error {
			return inspect(cmd, format, "network", args, opts.client().Network)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", formatHelp+"; the template runs once per network")
	return cmd
}
