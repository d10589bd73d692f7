package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

func newNetworkCreateCmd(opts *rootOptions) *cobra.Command {
	var (
		req          api.NetworkCreateRequest
		aux, options []string
	)
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network on every host of the cluster",
		Long: "Create an xoverlay network on every engine of the cluster, as\n" +
			"docker network create --driver xoverlay does, and print its ID.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			req.Name = args[0]
			if req.AuxAddresses, err = parseKV("aux-address", aux, checkIP); err != nil {
				return usagef(cmd, "%w", err)
			}
			if req.Options, err = parseKV("opt", options, nil); err != nil {
				return usagef(cmd, "%w", err)
			}
			if req.Gateway != "" {
				if err := checkIP(req.Gateway); err != nil {
					return usagef(cmd, "invalid --gateway: %w", err)
				}
			}
			n, err := opts.client().NetworkCreate(cmd.Context(), req)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), n.ID)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&req.Subnet, "subnet", "", "IPv4 subnet in CIDR form, such as 10.1.0.0/24 (default: a free one)")
	fl.StringVar(&req.IPRange, "ip-range", "", "allocate container addresses from this part of the subnet")
	fl.StringVar(&req.Gateway, "gateway", "", "gateway address (default: the first usable one)")
	fl.StringArrayVar(&aux, "aux-address", nil, "address the IPAM must not hand out: NAME=IP (repeatable)")
	fl.StringArrayVarP(&options, "opt", "o", nil, "driver option: KEY=VALUE (repeatable)")
	return cmd
}
