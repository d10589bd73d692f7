package main

import (
	"github.com/spf13/cobra"
)

// newPauseCmd is the process of the node's ingress container (see
// lbproxy/ingress): it holds the container's network namespace and does
// nothing until SIGTERM or SIGINT. The xo binary serves as its own
// pause image, so no registry is needed.
func newPauseCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "pause",
		Short:  "Sleep until SIGTERM (the process of the ingress container)",
		Args:   cobra.NoArgs,
		Hidden: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			<-cmd.Context().Done()
			return nil
		},
	}
}
