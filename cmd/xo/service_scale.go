package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

// scaleAttempts bounds the read-update rounds of one scale when other
// writers keep changing the service.
const scaleAttempts = 5

func newServiceScaleCmd(opts *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scale SERVICE=REPLICAS [SERVICE=REPLICAS...]",
		Short: "Scale one or more replicated services",
		Long: "Set the number of tasks of one or more replicated services. Each is read,\n" +
			"changed and written back at the version read; a change made meanwhile by\n" +
			"someone else makes it read again and retry. Unless --detach, it then follows\n" +
			"each service until its tasks converge.",
		Example:           "  xo service scale web=6 api=2",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeServices(opts),
		RunE: func(cmd *cobra.Command, args []string) error {
			refs := make([]string, 0, len(args))
			counts := map[string]uint64{}
			for _, a := range args {
				ref, n, ok := strings.Cut(a, "=")
				if !ok || ref == "" {
					return usagef(cmd, "invalid scale specifier %q: want SERVICE=REPLICAS", a)
				}
				replicas, err := strconv.ParseUint(n, 10, 64)
				if err != nil {
					return usagef(cmd, "invalid replicas value %q for %s: want a number from 0", n, ref)
				}
				refs, counts[ref] = append(refs, ref), replicas
			}
			c := opts.client()
			return forEach(refs, "service", func(ref string) error {
				err := scale(cmd.Context(), c, ref, counts[ref])
				switch {
				case errors.Is(err, api.ErrUnreachable), errors.Is(err, api.ErrNotFound):
					return err // said by forEach
				case err != nil:
					return fmt.Errorf("%s: %w", ref, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s scaled to %d\n", ref, counts[ref])
				return follow(cmd, c, ref)
			})
		},
	}
	cmd.Flags().BoolP("detach", "d", false, "exit at once instead of waiting for the services to converge")
	return cmd
}

// scale sets a service's replicas at the version it read, reading again
// when the service changed in between (409).
func scale(ctx context.Context, c *api.Client, ref string, replicas uint64) error {
	var err error
	for range scaleAttempts {
		var svc api.Service
		if svc, err = c.Service(ctx, ref); err != nil {
			return err
		}
		switch svc.Mode {
		case api.ModeGlobal:
			return errors.New("scale can only be used with replicated mode")
		case api.ModeExternal:
			return fmt.Errorf("service %s is external: its tasks are containers run by hand with --label xo.service=%s", svc.Name, svc.Name)
		}
		spec := svc.Spec
		spec.Replicas = replicas
		_, err = c.ServiceUpdate(ctx, svc.ID, api.ServiceUpdateRequest{Version: svc.Version, Spec: spec})
		if !errors.Is(err, api.ErrConflict) {
			return err
		}
	}
	return err
}
