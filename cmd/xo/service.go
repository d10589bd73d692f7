package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newServiceCmd(opts *rootOptions) *cobra.Command {
	return newGroupCmd("service", "Manage services",
		"Create, list, inspect, scale and remove services, list their tasks and read\n"+
			"their logs. SERVICE is a name, an ID or a unique ID prefix.",
		newServiceCreateCmd(opts), newServiceLsCmd(opts), newServicePsCmd(opts), newServiceInspectCmd(opts),
		newServiceScaleCmd(opts), newServiceRmCmd(opts), newServiceLogsCmd(opts),
		newServiceUpdateCmd(opts), newServiceRollbackCmd(opts))
}

// completeServices offers service names for shell completion.
func completeServices(opts *rootOptions) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		svcs, err := opts.client().Services(cmd.Context())
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, s := range svcs {
			out = append(out, s.Name)
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// now is the clock of "Running 5 seconds ago"; tests set it.
var now = time.Now

// renderList prints what an ls verb lists: the IDs (quiet), a JSON array,
// the --format template once per item, or the verb's table.
func renderList[T any](w io.Writer, f *formatter, quiet bool, items []T, id func(T) string, table func(io.Writer, []T) error) error {
	switch {
	case quiet:
		for _, v := range items {
			fmt.Fprintln(w, id(v))
		}
		return nil
	case f.json():
		if items == nil {
			items = []T{}
		}
		return writeJSON(w, items)
	case !f.human():
		for _, v := range items {
			if err := f.execute(w, v); err != nil {
				return err
			}
		}
		return nil
	}
	return table(w, items)
}

// filters are docker-style --filter KEY=VALUE values: values of one key
// are alternatives, different keys must all match.
type filters map[string][]string

// parseFilters reads --filter values whose keys are among valid.
func parseFilters(values []string, valid ...string) (filters, error) {
	out := filters{}
	for _, v := range values {
		k, val, ok := strings.Cut(v, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		switch {
		case !ok || k == "":
			return nil, fmt.Errorf("invalid filter %q: want KEY=VALUE", v)
		case !slices.Contains(valid, k):
			return nil, fmt.Errorf("invalid filter key %q: want %s", k, strings.Join(valid, ", "))
		}
		out[k] = append(out[k], val)
	}
	return out, nil
}

// match says whether one of key's values matches (true when key is not
// filtered on).
func (f filters) match(key string, ok func(value string) bool) bool {
	vs, filtered := f[key]
	return !filtered || slices.ContainsFunc(vs, ok)
}

// humanDuration writes d as docker does in "Running 5 seconds ago".
func humanDuration(d time.Duration) string {
	s := int(d.Seconds())
	m := int(d.Minutes())
	h := int(d.Hours() + 0.5)
	switch {
	case s < 1:
		return "less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	case m == 1:
		return "about a minute"
	case m < 60:
		return fmt.Sprintf("%d minutes", m)
	case h == 1:
		return "about an hour"
	case h < 48:
		return fmt.Sprintf("%d hours", h)
	case h < 24*7*2:
		return fmt.Sprintf("%d days", h/24)
	case h < 24*30*2:
		return fmt.Sprintf("%d weeks", h/24/7)
	case h < 24*365*2:
		return fmt.Sprintf("%d months", h/24/30)
	}
	return fmt.Sprintf("%d years", int(d.Hours())/24/365)
}
