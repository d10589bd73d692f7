package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

func newClusterInitCmd(opts *rootOptions) *cobra.Command {
	var req api.ClusterInitRequest
	cmd := &cobra.Command{
		Use:   "init [OPTIONS]",
		Short: "Create a cluster with this host as its first manager",
		Long: "Create a cluster with this host as its first manager: the cluster CA,\n" +
			"this node's certificate and the worker and manager join tokens.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.AdvertiseAddr != "" {
				if err := checkAddr(req.AdvertiseAddr); err != nil {
					return usagef(cmd, "--advertise-addr: %w", err)
				}
			}
			ci, err := opts.client().ClusterInit(cmd.Context(), req)
			if err != nil {
				return err
			}
			printClusterInit(cmd.OutOrStdout(), ci)
			return nil
		},
	}
	cmd.Flags().StringVar(&req.AdvertiseAddr, "advertise-addr", "",
		"address other hosts reach this one on: HOST or IP, with an optional port\n(default: chosen by the agent)")
	return cmd
}

func printClusterInit(w io.Writer, ci api.ClusterInfo) {
	fmt.Fprintf(w, "Cluster initialized: this node (%s) is now a manager.\n\n", ci.NodeID)
	fmt.Fprintln(w, "To add a worker to this cluster, run the following command on it:")
	fmt.Fprintln(w)
	printJoinCommand(w, ci.WorkerToken, ci.RemoteAddr)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "To add a manager to this cluster, run 'xo cluster token manager' and follow the instructions.")
}
