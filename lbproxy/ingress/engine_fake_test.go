package ingress

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fakeEngine holds containers on networks (engine network ID -> the next
// address it hands out) and images.
type fakeEngine struct {
	mu      sync.Mutex
	ctrs    map[string]*fakeCtr
	nets    map[string]int // engine network ID -> addresses handed out
	images  map[string][]string
	imports []fakeImport
	calls   []string
	seq     int
}

type fakeCtr struct {
	id, name string
	labels   map[string]string
	running  bool
	host     *container.HostConfig
	image    string
	nets     map[string]string // engine network ID -> address
	ns       int               // bumped at each start: a new namespace
}

type fakeImport struct {
	ref     string
	changes []string
	files   map[string]string
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{ctrs: map[string]*fakeCtr{}, nets: map[string]int{}, images: map[string][]string{}}
}

func (e *fakeEngine) call(format string, args ...any) {
	e.calls = append(e.calls, fmt.Sprintf(format, args...))
}

// Calls returns and forgets the calls made so far.
func (e *fakeEngine) Calls() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.calls
	e.calls = nil
	return c
}

func (e *fakeEngine) ContainerList(_ context.Context, o container.ListOptions) ([]container.Summary, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []container.Summary
	for _, c := range e.ctrs {
		if _, ok := c.labels[LabelIngress]; !ok && o.Filters.Contains("label") {
			continue
		}
		st := container.StateExited
		if c.running {
			st = container.StateRunning
		}
		out = append(out, container.Summary{ID: c.id, State: st})
	}
	return out, nil
}

func (e *fakeEngine) ContainerInspect(_ context.Context, id string) (container.InspectResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.ctrs[id]
	if !ok {
		return container.InspectResponse{}, cerrdefs.ErrNotFound
	}
	in := container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{ID: id, State: &container.State{Running: c.running}},
		NetworkSettings:   &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{}},
	}
	if c.running {
		in.State.Pid = 100 + c.ns
		in.NetworkSettings.SandboxKey = fmt.Sprintf("/ns/%s-%d", id, c.ns)
	}
	for nid, addr := range c.nets {
		in.NetworkSettings.Networks["name-"+nid] = &network.EndpointSettings{NetworkID: nid, IPAddress: addr}
	}
	return in, nil
}

func (e *fakeEngine) ContainerCreate(_ context.Context, cfg *container.Config, host *container.HostConfig,
	nc *network.NetworkingConfig, _ *ocispec.Platform, name string) (container.CreateResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.call("create %s %s on %s", name, cfg.Image, host.NetworkMode)
	for _, c := range e.ctrs {
		if c.name == name {
			return container.CreateResponse{}, cerrdefs.ErrConflict
		}
	}
	e.seq++
	c := &fakeCtr{id: fmt.Sprintf("ctr%d", e.seq), name: name, labels: cfg.Labels, host: host, image: cfg.Image, nets: map[string]string{}}
	for nid := range nc.EndpointsConfig {
		c.nets[nid] = e.addr(nid)
	}
	e.ctrs[c.id] = c
	return container.CreateResponse{ID: c.id}, nil
}

func (e *fakeEngine) addr(nid string) string {
	e.nets[nid]++
	return fmt.Sprintf("10.%d.0.%d", len(nid), 100+e.nets[nid])
}

func (e *fakeEngine) ContainerStart(_ context.Context, id string, _ container.StartOptions) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.call("start %s", id)
	c, ok := e.ctrs[id]
	if !ok {
		return cerrdefs.ErrNotFound
	}
	c.running = true
	c.ns++
	return nil
}

func (e *fakeEngine) ContainerRemove(_ context.Context, id string, _ container.RemoveOptions) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.call("remove %s", id)
	if _, ok := e.ctrs[id]; !ok {
		return cerrdefs.ErrNotFound
	}
	delete(e.ctrs, id)
	return nil
}

func (e *fakeEngine) NetworkConnect(_ context.Context, nid, id string, _ *network.EndpointSettings) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.call("connect %s %s", id, nid)
	e.ctrs[id].nets[nid] = e.addr(nid)
	return nil
}

func (e *fakeEngine) NetworkDisconnect(_ context.Context, nid, id string, _ bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.call("disconnect %s %s", id, nid)
	delete(e.ctrs[id].nets, nid)
	return nil
}

// die stops a container, as a crash or an engine restart would.
func (e *fakeEngine) die(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ctrs[id].running = false
}

func (e *fakeEngine) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.images[ref]; !ok {
		return image.InspectResponse{}, cerrdefs.ErrNotFound
	}
	return image.InspectResponse{ID: ref}, nil
}

func (e *fakeEngine) ImageImport(_ context.Context, src image.ImportSource, ref string, o image.ImportOptions) (io.ReadCloser, error) {
	files := map[string]string{}
	tr := tar.NewReader(src.Source)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		files[fmt.Sprintf("%s %o", h.Name, h.Mode)] = string(b)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.call("import %s", ref)
	e.imports = append(e.imports, fakeImport{ref: ref, changes: o.Changes, files: files})
	e.images[ref] = []string{ref}
	return io.NopCloser(strings.NewReader(`{"status":"sha256:0123"}` + "\n")), nil
}

func (e *fakeEngine) ImageList(context.Context, image.ListOptions) ([]image.Summary, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []image.Summary
	for ref, tags := range e.images {
		out = append(out, image.Summary{ID: ref, RepoTags: tags})
	}
	return out, nil
}

func (e *fakeEngine) ImageRemove(_ context.Context, ref string, _ image.RemoveOptions) ([]image.DeleteResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.call("rmi %s", ref)
	delete(e.images, ref)
	return nil, nil
}
