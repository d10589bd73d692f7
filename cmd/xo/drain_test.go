package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/apiserver"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver/apitest"
)

// ackOps drains nothing: it says which of alpha and charlie
// acknowledged.
type ackOps struct {
	*apitest.Ops
	missing []string
}

func (o *ackOps) ContainerDrain(context.Context, string, bool, time.Duration) (apiserver.DrainOutcome, error) {
	return apiserver.DrainOutcome{Changed: 1, Nodes: []string{"alpha", "charlie"}, Missing: o.missing, Timeout: 5 * time.Second}, nil
}

func TestDrainCLI(t *testing.T) {
	s := apitest.Store(t)
	apitest.Services(t, s)
	ops := &ackOps{Ops: apitest.NewOps(s)}
	socket := apitest.ServeOps(t, s, apitest.Info, ops)

	stdout, stderr, code := xo(t, socket, "drain", "web-1")
	if code != 0 || stdout != "drained web-1 (10.10.0.18) from service legacy: 2 of 2 nodes acknowledged\n" || stderr != "" {
		t.Fatalf("xo drain web-1: code %d\n%s%s", code, stdout, stderr)
	}
	// Every container is tried; the failures come last, with their fix.
	ops.missing = []string{"charlie"}
	stdout, stderr, code = xo(t, socket, "drain", "nope", "web-1", "web-2")
	if code != 1 || stdout != "" ||
		!strings.Contains(stderr, `no container "nope" on an xoverlay network`) ||
		!strings.Contains(stderr, "drained web-1 (10.10.0.18) from service legacy: 1 of 2 nodes acknowledged; node charlie did not acknowledge within 5s") ||
		!strings.Contains(stderr, "run without --label xo.service=NAME") {
		t.Fatalf("xo drain nope web-1 web-2: code %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	if _, stderr, code := xo(t, socket, "drain"); code != 1 || !strings.Contains(stderr, "requires at least 1 arg") {
		t.Fatalf("xo drain without a container: code %d %s", code, stderr)
	}
}
