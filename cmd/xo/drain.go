package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

func newDrainCmd(opts *rootOptions) *cobra.Command {
	var req api.ContainerDrainRequest
	cmd := &cobra.Command{
		Use:   "drain [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Take hand-run service backends out of service before stopping them",
		Long: "Take containers run by hand with --label xo.service=NAME, on any host, out of\n" +
			"service while they keep running: DNS stops answering them (SERVICE, tasks.SERVICE,\n" +
			"their names) and every node's VIPs, routing mesh and HTTP proxy stop sending them\n" +
			"new connections and requests; those in flight go on. It returns once every node\n" +
			"that is not down acknowledged the change, and the DNS TTL (--dns-ttl of the agent,\n" +
			"1s) passed: a client that resolved the container's address just before holds it\n" +
			"that long. After --timeout it goes on without the nodes that did not acknowledge,\n" +
			"names them, and exits with status 1.\n\n" +
			"A drained container never serves again, even across agent restarts, until it\n" +
			"stops: a container started again serves as usual. --undo puts a drained container\n" +
			"back in service. Docker cannot change the labels of a running container, so this\n" +
			"command, not a label, is the way to drain one. Tasks of services xo manages are\n" +
			"drained by xo service update, scale and rm themselves.",
		Example: "  # a hitless redeploy of a hand-run backend\n" +
			"  xo drain web-old && docker stop web-old\n" +
			"  docker run -d --net appnet --label xo.service=web --name web-new myapp:2",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := opts.client()
			var errs []error
			for _, ref := range args {
				res, err := c.ContainerDrain(cmd.Context(), ref, req)
				switch {
				case errors.Is(err, api.ErrUnreachable):
					return err
				case err != nil:
					errs = append(errs, err)
				case len(res.Missing) > 0:
					errs = append(errs, errors.New(res.Summary()))
				default:
					fmt.Fprintln(cmd.OutOrStdout(), res.Summary())
				}
			}
			return errors.Join(errs...)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&req.Undo, "undo", false, "put drained containers back in service")
	f.DurationVar(&req.Timeout, "timeout", 0, "longest wait for every node's acknowledgement (default: the agent's --drain-timeout, 5s)")
	return cmd
}
