package apiserver_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver/apitest"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// drainOps drains through the FSM and says alpha acknowledged, and
// charlie too unless slow.
type drainOps struct {
	*apitest.Ops
	s     *state.Store
	slow  bool
	calls []string
}

func (o *drainOps) ContainerDrain(_ context.Context, id string, undo bool, timeout time.Duration) (apiserver.DrainOutcome, error) {
	o.calls = append(o.calls, id)
	b, err := state.Encode(state.DrainContainer{ContainerID: id, Undo: undo})
	if err != nil {
		return apiserver.DrainOutcome{}, err
	}
	v, err := state.NewFSM(o.s).ApplyBytes(b)
	if err != nil {
		return apiserver.DrainOutcome{}, err
	}
	out := apiserver.DrainOutcome{Changed: v.(int), Nodes: []string{"alpha", "charlie"}, Timeout: max(timeout, 5*time.Second)}
	if o.slow {
		out.Missing = []string{"charlie"}
	}
	return out, nil
}

func drainClient(t *testing.T) (*api.Client, *drainOps) {
	t.Helper()
	s := apitest.Store(t)
	apitest.Services(t, s)
	ops := &drainOps{Ops: apitest.NewOps(s), s: s}
	return api.NewClient(apitest.ServeOps(t, s, apitest.Info, ops)), ops
}

func TestContainerDrain(t *testing.T) {
	c, ops := drainClient(t)
	ctx := context.Background()
	res, err := c.ContainerDrain(ctx, "web-1", api.ContainerDrainRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if res.ContainerID != "c0ep0003aaaa" || res.Node != "alpha" || res.Service != "legacy" ||
		!slices.Equal(res.Addresses, []string{"10.10.0.18"}) || !res.Changed || len(res.Missing) != 0 {
		t.Fatalf("result %+v", res)
	}
	if got := res.Summary(); got != "drained web-1 (10.10.0.18) from service legacy: 2 of 2 nodes acknowledged" {
		t.Fatalf("summary %q", got)
	}
	ops.s.View(func(tx state.ReadTx) {
		if ep := tx.Endpoint("ep0003aaaa"); !ep.Drained || tx.InService(ep) {
			t.Fatalf("endpoint %+v: want drained, out of service", ep)
		}
	})
	// Again, by ID prefix, with a node that does not acknowledge.
	ops.slow = true
	res, err = c.ContainerDrain(ctx, "c0ep0003", api.ContainerDrainRequest{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Summary(); got != "drained web-1 (10.10.0.18) from service legacy (it was drained already): "+
		"1 of 2 nodes acknowledged; node charlie did not acknowledge within 5s" {
		t.Fatalf("summary %q", got)
	}
	res, err = c.ContainerDrain(ctx, "web-1", api.ContainerDrainRequest{Undo: true})
	if err != nil || !res.Changed || !strings.HasPrefix(res.Summary(), "put back web-1 (10.10.0.18) in service legacy:") {
		t.Fatalf("undo: %+v %v", res, err)
	}
	if !slices.Equal(ops.calls, []string{"c0ep0003aaaa", "c0ep0003aaaa", "c0ep0003aaaa"}) {
		t.Fatalf("drains %v", ops.calls)
	}
}

func TestContainerDrainRefusals(t *testing.T) {
	c, ops := drainClient(t)
	ctx := context.Background()
	for _, tc := range []struct {
		ref  string
		want error
		text string
	}{
		{"nope", api.ErrNotFound, `no container "nope" on an xoverlay network`},
		{"web-2", api.ErrConflict, "container web-2 (on bravo) is no backend of any service: it was run without --label xo.service=NAME"},
		{"web-3", api.ErrConflict, "container web-3 (on bravo) is not running"},
		{"c0ep000", api.ErrInvalid, `container ID prefix "c0ep000" is ambiguous`},
	} {
		_, err := c.ContainerDrain(ctx, tc.ref, api.ContainerDrainRequest{})
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("xo drain %s: %v, want %v containing %q", tc.ref, err, tc.want, tc.text)
		}
	}
	if len(ops.calls) != 0 {
		t.Fatalf("refused drains reached the agent: %v", ops.calls)
	}
	// An agent that cannot drain says so.
	s := apitest.Store(t)
	plain := api.NewClient(apitest.ServeOps(t, s, apitest.Info, apitest.NewOps(s)))
	if _, err := plain.ContainerDrain(ctx, "web-1", api.ContainerDrainRequest{}); err == nil ||
		!strings.Contains(err.Error(), "cannot drain containers") {
		t.Fatalf("drain without a drainer: %v", err)
	}
}
