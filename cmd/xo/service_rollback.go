package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

// noSuchService says "no such service: REF" for a service not found.
func noSuchService(ref string, err error) error {
	if errors.Is(err, api.ErrNotFound) {
		return fmt.Errorf("no such service: %s", ref)
	}
	return err
}

func newServiceRollbackCmd(opts *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollback [OPTIONS] SERVICE",
		Short: "Revert changes to a service's configuration",
		Long: "Put a service back on the spec it had before its last update, as docker service\n" +
			"rollback does, replacing its tasks with its --rollback-* policy (each old task\n" +
			"taken out of service before it is stopped). A second rollback undoes the first.\n" +
			"Unless --detach, it follows the rollback until it completes.",
		Example:           "  xo service rollback web",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeServices(opts),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := opts.client()
			before, err := c.Service(cmd.Context(), args[0])
			if err != nil {
				return noSuchService(args[0], err)
			}
			after, err := c.ServiceRollback(cmd.Context(), before.ID, api.ServiceRollbackRequest{Version: before.Version})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), after.Name)
			return followUpdate(cmd, c, after.ID, before, after, true)
		},
	}
	cmd.Flags().BoolP("detach", "d", false, "exit at once instead of following the rollback")
	cmd.Flags().BoolP("quiet", "q", false, "print only the service name, not the progress")
	return cmd
}
