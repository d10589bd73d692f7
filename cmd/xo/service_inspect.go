package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

func newServiceInspectCmd(opts *rootOptions) *cobra.Command {
	var (
		format string
		pretty bool
	)
	cmd := &cobra.Command{
		Use:               "inspect [OPTIONS] SERVICE [SERVICE...]",
		Short:             "Show one or more services in detail",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeServices(opts),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := opts.client()
			if !pretty {
				return inspect(cmd, format, "service", args, c.Service)
			}
			if format != "" {
				return usagef(cmd, "--format and --pretty cannot be combined")
			}
			nets, err := c.Networks(cmd.Context())
			if err != nil {
				return err
			}
			names := map[string]string{}
			for _, n := range nets {
				names[n.ID] = n.Name
			}
			first := true
			return forEach(args, "service", func(ref string) error {
				s, err := c.Service(cmd.Context(), ref)
				if err != nil {
					return err
				}
				if !first {
					fmt.Fprintln(cmd.OutOrStdout())
				}
				first = false
				return printPretty(cmd.OutOrStdout(), s, names)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&format, "format", "f", "", formatHelp+"; the template runs once per service")
	fl.BoolVar(&pretty, "pretty", false, "print the information in a human friendly format")
	return cmd
}

// printPretty writes a service the way docker service inspect --pretty
// does; netNames names networks by ID.
func printPretty(w io.Writer, s api.Service, netNames map[string]string) error {
	tw := tabwriter.NewWriter(w, 0, 8, 1, ' ', 0)
	p := func(indent int, key string, v any) {
		fmt.Fprintf(tw, "%s%s:\t%v\n", strings.Repeat(" ", indent), key, v)
	}
	head := func(indent int, key string) { fmt.Fprintf(tw, "%s%s:\n", strings.Repeat(" ", indent), key) }
	sp := s.Spec
	p(0, "ID", s.ID)
	p(0, "Name", s.Name)
	if len(sp.Labels) > 0 {
		head(0, "Labels")
		for _, k := range slices.Sorted(maps.Keys(sp.Labels)) {
			fmt.Fprintf(tw, " %s=%s\n", k, sp.Labels[k])
		}
	}
	p(0, "Service Mode", title(s.Mode))
	if s.Mode == api.ModeReplicated {
		p(1, "Replicas", sp.Replicas)
	}
	if s.External {
		p(0, "Members", s.Replicas.String()+" in service")
		return tw.Flush()
	}
	prettyUpdateStatus(p, head, s.UpdateStatus)
	if len(sp.Constraints)+len(sp.Preferences) > 0 {
		head(0, "Placement")
		optional(p, 1, "Constraints", sp.Constraints)
		optional(p, 1, "Preferences", sp.Preferences)
	}
	rp := sp.RestartPolicy
	head(0, "RestartPolicy")
	p(1, "Condition", rp.Condition)
	p(1, "Delay", rp.Delay)
	p(1, "Max Attempts", rp.MaxAttempts)
	p(1, "Window", rp.Window)
	prettyPolicy(p, head, "UpdateConfig", sp.UpdateConfig)
	prettyPolicy(p, head, "RollbackConfig", sp.RollbackConfig)
	head(0, "ContainerSpec")
	p(1, "Image", sp.Image)
	optional(p, 1, "Command", sp.Command)
	optional(p, 1, "Args", sp.Args)
	optional(p, 1, "Env", sp.Env)
	if sp.StopGracePeriod != 0 {
		p(1, "StopGracePeriod", sp.StopGracePeriod)
	}
	if h := sp.Healthcheck; h != nil {
		head(0, "Healthcheck")
		p(1, "Test", h.Test)
		p(1, "Interval", h.Interval)
		p(1, "Timeout", h.Timeout)
		p(1, "Start Period", h.StartPeriod)
		p(1, "Retries", h.Retries)
	}
	for _, m := range sp.Mounts {
		head(0, "Mounts")
		p(1, "Target", m.Target)
		p(2, "Source", m.Source)
		p(2, "ReadOnly", m.ReadOnly)
		p(2, "Type", m.Type)
	}
	if r := sp.Resources; r != (api.ResourceRequirements{}) {
		head(0, "Resources")
		for _, part := range []struct {
			name string
			r    api.Resources
		}{{"Reservations", r.Reservations}, {"Limits", r.Limits}} {
			if part.r == (api.Resources{}) {
				continue
			}
			head(1, part.name)
			if part.r.NanoCPUs != 0 {
				p(2, "CPU", strconv.FormatFloat(float64(part.r.NanoCPUs)/1e9, 'f', -1, 64))
			}
			if part.r.MemoryBytes != 0 {
				p(2, "Memory", bytesSize(part.r.MemoryBytes))
			}
		}
	}
	var nets []string
	for _, n := range sp.Networks {
		name := cmp.Or(netNames[n.Target], n.Target)
		if len(n.Aliases) > 0 {
			name += " (aliases: " + strings.Join(n.Aliases, ", ") + ")"
		}
		nets = append(nets, name)
	}
	if len(nets) > 0 {
		p(0, "Networks", strings.Join(nets, ", "))
	}
	p(0, "Endpoint Mode", sp.EndpointMode)
	if len(sp.Ports) > 0 {
		head(0, "Ports")
		for _, port := range sp.Ports {
			fmt.Fprintf(tw, " PublishedPort = %d\n  Protocol = %s\n  TargetPort = %d\n  PublishMode = %s\n",
				port.Published, port.Protocol, port.Target, port.Mode)
		}
	}
	return tw.Flush()
}

// optional prints a list only when it has items.
func optional(p func(int, string, any), indent int, key string, list []string) {
	if len(list) > 0 {
		p(indent, key, strings.Join(list, " "))
	}
}

// bytesSize writes a size as docker does: 512MiB, 1.5GiB.
func bytesSize(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	f, i := float64(n), 0
	for ; f >= 1024 && i < len(units)-1; i++ {
		f /= 1024
	}
	return strconv.FormatFloat(f, 'g', 4, 64) + units[i]
}
