package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

func newServiceLsCmd(opts *rootOptions) *cobra.Command {
	var (
		format string
		quiet  bool
		filter []string
	)
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List services",
		Long: "List services. REPLICAS is running/desired: the tasks running on nodes that\n" +
			"are up, of --replicas; for a global service, of the nodes it may run on; for\n" +
			"an external one (containers run by hand with --label xo.service=NAME), of its\n" +
			"containers.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := newFormatter(format)
			if err != nil {
				return err
			}
			flt, err := parseFilters(filter, "name", "id", "mode", "label")
			if err != nil {
				return usagef(cmd, "%w", err)
			}
			svcs, err := opts.client().Services(cmd.Context())
			if err != nil {
				return err
			}
			var shown []api.Service
			for _, s := range svcs {
				if flt.matchService(s) {
					shown = append(shown, s)
				}
			}
			return renderList(cmd.OutOrStdout(), f, quiet, shown, api.Service.ShortID, printServices)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&format, "format", "", formatHelp+"; the template runs once per service")
	fl.BoolVarP(&quiet, "quiet", "q", false, "only print service IDs")
	fl.StringArrayVarP(&filter, "filter", "f", nil, "show only services with name=PREFIX, id=PREFIX, mode=MODE, label=KEY[=VALUE]")
	return cmd
}

// matchService applies the filters of xo service ls; name and ID match
// by prefix, as in docker.
func (f filters) matchService(s api.Service) bool {
	return f.match("name", func(v string) bool { return strings.HasPrefix(s.Name, v) }) &&
		f.match("id", func(v string) bool { return strings.HasPrefix(s.ID, v) }) &&
		f.match("mode", func(v string) bool { return s.Mode == v }) &&
		f.match("label", func(v string) bool {
			k, want, withValue := strings.Cut(v, "=")
			got, ok := s.Spec.Labels[k]
			return ok && (!withValue || got == want)
		})
}

func printServices(w io.Writer, svcs []api.Service) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tMODE\tREPLICAS\tIMAGE\tPORTS")
	for _, s := range svcs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ShortID(), s.Name, s.Mode, s.Replicas, dash(s.Image), portsColumn(s.Ports))
	}
	return tw.Flush()
}

// portsColumn writes published ports as docker does, *:8080->80/tcp,
// with the mode when it is not ingress.
func portsColumn(ports []api.PortConfig) string {
	parts := make([]string, 0, len(ports))
	for _, p := range ports {
		s := fmt.Sprintf("%d/%s", p.Target, p.Protocol)
		if p.Published != 0 {
			s = fmt.Sprintf("*:%d->%s", p.Published, s)
		}
		if p.Mode != "" && p.Mode != api.PublishIngress {
			s += " (" + p.Mode + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}
