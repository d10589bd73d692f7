package main

import "github.com/spf13/cobra"

func newNodeCmd(opts *rootOptions) *cobra.Command {
	return newGroupCmd("node", "Manage the nodes of the cluster",
		"List, inspect, update, promote, demote and remove cluster nodes. NODE is\n"+
			"a hostname, an ID or a unique ID prefix.",
		newNodeLsCmd(opts), newNodeInspectCmd(opts), newNodeRmCmd(opts),
		newNodePromoteCmd(opts), newNodeDemoteCmd(opts), newNodeUpdateCmd(opts))
}

// completeNodes offers hostnames for shell completion.
func completeNodes(opts *rootOptions) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		nodes, err := opts.client().Nodes(cmd.Context())
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, n := range nodes {
			out = append(out, n.Hostname)
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
