package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

// rootOptions are the persistent flags every verb sees.
type rootOptions struct {
	socket   string
	logLevel string
}

// client returns an API client for the agent on --api-socket.
func (o *rootOptions) client() *api.Client { return api.NewClient(o.socket) }

func newRootCmd() *cobra.Command {
	// Run the root's PersistentPreRunE (logging) before any subcommand's.
	cobra.EnableTraverseRunHooks = true
	opts := &rootOptions{}
	cmd := &cobra.Command{
		Use:   "xo",
		Short: "xoverlay: an overlay network for Docker across hosts",
		Long: "xo runs the xoverlay agent and manages the cluster it keeps.\n" +
			"Commands other than \"agent\" talk to a running agent over --api-socket.",
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: true},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return setupLogging(cmd.ErrOrStderr(), opts.logLevel)
		},
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{err: err, cmd: c.CommandPath()}
	})
	f := cmd.PersistentFlags()
	f.StringVar(&opts.socket, "api-socket", defaultSocket(),
		"unix socket of the xo agent API (env "+api.EnvSocket+")")
	f.StringVar(&opts.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	cmd.AddCommand(
		newAgentCmd(),
		newVersionCmd(opts),
		newInfoCmd(opts),
		newClusterCmd(opts),
		newNodeCmd(opts),
		newNetworkCmd(opts),
		newServiceCmd(opts),
		newDrainCmd(opts),
		newTemplateCmd(opts),
		newPauseCmd(),
	)
	return cmd
}

func defaultSocket() string {
	if s := os.Getenv(api.EnvSocket); s != "" {
		return s
	}
	return api.DefaultSocket
}

// setupLogging installs the default slog logger at the asked level.
func setupLogging(w io.Writer, level string) error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return fmt.Errorf("invalid --log-level %q: use debug, info, warn or error", level)
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})))
	return nil
}

// usageError is a command-line mistake; it points at the command's help.
type usageError struct {
	err error
	cmd string
}

func (e *usageError) Error() string { return e.err.Error() + "\nSee '" + e.cmd + " --help'." }
func (e *usageError) Unwrap() error { return e.err }
