package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/xoverlay/xoverlay/orchestrator/api"
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
			f, err := newFormatter(format)
			if err != nil {
				return err
			}
			c := opts.client()
			found := []api.Network{}
			var errs []error
			for _, ref := range args {
				n, err := c.Network(cmd.Context(), ref)
				switch {
				case errors.Is(err, api.ErrNotFound):
					errs = append(errs, fmt.Errorf("no such network: %s", ref))
				case errors.Is(err, api.ErrUnreachable):
					return err
				case err != nil:
					errs = append(errs, err)
				default:
					found = append(found, n)
				}
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
			return errors.Join(errs...)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", formatHelp+"; the template runs once per network")
	return cmd
}
