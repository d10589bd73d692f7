package engine

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/errdefs"

	"github.com/xoverlay/xoverlay/orchestrator/state"
	"github.com/xoverlay/xoverlay/orchestrator/state/statetest"
)

// fakeContainers is an engine with a fixed set of containers.
type fakeContainers struct {
	byID map[string]container.InspectResponse
}

func (f *fakeContainers) Events(context.Context, events.ListOptions) (<-chan events.Message, <-chan error) {
	return nil, nil
}

func (f *fakeContainers) ContainerList(context.Context, container.ListOptions) ([]container.Summary, error) {
	var out []container.Summary
	for id, in := range f.byID {
		if in.State.Running {
			out = append(out, container.Summary{ID: id, NetworkSettings: &container.NetworkSettingsSummary{Networks: in.NetworkSettings.Networks}})
		}
	}
	return out, nil
}

func (f *fakeContainers) ContainerInspect(_ context.Context, id string) (container.InspectResponse, error) {
	in, ok := f.byID[id]
	if !ok {
		return container.InspectResponse{}, errdefs.NotFound(io.EOF)
	}
	return in, nil
}

const cid = "0123456789abcdef0123"

func inspect(id, name string, running bool, health container.HealthStatus, eps map[string]string, labels map[string]string) container.InspectResponse {
	st := &container.State{Running: running}
	if health != "" {
		st.Health = &container.Health{Status: health}
	}
	nets := map[string]*network.EndpointSettings{}
	for netName, ep := range eps {
		nets[netName] = &network.EndpointSettings{EndpointID: ep, Aliases: []string{id[:12], name, "db", "api", "db"}}
	}
	return container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{ID: id, Name: "/" + name, State: st},
		Config:            &container.Config{Labels: labels},
		NetworkSettings:   &container.NetworkSettings{Networks: nets},
	}
}

func TestObserved(t *testing.T) {
	in := inspect(cid, "web", true, container.Healthy, map[string]string{"a": "ep1", "b": "ep2"}, map[string]string{ServiceLabel: "web"})
	got := Observed(in)
	want := state.EndpointUpdate{ID: "ep1", ContainerID: cid, Container: "web",
		Status: state.EndpointStatus{Aliases: []string{"api", "db"}, Running: true, Health: "healthy", Service: "web"}}
	if len(got) != 2 || !reflect.DeepEqual(got["ep1"], want) {
		t.Fatalf("Observed:\n got %#v\nwant ep1 %#v", got, want)
	}
	in.State.Paused = true
	if Observed(in)["ep1"].Status.Running {
		t.Fatal("a paused container is not running")
	}
	in = inspect(cid, "web", false, container.Unhealthy, map[string]string{"a": "ep1"}, nil)
	if s := Observed(in)["ep1"].Status; s.Running || s.Health != "" {
		t.Fatalf("stopped container: %+v", s)
	}
}

func TestEventContainer(t *testing.T) {
	cases := []struct {
		m    events.Message
		want string
	}{
		{events.Message{Type: events.ContainerEventType, Action: events.ActionStart, Actor: events.Actor{ID: "c"}}, "c"},
		{events.Message{Type: events.ContainerEventType, Action: "health_status: unhealthy", Actor: events.Actor{ID: "c"}}, "c"},
		{events.Message{Type: events.ContainerEventType, Action: events.ActionExecStart, Actor: events.Actor{ID: "c"}}, ""},
		{events.Message{Type: events.NetworkEventType, Action: events.ActionConnect, Actor: events.Actor{ID: "n", Attributes: map[string]string{"container": "c"}}}, "c"},
		{events.Message{Type: events.NetworkEventType, Action: events.ActionCreate, Actor: events.Actor{ID: "n"}}, ""},
	}
	for _, c := range cases {
		if got := eventContainer(c.m); got != c.want {
			t.Errorf("%s %s: got %q, want %q", c.m.Type, c.m.Action, got, c.want)
		}
	}
}

func TestContainersRefreshAndSync(t *testing.T) {
	cl := statetest.New()
	now := time.Now()
	for _, c := range []state.Command{
		state.CreateNetwork{ID: "net", Subnet: "10.1.0.0/24", CreatedAt: now},
		state.AttachEngine{NetworkID: "net", Node: "me", EngineID: "eng"},
		state.AttachEngine{NetworkID: "net", Node: "other", EngineID: "eng2"},
		state.CreateEndpoint{Endpoint: state.Endpoint{ID: "ep1", NetworkID: "net", Node: "me", IP: "10.1.0.2", CreatedAt: now}},
		state.CreateEndpoint{Endpoint: state.Endpoint{ID: "ghost", NetworkID: "net", Node: "me", IP: "10.1.0.3", CreatedAt: now,
			ContainerID: "dead", EndpointStatus: state.EndpointStatus{Running: true}}},
		state.CreateEndpoint{Endpoint: state.Endpoint{ID: "remote", NetworkID: "net", Node: "other", IP: "10.1.0.4", CreatedAt: now,
			EndpointStatus: state.EndpointStatus{Running: true}}},
	} {
		if _, err := cl.Propose(context.Background(), c); err != nil {
			t.Fatalf("%T: %v", c, err)
		}
	}
	fake := &fakeContainers{byID: map[string]container.InspectResponse{
		cid: inspect(cid, "web", true, "", map[string]string{"appnet": "ep1"}, nil),
	}}
	w := NewContainers(fake, cl, "me", time.Minute, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	cl.TakeWrites()

	// An event for one container touches only it.
	if err := w.refresh(ctx, map[string]bool{cid: true}); err != nil {
		t.Fatal(err)
	}
	status := func(id string) (st state.EndpointStatus) {
		cl.View(func(tx state.ReadTx) { st = tx.Endpoint(id).EndpointStatus })
		return st
	}
	if !status("ep1").Running || !status("ghost").Running {
		t.Fatalf("after refresh: ep1 %+v ghost %+v", status("ep1"), status("ghost"))
	}
	// A periodic sync stops the ghost and leaves other nodes alone.
	if err := w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if status("ghost").Running || !status("remote").Running || !status("ep1").Running {
		t.Fatalf("after sync: ghost %+v remote %+v ep1 %+v", status("ghost"), status("remote"), status("ep1"))
	}
	// Nothing changed: no write.
	cl.TakeWrites()
	if err := w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if ws := cl.TakeWrites(); len(ws) != 0 {
		t.Fatalf("idle sync wrote %v", ws)
	}
	// The container is removed: its event stops the endpoint.
	delete(fake.byID, cid)
	if err := w.refresh(ctx, map[string]bool{cid: true}); err != nil {
		t.Fatal(err)
	}
	if status("ep1").Running {
		t.Fatal("removed container still running")
	}
}
