package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

func newClusterCmd(opts *rootOptions) *cobra.Command {
	return newGroupCmd("cluster", "Create and join an xoverlay cluster",
		"Create a cluster on the first host (init), add hosts to it (join), and\n"+
			"show or rotate the tokens that let hosts join (token).",
		newClusterInitCmd(opts), newClusterJoinCmd(opts), newClusterTokenCmd(opts))
}

// printJoinCommand writes the command that joins a host to the cluster.
func printJoinCommand(w io.Writer, token, addr string) {
	fmt.Fprintf(w, "    xo cluster join --token %s %s\n", token, addr)
}
