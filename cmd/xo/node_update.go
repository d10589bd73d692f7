package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

func newNodeUpdateCmd(opts *rootOptions) *cobra.Command {
	var (
		labelAdd, labelRm []string
		availability      string
	)
	cmd := &cobra.Command{
		Use:               "update [OPTIONS] NODE",
		Short:             "Change a node's labels or availability",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNodes(opts),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := nodeUpdateRequest(labelAdd, labelRm, availability)
			if err != nil {
				return usagef(cmd, "%w", err)
			}
			if err := forEach(args, "node", func(ref string) error {
				return opts.client().NodeUpdate(cmd.Context(), ref, req)
			}); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), args[0])
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&labelAdd, "label-add", nil, "add or change a label: KEY=VALUE (repeatable)")
	fl.StringArrayVar(&labelRm, "label-rm", nil, "remove a label: KEY (repeatable)")
	fl.StringVar(&availability, "availability", "", "active, or drain to keep new work off the node")
	return cmd
}

// nodeUpdateRequest checks the flags of xo node update.
func nodeUpdateRequest(labelAdd, labelRm []string, availability string) (api.NodeUpdateRequest, error) {
	var req api.NodeUpdateRequest
	switch availability {
	case "", api.AvailabilityActive, api.AvailabilityDrain:
		req.Availability = availability
	default:
		return req, fmt.Errorf("invalid --availability %q: use %s or %s",
			availability, api.AvailabilityActive, api.AvailabilityDrain)
	}
	add, err := parseKV("label-add", labelAdd, nil)
	if err != nil {
		return req, err
	}
	req.LabelsAdd = add
	for _, k := range labelRm {
		if strings.TrimSpace(k) == "" || strings.Contains(k, "=") {
			return req, fmt.Errorf("invalid --label-rm %q: want a label KEY", k)
		}
		req.LabelsRm = append(req.LabelsRm, k)
	}
	if req.Availability == "" && len(req.LabelsAdd) == 0 && len(req.LabelsRm) == 0 {
		return req, fmt.Errorf("nothing to update: give --label-add, --label-rm or --availability")
	}
	return req, nil
}
