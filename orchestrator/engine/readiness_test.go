package engine

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

func started(id string, health *container.Health, ports ...string) container.InspectResponse {
	exposed := nat.PortSet{}
	for _, p := range ports {
		exposed[nat.Port(p)] = struct{}{}
	}
	return container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{ID: id, Name: "/" + id,
			State: &container.State{Running: true, Health: health}},
		Config: &container.Config{ExposedPorts: exposed, Labels: map[string]string{ServiceLabel: "web"}},
		NetworkSettings: &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{
			"appnet": {EndpointID: "ep-" + id, IPAddress: "10.0.0.5"}}},
	}
}

func TestReadinessHoldsUntilPortsAnswer(t *testing.T) {
	r := NewReadiness(slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.Every = time.Millisecond
	var tries atomic.Int32
	var dialed []string
	r.Dial = func(_ context.Context, addr string) error {
		if tries.Add(1) < 4 {
			return errors.New("connection refused")
		}
		dialed = append(dialed, addr)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); r.Wait() }()

	in := started("c1", nil, "8080/tcp", "8080/udp", "7/tcp")
	obs := Observed(in)
	r.Hold(ctx, in, obs)
	if h := obs["ep-c1"].Status.Health; h != state.HealthStarting {
		t.Fatalf("before its ports answer: health %q, want starting", h)
	}
	select {
	case id := <-r.Done():
		if id != "c1" {
			t.Fatalf("done for %s", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the probe never ended")
	}
	if want := []string{"10.0.0.5:7", "10.0.0.5:8080"}; len(dialed) != 2 || dialed[0] != want[0] || dialed[1] != want[1] {
		t.Fatalf("dialed %v, want the TCP ports %v", dialed, want)
	}
	obs = Observed(in)
	r.Hold(ctx, in, obs)
	if h := obs["ep-c1"].Status.Health; h != "" {
		t.Fatalf("after its ports answered: health %q, want none", h)
	}
	// Stopped, then started again: probed again.
	r.Forget("c1")
	obs = Observed(in)
	r.Hold(ctx, in, obs)
	if h := obs["ep-c1"].Status.Health; h != state.HealthStarting {
		t.Fatalf("started again: health %q, want starting", h)
	}
}

func TestReadinessLeavesOthersAlone(t *testing.T) {
	r := NewReadiness(slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.Dial = func(context.Context, string) error { t.Error("dialed"); return nil }
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); r.Wait() }()
	for name, in := range map[string]container.InspectResponse{
		"with a healthcheck": started("c2", &container.Health{Status: container.Starting}, "8080/tcp"),
		"no TCP port":        started("c3", nil, "53/udp"),
	} {
		obs := Observed(in)
		want := obs[in.NetworkSettings.Networks["appnet"].EndpointID].Status.Health
		r.Hold(ctx, in, obs)
		if got := obs[in.NetworkSettings.Networks["appnet"].EndpointID].Status.Health; got != want {
			t.Errorf("%s: health %q, want %q (unchanged)", name, got, want)
		}
	}
	plain := started("c4", nil, "8080/tcp")
	plain.Config.Labels = nil
	obs := Observed(plain)
	r.Hold(ctx, plain, obs)
	if h := obs["ep-c4"].Status.Health; h != "" {
		t.Errorf("a container of no service: health %q, want none", h)
	}
}

func TestReadinessGivesUp(t *testing.T) {
	r := NewReadiness(slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.Every, r.Timeout = time.Millisecond, 20*time.Millisecond
	r.Dial = func(context.Context, string) error { return errors.New("connection refused") }
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); r.Wait() }()
	in := started("c5", nil, "8080/tcp")
	r.Hold(ctx, in, Observed(in))
	select {
	case <-r.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the probe did not give up")
	}
	obs := Observed(in)
	r.Hold(ctx, in, obs)
	if h := obs["ep-c5"].Status.Health; h != "" {
		t.Fatalf("after the timeout: health %q, want none (in service, with a warning)", h)
	}
}
