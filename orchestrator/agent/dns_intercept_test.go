package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/network"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xoverlay/xoverlay/dnsd/intercept"
)

// inspectOf is a running container on the given networks (endpoint ID =
// "ep-" + network name).
func inspectOf(id string, nets ...string) container.InspectResponse {
	in := container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{ID: id, State: &container.State{Running: true, Pid: 42},
			HostConfig: &container.HostConfig{NetworkMode: "default"}},
		Config:          &container.Config{Labels: map[string]string{}},
		NetworkSettings: &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{}},
	}
	in.NetworkSettings.SandboxKey = "/var/run/docker/netns/" + id
	for _, n := range nets {
		in.NetworkSettings.Networks[n] = &network.EndpointSettings{EndpointID: "ep-" + n}
	}
	return in
}

// oursXO: endpoints of networks named xo* are this node's xoverlay ones.
func oursXO(ep string) bool { return len(ep) > 5 && ep[:5] == "ep-xo" }

func TestInterceptTarget(t *testing.T) {
	edit := func(in container.InspectResponse, f func(*container.InspectResponse)) container.InspectResponse {
		f(&in)
		return in
	}
	for _, tc := range []struct {
		name string
		in   container.InspectResponse
		path string
		want bool
	}{
		{"only xoverlay networks", inspectOf("c1", "xoa", "xob"), "/var/run/docker/netns/c1", true},
		{"no sandbox key: the pid's namespace", edit(inspectOf("c1", "xoa"), func(in *container.InspectResponse) {
			in.NetworkSettings.SandboxKey = ""
		}), "/proc/42/ns/net", true},
		{"also on a bridge network", inspectOf("c1", "xoa", "bridge"), "/var/run/docker/netns/c1", false},
		{"no networks", inspectOf("c1"), "/var/run/docker/netns/c1", false},
		{"not running", edit(inspectOf("c1", "xoa"), func(in *container.InspectResponse) {
			in.State = &container.State{}
		}), "", false},
		{"host network", edit(inspectOf("c1", "xoa"), func(in *container.InspectResponse) {
			in.HostConfig = &container.HostConfig{NetworkMode: "host"}
		}), "", false},
		{"another container's network", edit(inspectOf("c1"), func(in *container.InspectResponse) {
			in.HostConfig = &container.HostConfig{NetworkMode: "container:abc"}
		}), "", false},
		{"its own --dns", edit(inspectOf("c1", "xoa"), func(in *container.InspectResponse) {
			in.HostConfig = &container.HostConfig{DNS: []string{"192.0.2.53"}}
		}), "/var/run/docker/netns/c1", false},
		{"legacy links", edit(inspectOf("c1", "xoa"), func(in *container.InspectResponse) {
			in.NetworkSettings.Networks["xoa"].Links = []string{"db:database"}
		}), "/var/run/docker/netns/c1", false},
		{"opted out by label", edit(inspectOf("c1", "xoa"), func(in *container.InspectResponse) {
			in.Config.Labels[dnsInterceptLabel] = "false"
		}), "/var/run/docker/netns/c1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, want, why := interceptTarget(tc.in, oursXO)
			if path != tc.path || want != tc.want || want == (why != "") {
				t.Fatalf("interceptTarget = %q, %v, %q; want %q, %v (and a reason exactly when not)", path, want, why, tc.path, tc.want)
			}
		})
	}
}

// fakeEngine serves inspects and lists from a map, and events from a
// channel.
type fakeEngine struct {
	mu     sync.Mutex
	inList map[string]container.InspectResponse
	events chan events.Message
}

func (f *fakeEngine) set(in container.InspectResponse) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inList[in.ID] = in
}

func (f *fakeEngine) drop(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.inList, id)
}

func (f *fakeEngine) Events(ctx context.Context, _ events.ListOptions) (<-chan events.Message, <-chan error) {
	return f.events, make(chan error)
}

func (f *fakeEngine) ContainerList(context.Context, container.ListOptions) ([]container.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []container.Summary
	for id, in := range f.inList {
		s := container.Summary{ID: id, NetworkSettings: &container.NetworkSettingsSummary{Networks: in.NetworkSettings.Networks}}
		out = append(out, s)
	}
	return out, nil
}

func (f *fakeEngine) ContainerInspect(_ context.Context, id string) (container.InspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.inList[id]
	if !ok {
		return in, cerrdefs.ErrNotFound.WithMessage("no such container " + id)
	}
	return in, nil
}

// fakeKernel records calls and keeps the set of namespaces with the fast
// path; errs makes the next Install of a path fail.
type fakeKernel struct {
	mu    sync.Mutex
	calls []string
	on    map[string]bool
	errs  map[string]error
	moved chan string // every call, for tests that run the loop
}

func newFakeKernel() *fakeKernel {
	return &fakeKernel{on: map[string]bool{}, errs: map[string]error{}, moved: make(chan string, 100)}
}

func (k *fakeKernel) record(call string) {
	k.calls = append(k.calls, call)
	k.moved <- call
}

func (k *fakeKernel) Install(p string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.record("install " + p)
	if err := k.errs[p]; err != nil {
		delete(k.errs, p)
		return err
	}
	k.on[p] = true
	return nil
}

func (k *fakeKernel) Remove(p string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.record("remove " + p)
	delete(k.on, p)
	return nil
}

func (k *fakeKernel) Installed(p string) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.record("check " + p)
	return k.on[p], nil
}

func (k *fakeKernel) take() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	c := k.calls
	k.calls = nil
	for len(k.moved) > 0 {
		<-k.moved
	}
	return c
}

func newTestIntercept(t *testing.T) (*dnsIntercept, *fakeEngine, *fakeKernel, *prometheus.Registry) {
	t.Helper()
	eng := &fakeEngine{inList: map[string]container.InspectResponse{}, events: make(chan events.Message, 10)}
	k := newFakeKernel()
	reg := prometheus.NewRegistry()
	d := newDNSIntercept(eng, k, oursXO, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	return d, eng, k, reg
}

func wantCalls(t *testing.T, k *fakeKernel, want ...string) {
	t.Helper()
	if got := k.take(); !slices.Equal(got, want) {
		t.Fatalf("kernel calls %q, want %q", got, want)
	}
}

func TestDNSInterceptSync(t *testing.T) {
	d, eng, k, _ := newTestIntercept(t)
	ctx := context.Background()
	eng.set(inspectOf("a", "xoa"))
	eng.set(inspectOf("b", "xoa", "bridge")) // a table left by a killed agent goes
	eng.set(inspectOf("c", "bridge"))        // nothing of ours: not even looked at
	d.sync(ctx)
	got := k.take()
	slices.Sort(got)
	if want := []string{"install /var/run/docker/netns/a", "remove /var/run/docker/netns/b"}; !slices.Equal(got, want) {
		t.Fatalf("first sync: %q, want %q", got, want)
	}
	if v := testutil.ToFloat64(d.active); v != 1 {
		t.Fatalf("xo_dns_intercept_containers = %v, want 1", v)
	}

	// In place: checked, not rewritten. Gone from the kernel: put back.
	eng.drop("b")
	eng.drop("c")
	d.sync(ctx)
	wantCalls(t, k, "check /var/run/docker/netns/a")
	delete(k.on, "/var/run/docker/netns/a")
	d.sync(ctx)
	wantCalls(t, k, "check /var/run/docker/netns/a", "install /var/run/docker/netns/a")

	// A container that stopped is forgotten without a kernel call.
	eng.drop("a")
	d.sync(ctx)
	wantCalls(t, k)
	if v := testutil.ToFloat64(d.active); v != 0 {
		t.Fatalf("xo_dns_intercept_containers = %v after the container went, want 0", v)
	}
}

func TestDNSInterceptErrors(t *testing.T) {
	d, eng, k, _ := newTestIntercept(t)
	ctx := context.Background()
	eng.set(inspectOf("a", "xoa"))
	eng.set(inspectOf("b", "xob"))
	k.errs["/var/run/docker/netns/a"] = fmt.Errorf("intercept: %w 169.254.53.53", intercept.ErrNoRoute)
	k.errs["/var/run/docker/netns/b"] = errors.New("nftables: operation not permitted")
	d.apply(ctx, "a", false)
	d.apply(ctx, "b", false)
	if v := testutil.ToFloat64(d.errs.WithLabelValues("install")); v != 1 {
		t.Fatalf("install errors %v, want 1 (no route is not an error)", v)
	}
	if v := testutil.ToFloat64(d.active); v != 0 {
		t.Fatalf("xo_dns_intercept_containers = %v after failures", v)
	}
	k.take()
	d.apply(ctx, "b", false) // retried
	wantCalls(t, k, "install /var/run/docker/netns/b")
	if v := testutil.ToFloat64(d.active); v != 1 {
		t.Fatalf("xo_dns_intercept_containers = %v after the retry", v)
	}
}

// TestDNSInterceptEvents runs the loop: start puts the fast path in, a
// connect to a bridge network takes it out, and stopping the loop takes
// out what is left.
func TestDNSInterceptEvents(t *testing.T) {
	d, eng, k, reg := newTestIntercept(t)
	eng.set(inspectOf("a", "xoa"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx)
	}()
	next := func(want string) {
		t.Helper()
		select {
		case got := <-k.moved:
			if got != want {
				t.Fatalf("kernel call %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no kernel call; want %q", want)
		}
	}
	next("install /var/run/docker/netns/a") // the sync at start
	// Already in this namespace: the start event writes nothing (the
	// next call is the remove below).
	eng.events <- events.Message{Type: events.ContainerEventType, Action: events.ActionStart, Actor: events.Actor{ID: "a"}}
	eng.set(inspectOf("a", "xoa", "bridge"))
	eng.events <- events.Message{Type: events.NetworkEventType, Action: events.ActionConnect,
		Actor: events.Actor{ID: "net-bridge", Attributes: map[string]string{"container": "a"}}}
	next("remove /var/run/docker/netns/a")
	eng.set(inspectOf("a", "xoa"))
	eng.events <- events.Message{Type: events.NetworkEventType, Action: events.ActionDisconnect,
		Actor: events.Actor{ID: "net-bridge", Attributes: map[string]string{"container": "a"}}}
	next("install /var/run/docker/netns/a")
	eng.set(inspectOf("b", "xob"))
	eng.events <- events.Message{Type: events.ContainerEventType, Action: events.ActionStart, Actor: events.Actor{ID: "b"},
		TimeNano: time.Now().UnixNano()}
	next("install /var/run/docker/netns/b")
	// A restart: a new namespace gets the fast path.
	eng.events <- events.Message{Type: events.ContainerEventType, Action: events.ActionDie, Actor: events.Actor{ID: "b"}}
	b2 := inspectOf("b", "xob")
	b2.NetworkSettings.SandboxKey = "/var/run/docker/netns/b2"
	eng.set(b2)
	eng.events <- events.Message{Type: events.ContainerEventType, Action: events.ActionStart, Actor: events.Actor{ID: "b"},
		TimeNano: time.Now().UnixNano()}
	next("install /var/run/docker/netns/b2")
	k.take()
	eng.events <- events.Message{Type: events.ContainerEventType, Action: events.ActionDie, Actor: events.Actor{ID: "b"}}
	cancel()
	<-done
	// a is taken out at stop; so is b unless its die event came first.
	got := k.take()
	slices.Sort(got)
	if !slices.Equal(got, []string{"remove /var/run/docker/netns/a"}) &&
		!slices.Equal(got, []string{"remove /var/run/docker/netns/a", "remove /var/run/docker/netns/b2"}) {
		t.Fatalf("kernel calls at stop: %q", got)
	}
	// Both timed starts of b were counted.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "xo_dns_intercept_delay_seconds" {
			if n := mf.GetMetric()[0].GetHistogram().GetSampleCount(); n != 2 {
				t.Fatalf("xo_dns_intercept_delay_seconds counted %d starts, want 2", n)
			}
			return
		}
	}
	t.Fatal("no xo_dns_intercept_delay_seconds")
}
