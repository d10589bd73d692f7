package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

func newNodeInspectCmd(opts *rootOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:               "inspect [OPTIONS] NODE [NODE...]",
		Short:             "Show one or more nodes in detail",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeNodes(opts),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := newFormatter(format)
			if err != nil {
				return err
			}
			c := opts.client()
			found := []api.Node{}
			lookupErr := forEach(args, "node", func(ref string) error {
				n, err := c.Node(cmd.Context(), ref)
				if err == nil {
					found = append(found, n)
				}
				return err
			})
			if errors.Is(lookupErr, api.ErrUnreachable) {
				return lookupErr
			}
			w := cmd.OutOrStdout()
			if f.human() || f.json() {
				if err := writeJSON(w, found); err != nil {
					return err
				}
			} else {
				for _, n := range found {
					if err := f.execute(w, n); err != nil {
						return err
					}
				}
			}
			return lookupErr
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", formatHelp+"; the template runs once per node")
	return cmd
}
