package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

func newInfoCmd(opts *rootOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Describe the agent and the cluster it sees",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := newFormatter(format)
			if err != nil {
				return err
			}
			info, err := opts.client().Info(cmd.Context())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch {
			case f.json():
				return writeJSON(w, info)
			case !f.human():
				return f.execute(w, info)
			}
			printInfo(w, info)
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", formatHelp)
	return cmd
}

// printInfo writes a "Key: value" list like docker info; optional fields
// that are unset are left out.
func printInfo(w io.Writer, i api.Info) {
	rows := []struct {
		key, value string
		optional   bool
	}{
		{"Version", i.Version, false},
		{"Cluster ID", i.ClusterID, true},
		{"Node ID", i.NodeID, false},
		{"Hostname", i.Hostname, false},
		{"Role", i.Role, false},
		{"Leader", strconv.FormatBool(i.Leader), false},
		{"Leader Address", i.LeaderAddr, true},
		{"Raft Address", i.RaftAddr, true},
		{"Data Plane", i.DataPlane, false},
		{"DNS Address", i.DNSAddress, true},
		{"Nodes", strconv.Itoa(i.Nodes), false},
		{"Networks", strconv.Itoa(i.Networks), false},
		{"Endpoints", strconv.Itoa(i.Endpoints), false},
		{"Services", strconv.Itoa(i.Services), false},
		{"Tasks", fmt.Sprintf("%d (running %d)", i.Tasks, i.TasksRunning), false},
		{"State Dir", i.StateDir, false},
		{"Plugin Socket", i.PluginSocket, false},
		{"API Socket", i.APISocket, false},
		{"Metrics Address", i.MetricsAddr, true},
	}
	for _, r := range rows {
		if r.optional && r.value == "" {
			continue
		}
		fmt.Fprintf(w, "%s: %s\n", r.key, r.value)
	}
}
