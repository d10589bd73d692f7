package main

import "github.com/spf13/cobra"

func newNetworkCmd(opts *rootOptions) *cobra.Command {
	return newGroupCmd("network", "Manage xoverlay networks",
		"Create, list, inspect and remove xoverlay networks. A network created\n"+
			"here, or with docker network create --driver xoverlay on any host,\n"+
			"exists on every engine of the cluster.",
		newNetworkLsCmd(opts), newNetworkInspectCmd(opts),
		newNetworkCreateCmd(opts), newNetworkRmCmd(opts))
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
