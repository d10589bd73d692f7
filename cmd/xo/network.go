package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newNetworkCmd(opts *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "network",
		Short: "List and inspect xoverlay networks",
		Long: "List and inspect xoverlay networks. Networks are created and removed\n" +
			"with docker network create/rm --driver xoverlay.",
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				err := fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())
				return &usageError{err: err, cmd: cmd.CommandPath()}
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(newNetworkLsCmd(opts), newNetworkInspectCmd(opts))
	return cmd
}

// completeNetworks offers network names for shell completion.
func completeNetworks(opts *rootOptions) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		nets, err := opts.client().Networks(cmd.Context())
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, n := range nets {
			if n.Name != "" {
				out = append(out, n.Name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
