package api

import (
	"fmt"
	"strings"
	"time"
)

// ContainerDrainRequest is the body of POST /v1/containers/{ref}/drain
// (xo drain): take a hand-run container, a backend of a service through
// its label xo.service, out of service, or back in with Undo.
type ContainerDrainRequest struct {
	Undo bool `json:"undo,omitempty"`
	// Timeout bounds the wait for the nodes' acknowledgements; 0: the
	// agent's --drain-timeout.
	Timeout time.Duration `json:"timeout,omitempty"`
}

// ContainerDrainResult is what a drain did, and which nodes
// acknowledged it.
type ContainerDrainResult struct {
	Container   string   `json:"container"`    // its name
	ContainerID string   `json:"container_id"` // full ID
	Node        string   `json:"node"`         // the hostname of its host
	Service     string   `json:"service"`      // the service it is a backend of
	Addresses   []string `json:"addresses"`    // on xoverlay networks
	Undo        bool     `json:"undo,omitempty"`
	// Changed is false when it was drained (or, with Undo, in service)
	// already; the nodes are asked all the same.
	Changed bool `json:"changed"`
	// Nodes are the hostnames of the nodes asked: every node that is not
	// down. Missing are those that did not acknowledge within Timeout.
	Nodes   []string      `json:"nodes"`
	Missing []string      `json:"missing,omitempty"`
	Timeout time.Duration `json:"timeout"`
}

// Summary is the drain in one line: "drained web-old (10.0.0.5) from
// service web: 3 of 3 nodes acknowledged".
func (r ContainerDrainResult) Summary() string {
	verb, prep := "drained", "from"
	if r.Undo {
		verb, prep = "put back", "in"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", verb, r.Container)
	if len(r.Addresses) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(r.Addresses, ", "))
	}
	fmt.Fprintf(&b, " %s service %s", prep, r.Service)
	if !r.Changed {
		if r.Undo {
			b.WriteString(" (it was in service)")
		} else {
			b.WriteString(" (it was drained already)")
		}
	}
	fmt.Fprintf(&b, ": %d of %d nodes acknowledged", len(r.Nodes)-len(r.Missing), len(r.Nodes))
	if n := len(r.Missing); n > 0 {
		noun := "node"
		if n > 1 {
			noun = "nodes"
		}
		fmt.Fprintf(&b, "; %s %s did not acknowledge within %s", noun, strings.Join(r.Missing, ", "), r.Timeout)
	}
	return b.String()
}
