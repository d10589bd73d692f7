package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newGroupCmd returns a parent command that only holds subcommands: run
// bare it prints its help, with an unknown subcommand it is a usage error.
func newGroupCmd(use, short, long string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				err := fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())
				return &usageError{err: err, cmd: cmd.CommandPath()}
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(subs...)
	return cmd
}

// usagef is a usage error of cmd: a bad argument or flag value.
func usagef(cmd *cobra.Command, format string, a ...any) error {
	return &usageError{err: fmt.Errorf(format, a...), cmd: cmd.CommandPath()}
}
