package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

type networkLsOptions struct {
	format  string
	quiet   bool
	noTrunc bool
}

func newNetworkLsCmd(opts *rootOptions) *cobra.Command {
	var o networkLsOptions
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := newFormatter(o.format)
			if err != nil {
				return err
			}
			nets, err := opts.client().Networks(cmd.Context())
			if err != nil {
				return err
			}
			return printNetworks(cmd.OutOrStdout(), f, o, nets)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.format, "format", "f", "", formatHelp+"; the template runs once per network")
	fl.BoolVarP(&o.quiet, "quiet", "q", false, "only print network IDs")
	fl.BoolVar(&o.noTrunc, "no-trunc", false, "do not truncate network IDs")
	return cmd
}

func printNetworks(w io.Writer, f *formatter, o networkLsOptions, nets []api.Network) error {
	id := func(n api.Network) string {
		if o.noTrunc {
			return n.ID
		}
		return n.ShortID()
	}
	switch {
	case o.quiet:
		for _, n := range nets {
			fmt.Fprintln(w, id(n))
		}
		return nil
	case f.json():
		if nets == nil {
			nets = []api.Network{}
		}
		return writeJSON(w, nets)
	case !f.human():
		for _, n := range nets {
			if err := f.execute(w, n); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NETWORK ID\tNAME\tVNI\tSUBNET\tGATEWAY\tHOSTS\tENDPOINTS")
	for _, n := range nets {
		vni := ""
		if n.VNI != 0 {
			vni = strconv.FormatUint(uint64(n.VNI), 10)
		}
		name := dash(n.Name)
		if len(n.Errors) > 0 {
			name += " (!)" // some engine has no copy: see xo network inspect
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\n",
			id(n), name, dash(vni), dash(n.Subnet), dash(n.Gateway), len(n.Hosts), n.EndpointCount())
	}
	return tw.Flush()
}

// dash stands in for an empty table cell.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
