package engine

import (
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

func TestPlan(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	store := state.NewStore()
	fsm := state.NewFSM(store)
	for _, c := range []state.Command{
		state.CreateNetwork{ID: "net", Subnet: "10.1.0.0/24", CreatedAt: now.Add(-time.Hour)},
		state.AttachEngine{NetworkID: "net", Node: "me", EngineID: "eng"},
		state.AttachEngine{NetworkID: "net", Node: "other", EngineID: "eng-other"},
		state.CreateEndpoint{Endpoint: state.Endpoint{ID: "named", NetworkID: "net", Node: "me", IP: "10.1.0.2", ContainerID: "c1", Container: "web", CreatedAt: now.Add(-time.Hour)}},
		state.CreateEndpoint{Endpoint: state.Endpoint{ID: "unnamed", NetworkID: "net", Node: "me", IP: "10.1.0.3", CreatedAt: now.Add(-time.Hour)}},
		state.CreateEndpoint{Endpoint: state.Endpoint{ID: "stale", NetworkID: "net", Node: "me", IP: "10.1.0.4", CreatedAt: now.Add(-time.Hour)}},
		state.CreateEndpoint{Endpoint: state.Endpoint{ID: "young", NetworkID: "net", Node: "me", IP: "10.1.0.5", CreatedAt: now.Add(-time.Second)}},
		state.CreateEndpoint{Endpoint: state.Endpoint{ID: "remote", NetworkID: "net", Node: "other", IP: "10.1.0.6", CreatedAt: now.Add(-time.Hour)}},
	} {
		b, _ := state.Encode(c)
		if _, err := fsm.ApplyBytes(b); err != nil {
			t.Fatalf("%T: %v", c, err)
		}
	}
	w := New(nil, nil, "me", "xoverlay", slog.New(slog.NewTextHandler(io.Discard, nil)))
	w.now = func() time.Time { return now }
	in := network.Inspect{ID: "eng", Name: "appnet", Containers: map[string]network.EndpointResource{
		"c1": {Name: "web", EndpointID: "named"},
		"c2": {Name: "api", EndpointID: "unnamed"},
	}}
	var got []state.Command
	store.View(func(tx state.ReadTx) { got = w.plan(tx, in) })
	want := []state.Command{
		state.RenameNetwork{NetworkID: "net", Name: "appnet"},
		state.DeleteEndpoint{ID: "stale"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("plan:\n got %#v\nwant %#v", got, want)
	}
	store.View(func(tx state.ReadTx) {
		if cmds := w.plan(tx, network.Inspect{ID: "unknown"}); cmds != nil {
			t.Fatalf("plan for a network not in state: %v", cmds)
		}
	})
}
