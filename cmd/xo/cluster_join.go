package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

func newClusterJoinCmd(opts *rootOptions) *cobra.Command {
	var req api.ClusterJoinRequest
	cmd := &cobra.Command{
		Use:   "join [OPTIONS] HOST[:PORT]",
		Short: "Join this host to a cluster",
		Long: "Join this host to the cluster a manager at HOST[:PORT] belongs to, as\n" +
			"a worker or a manager depending on the token. PORT defaults to " +
			strconv.Itoa(api.DefaultClusterPort) + ".",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if req.Token == "" {
				return usagef(cmd, "--token is required: print it with 'xo cluster token worker' on a manager")
			}
			addr, err := joinAddr(args[0])
			if err != nil {
				return usagef(cmd, "%w", err)
			}
			if req.AdvertiseAddr != "" {
				if err := checkAddr(req.AdvertiseAddr); err != nil {
					return usagef(cmd, "--advertise-addr: %w", err)
				}
			}
			req.RemoteAddr = addr
			ci, err := opts.client().ClusterJoin(cmd.Context(), req)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "This node joined the cluster as a %s.\n", ci.Role)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&req.Token, "token", "", "join token, from 'xo cluster token worker|manager' on a manager")
	fl.StringVar(&req.AdvertiseAddr, "advertise-addr", "",
		"address other hosts reach this one on: HOST or IP, with an optional port\n(default: chosen by the agent)")
	return cmd
}
