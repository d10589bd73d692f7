package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

// versionOutput is what `xo version` renders; Server is nil when the
// agent cannot be reached.
type versionOutput struct {
	Client api.VersionInfo  `json:"client"`
	Server *api.VersionInfo `json:"server"`
}

func newVersionCmd(opts *rootOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Show the version of the xo CLI and of the agent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := newFormatter(format)
			if err != nil {
				return err
			}
			out := versionOutput{Client: api.BuildInfo()}
			server, srvErr := opts.client().Version(cmd.Context())
			if srvErr == nil {
				out.Server = &server
			}
			err = renderVersion(cmd.OutOrStdout(), f, out)
			if srvErr != nil {
				// Like docker version: show what we know, then fail.
				return srvErr
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", formatHelp)
	return cmd
}

func renderVersion(w io.Writer, f *formatter, out versionOutput) error {
	switch {
	case f.json():
		return writeJSON(w, out)
	case !f.human():
		return f.execute(w, out)
	}
	printVersion(w, "Client", out.Client)
	if out.Server != nil {
		fmt.Fprintln(w)
		printVersion(w, "Server", *out.Server)
	}
	return nil
}

func printVersion(w io.Writer, title string, v api.VersionInfo) {
	commit := v.GitCommit
	if commit == "" {
		commit = "unknown"
	}
	fmt.Fprintf(w, "%s:\n", title)
	fmt.Fprintf(w, " %-13s%s\n", "Version:", v.Version)
	fmt.Fprintf(w, " %-13s%s\n", "API version:", v.APIVersion)
	fmt.Fprintf(w, " %-13s%s\n", "Go version:", v.GoVersion)
	fmt.Fprintf(w, " %-13s%s\n", "Git commit:", commit)
	fmt.Fprintf(w, " %-13s%s/%s\n", "OS/Arch:", v.OS, v.Arch)
}
