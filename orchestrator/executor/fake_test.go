package executor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fakeEngine is a Docker engine in memory: containers, local images, and
// errors queued per operation. It records every call.
type fakeEngine struct {
	mu         sync.Mutex
	containers map[string]*fakeContainer
	images     map[string]bool
	errs       map[string][]error // op -> the errors its next calls return
	calls      []string           // "op arg", in order
	seq        int
	events     chan events.Message
	eventErrs  chan error
}

type fakeContainer struct {
	id, name string
	cfg      *container.Config
	host     *container.HostConfig
	nets     map[string]*network.EndpointSettings
	state    container.State
	stopped  *int // the timeout of the last stop
}

func newFakeEngine(images ...string) *fakeEngine {
	f := &fakeEngine{containers: map[string]*fakeContainer{}, images: map[string]bool{}, errs: map[string][]error{},
		events: make(chan events.Message, 16), eventErrs: make(chan error, 1)}
	for _, i := range images {
		f.images[i] = true
	}
	return f
}

// fail queues errors for the next calls of op.
func (f *fakeEngine) fail(op string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[op] = append(f.errs[op], errs...)
}

// enter records a call and returns the error queued for it.
func (f *fakeEngine) enter(op, arg string) error {
	f.calls = append(f.calls, op+" "+arg)
	if q := f.errs[op]; len(q) > 0 {
		f.errs[op] = q[1:]
		return q[0]
	}
	return nil
}

// count returns how many calls of op were made.
func (f *fakeEngine) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, op+" ") {
			n++
		}
	}
	return n
}

func (f *fakeEngine) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeEngine) get(id string) (*fakeContainer, error) {
	for _, c := range f.containers {
		if c.id == id || c.name == id {
			return c, nil
		}
	}
	return nil, errdefs.NotFound(fmt.Errorf("No such container: %s", id))
}

func (f *fakeEngine) ContainerCreate(_ context.Context, cfg *container.Config, host *container.HostConfig,
	nets *network.NetworkingConfig, _ *ocispec.Platform, name string) (container.CreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("create", name); err != nil {
		return container.CreateResponse{}, err
	}
	if _, err := f.get(name); err == nil {
		return container.CreateResponse{}, errdefs.Conflict(fmt.Errorf("the container name %q is already in use", "/"+name))
	}
	if !f.images[cfg.Image] {
		return container.CreateResponse{}, errdefs.NotFound(fmt.Errorf("No such image: %s", cfg.Image))
	}
	f.seq++
	c := &fakeContainer{id: fmt.Sprintf("%012d%052d", f.seq, 0), name: name, cfg: cfg, host: host,
		nets: map[string]*network.EndpointSettings{}, state: container.State{Status: container.StateCreated}}
	if nets != nil {
		for n, es := range nets.EndpointsConfig {
			c.nets[n] = es
		}
	}
	f.containers[c.id] = c
	return container.CreateResponse{ID: c.id}, nil
}

// on records a call of op on container id and, unless an error is
// queued for it or the container does not exist, applies fn to it.
func (f *fakeEngine) on(op, id string, fn func(*fakeContainer) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(op, id); err != nil {
		return err
	}
	c, err := f.get(id)
	if err != nil {
		return err
	}
	return fn(c)
}

func (f *fakeEngine) ContainerStart(_ context.Context, id string, _ container.StartOptions) error {
	return f.on("start", id, func(c *fakeContainer) error {
		c.state = container.State{Status: container.StateRunning, Running: true, Pid: 42}
		if c.cfg.Healthcheck != nil {
			c.state.Health = &container.Health{Status: container.Starting}
		}
		return nil
	})
}

func (f *fakeEngine) ContainerStop(_ context.Context, id string, opts container.StopOptions) error {
	return f.on("stop", id, func(c *fakeContainer) error {
		c.stopped = opts.Timeout
		if c.state.Running {
			c.state = container.State{Status: container.StateExited, ExitCode: 143}
		}
		return nil
	})
}

func (f *fakeEngine) ContainerRemove(_ context.Context, id string, opts container.RemoveOptions) error {
	return f.on("remove", id, func(c *fakeContainer) error {
		if c.state.Running && !opts.Force {
			return errdefs.Conflict(errors.New("container is running: stop the container before removing or force remove"))
		}
		delete(f.containers, c.id)
		return nil
	})
}

func (f *fakeEngine) ContainerInspect(_ context.Context, id string) (in container.InspectResponse, err error) {
	err = f.on("inspect", id, func(c *fakeContainer) error {
		st := c.state
		in = container.InspectResponse{
			ContainerJSONBase: &container.ContainerJSONBase{ID: c.id, Name: "/" + c.name, State: &st},
			Config:            c.cfg,
			NetworkSettings:   &container.NetworkSettings{Networks: c.nets},
		}
		return nil
	})
	return in, err
}

// ContainerList honours All and label filters (KEY and KEY=VALUE).
func (f *fakeEngine) ContainerList(_ context.Context, opts container.ListOptions) ([]container.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("list", ""); err != nil {
		return nil, err
	}
	var out []container.Summary
	for _, c := range f.containers {
		if (!opts.All && !c.state.Running) || !matchLabels(c.cfg.Labels, opts.Filters.Get("label")) {
			continue
		}
		out = append(out, container.Summary{ID: c.id, Names: []string{"/" + c.name}, Image: c.cfg.Image,
			Labels: c.cfg.Labels, State: c.state.Status, NetworkSettings: &container.NetworkSettingsSummary{Networks: c.nets}})
	}
	return out, nil
}

func matchLabels(labels map[string]string, want []string) bool {
	for _, w := range want {
		k, v, withValue := strings.Cut(w, "=")
		if got, ok := labels[k]; !ok || withValue && got != v {
			return false
		}
	}
	return true
}

func (f *fakeEngine) NetworkConnect(_ context.Context, net, id string, es *network.EndpointSettings) error {
	return f.on("connect", id, func(c *fakeContainer) error {
		c.nets[net] = es
		return nil
	})
}

func (f *fakeEngine) Events(context.Context, events.ListOptions) (<-chan events.Message, <-chan error) {
	return f.events, f.eventErrs
}

func (f *fakeEngine) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("image", ref); err != nil {
		return image.InspectResponse{}, err
	}
	if !f.images[ref] {
		return image.InspectResponse{}, errdefs.NotFound(fmt.Errorf("No such image: %s", ref))
	}
	return image.InspectResponse{ID: "sha256:" + ref}, nil
}

// edit changes a container as the engine would (it exits, turns
// unhealthy, ...).
func (f *fakeEngine) edit(name string, fn func(*fakeContainer)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(name)
	if err != nil {
		panic(err)
	}
	fn(c)
}

// find returns a copy of a container by name or ID, nil when gone.
func (f *fakeEngine) find(name string) *fakeContainer {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(name)
	if err != nil {
		return nil
	}
	cp := *c
	return &cp
}

// add puts a container on the engine as if made by someone else.
func (f *fakeEngine) add(c *fakeContainer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.nets == nil {
		c.nets = map[string]*network.EndpointSettings{}
	}
	f.containers[c.id] = c
}

// drop removes a container behind the executor's back (docker rm -f).
func (f *fakeEngine) drop(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.containers, id)
}
