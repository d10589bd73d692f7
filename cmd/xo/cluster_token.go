package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

func newClusterTokenCmd(opts *rootOptions) *cobra.Command {
	var quiet, rotate bool
	cmd := &cobra.Command{
		Use:   "token [OPTIONS] (worker|manager)",
		Short: "Show or rotate a join token",
		Long: "Show the token that joins hosts to the cluster as workers or as\n" +
			"managers, with the command to run on them. --rotate replaces the token:\n" +
			"the old one no longer lets hosts join.",
		Args:      cobra.ExactArgs(1),
		ValidArgs: []cobra.Completion{api.RoleWorker, api.RoleManager},
		RunE: func(cmd *cobra.Command, args []string) error {
			role := args[0]
			if role != api.RoleWorker && role != api.RoleManager {
				return usagef(cmd, "unknown role %q: use %s or %s", role, api.RoleWorker, api.RoleManager)
			}
			c := opts.client()
			token, err := c.ClusterToken(cmd.Context(), role, rotate)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if quiet {
				fmt.Fprintln(w, token)
				return nil
			}
			addr := "<this host's address>"
			if info, err := c.Info(cmd.Context()); err == nil && info.RaftAddr != "" {
				addr = info.RaftAddr
			}
			if rotate {
				fmt.Fprintf(w, "Successfully rotated %s join token.\n\n", role)
			}
			fmt.Fprintf(w, "To add a %s to this cluster, run the following command:\n\n", role)
			printJoinCommand(w, token, addr)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&quiet, "quiet", "q", false, "only print the token")
	fl.BoolVar(&rotate, "rotate", false, "replace the token with a new one first")
	return cmd
}
