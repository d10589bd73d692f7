package executor

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// SimEngine is a simulated Docker engine for the node executor
// (`xo agent --simulate-tasks`): a container is a record that is
// created, started, stopped and removed at once, with no process, image,
// network or file behind it. Every image exists. It emits the container
// events create, start, die, stop and destroy. It drives the control
// plane at a scale no test machine can run containers for; nothing but
// the executor sees its containers.
//
// A real engine keeps its containers running while the agent is down.
// A SimEngine opened with OpenSimEngine does too: it writes every change
// to a journal file, and the next one opened on that file (after a
// restart of the agent, even a kill -9) has the same containers, running
// or not.
type SimEngine struct {
	now func() time.Time

	mu      sync.Mutex
	journal *simJournal // nil: in memory only
	seq     int
	ctrs    map[string]*simContainer // by ID
	byName  map[string]string        // name (no leading /) -> ID
	subs    map[*simSub]struct{}
	maxSubQ int // events a subscriber may fall behind before its stream ends
}

var _ Docker = (*SimEngine)(nil)

// simContainer is what the engine keeps of a container.
type simContainer struct {
	id, name string
	seq      int // creation order: ContainerList answers newest first
	created  time.Time
	cfg      *container.Config
	nets     map[string]*network.EndpointSettings
	state    container.State
}

// NewSimEngine returns an empty simulated engine that keeps its
// containers in memory only.
func NewSimEngine() *SimEngine {
	return &SimEngine{now: time.Now, ctrs: map[string]*simContainer{}, byName: map[string]string{},
		subs: map[*simSub]struct{}{}, maxSubQ: 1 << 16}
}

// lock takes the engine's lock; a closed engine refuses every call.
func (s *SimEngine) lock() error {
	s.mu.Lock()
	if s.journal != nil && s.journal.closed {
		s.mu.Unlock()
		return cerrdefs.ErrUnavailable.WithMessage("simulated engine: closed (the agent is stopping)")
	}
	return nil
}

// add stores a new container; the lock is held.
func (s *SimEngine) add(id, name string, created time.Time, cfg *container.Config, nets map[string]*network.EndpointSettings) *simContainer {
	s.seq++
	c := &simContainer{id: id, name: name, seq: s.seq, created: created, cfg: cfg, nets: nets,
		state: container.State{Status: container.StateCreated}}
	if c.nets == nil {
		c.nets = map[string]*network.EndpointSettings{}
	}
	s.ctrs[id] = c
	s.byName[name] = id
	return c
}

// run marks c running since at; the lock is held.
func (s *SimEngine) run(c *simContainer, at time.Time) {
	c.state = container.State{Status: container.StateRunning, Running: true, Pid: 100000 + c.seq,
		StartedAt: at.UTC().Format(time.RFC3339Nano)}
	if hc := c.cfg.Healthcheck; hc != nil && !(len(hc.Test) > 0 && hc.Test[0] == "NONE") {
		c.state.Health = &container.Health{Status: container.Healthy}
	}
}

// exit marks c exited with code at at; the lock is held.
func (s *SimEngine) exit(c *simContainer, code int, at time.Time) {
	c.state = container.State{Status: container.StateExited, ExitCode: code, StartedAt: c.state.StartedAt,
		FinishedAt: at.UTC().Format(time.RFC3339Nano)}
}

// stop makes a running c exit with code, journaled, with its die event;
// the lock is held. It says whether c ran.
func (s *SimEngine) stop(c *simContainer, code int) (bool, error) {
	if !c.state.Running {
		return false, nil
	}
	at := s.now()
	if err := s.record(simRecord{Op: "exit", ID: c.id, Code: code, At: at}); err != nil {
		return false, err
	}
	s.exit(c, code, at)
	s.emit(events.ActionDie, c, "exitCode", fmt.Sprint(code))
	return true, nil
}

// remove drops c; the lock is held.
func (s *SimEngine) remove(c *simContainer) {
	delete(s.ctrs, c.id)
	delete(s.byName, c.name)
}

// get finds a container by ID or name; the lock is held.
func (s *SimEngine) get(ref string) (*simContainer, error) {
	if c := s.ctrs[ref]; c != nil {
		return c, nil
	}
	if id, ok := s.byName[strings.TrimPrefix(ref, "/")]; ok {
		return s.ctrs[id], nil
	}
	return nil, cerrdefs.ErrNotFound.WithMessage("No such container: " + ref)
}

// ContainerCreate stores a created container. Of its config it keeps the
// image, the labels, the healthcheck's test and the networks with their
// aliases. The image is not checked; a name in use is a conflict, as on
// a real engine.
func (s *SimEngine) ContainerCreate(_ context.Context, cfg *container.Config, _ *container.HostConfig,
	nc *network.NetworkingConfig, _ *ocispec.Platform, name string) (container.CreateResponse, error) {
	if cfg == nil {
		return container.CreateResponse{}, cerrdefs.ErrInvalidArgument.WithMessage("config cannot be empty in order to create a container")
	}
	if err := s.lock(); err != nil {
		return container.CreateResponse{}, err
	}
	defer s.mu.Unlock()
	id := newSimID()
	name = strings.TrimPrefix(name, "/")
	if name == "" {
		name = "sim_" + id[:12]
	}
	if other, ok := s.byName[name]; ok {
		return container.CreateResponse{}, cerrdefs.ErrConflict.WithMessage(fmt.Sprintf(
			"Conflict. The container name %q is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name.",
			"/"+name, other))
	}
	rec := simRecord{Op: "create", ID: id, Name: name, Image: cfg.Image, Labels: cfg.Labels, At: s.now()}
	if hc := cfg.Healthcheck; hc != nil {
		rec.Health = hc.Test
	}
	if nc != nil {
		rec.Nets = map[string][]string{}
		for n, es := range nc.EndpointsConfig {
			rec.Nets[n] = copySettings(es).Aliases
		}
	}
	if err := s.record(rec); err != nil {
		return container.CreateResponse{}, err
	}
	c := s.apply(rec)
	s.emit(events.ActionCreate, c)
	return container.CreateResponse{ID: id}, nil
}

// ContainerStart starts a container at once; starting a running one does
// nothing.
func (s *SimEngine) ContainerStart(_ context.Context, ref string, _ container.StartOptions) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	c, err := s.get(ref)
	if err != nil || c.state.Running {
		return err
	}
	at := s.now()
	if err := s.record(simRecord{Op: "start", ID: c.id, At: at}); err != nil {
		return err
	}
	s.run(c, at)
	s.emit(events.ActionStart, c)
	return nil
}

// ContainerStop stops a running container at once: it exits 0, as a
// process that honours SIGTERM does.
func (s *SimEngine) ContainerStop(_ context.Context, ref string, _ container.StopOptions) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	c, err := s.get(ref)
	if err != nil {
		return err
	}
	if ran, err := s.stop(c, 0); err != nil || !ran {
		return err
	}
	s.emit(events.ActionStop, c)
	return nil
}

// ContainerRemove removes a container; a running one only with Force
// (it is killed: exit code 137).
func (s *SimEngine) ContainerRemove(_ context.Context, ref string, opts container.RemoveOptions) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	c, err := s.get(ref)
	if err != nil {
		return err
	}
	if c.state.Running && !opts.Force {
		return cerrdefs.ErrConflict.WithMessage(fmt.Sprintf("cannot remove container %q: container is running: "+
			"stop the container before removing or force remove", "/"+c.name))
	}
	if _, err := s.stop(c, 137); err != nil {
		return err
	}
	if err := s.record(simRecord{Op: "remove", ID: c.id, At: s.now()}); err != nil {
		return err
	}
	s.remove(c)
	s.emit(events.ActionDestroy, c)
	return nil
}

// ContainerInspect describes one container.
func (s *SimEngine) ContainerInspect(_ context.Context, ref string) (container.InspectResponse, error) {
	if err := s.lock(); err != nil {
		return container.InspectResponse{}, err
	}
	defer s.mu.Unlock()
	c, err := s.get(ref)
	if err != nil {
		return container.InspectResponse{}, err
	}
	st := c.state
	if st.Health != nil {
		h := *st.Health
		st.Health = &h
	}
	cfg := *c.cfg
	cfg.Labels = maps.Clone(c.cfg.Labels)
	return container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{ID: c.id, Name: "/" + c.name, Image: simImageID(cfg.Image),
			Created: c.created.UTC().Format(time.RFC3339Nano), State: &st},
		Config:          &cfg,
		NetworkSettings: &container.NetworkSettings{Networks: c.networks()},
	}, nil
}

// simListFilters are the ContainerList filters the engine knows.
var simListFilters = map[string]bool{"label": true, "name": true, "id": true, "status": true}

// ContainerList lists the running containers, or all with All, newest
// first, filtered by label (KEY or KEY=VALUE), name (part of it), id
// (a prefix) and status.
func (s *SimEngine) ContainerList(_ context.Context, opts container.ListOptions) ([]container.Summary, error) {
	for _, k := range opts.Filters.Keys() {
		if !simListFilters[k] {
			return nil, cerrdefs.ErrInvalidArgument.WithMessage("invalid filter '" + k + "'")
		}
	}
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []*simContainer
	for _, c := range s.ctrs {
		if (opts.All || c.state.Running) && c.matches(opts.Filters) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *simContainer) int { return b.seq - a.seq })
	sums := make([]container.Summary, 0, len(out))
	for _, c := range out {
		sums = append(sums, container.Summary{ID: c.id, Names: []string{"/" + c.name}, Image: c.cfg.Image,
			ImageID: simImageID(c.cfg.Image), Created: c.created.Unix(), Labels: maps.Clone(c.cfg.Labels),
			State: c.state.Status, NetworkSettings: &container.NetworkSettingsSummary{Networks: c.networks()}})
	}
	return sums, nil
}

func (c *simContainer) matches(f filters.Args) bool {
	if !f.MatchKVList("label", c.cfg.Labels) || !f.ExactMatch("status", string(c.state.Status)) {
		return false
	}
	if ids := f.Get("id"); len(ids) > 0 && !slices.ContainsFunc(ids, func(p string) bool { return strings.HasPrefix(c.id, p) }) {
		return false
	}
	if names := f.Get("name"); len(names) > 0 &&
		!slices.ContainsFunc(names, func(n string) bool { return strings.Contains(c.name, strings.TrimPrefix(n, "/")) }) {
		return false
	}
	return true
}

// networks is a copy of the container's endpoint settings, by network.
func (c *simContainer) networks() map[string]*network.EndpointSettings {
	out := make(map[string]*network.EndpointSettings, len(c.nets))
	for n, es := range c.nets {
		out[n] = copySettings(es)
	}
	return out
}

// NetworkConnect records the network on the container (there is no
// network behind it).
func (s *SimEngine) NetworkConnect(_ context.Context, net, ref string, es *network.EndpointSettings) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	c, err := s.get(ref)
	if err != nil {
		return err
	}
	if _, ok := c.nets[net]; ok {
		return cerrdefs.ErrConflict.WithMessage(fmt.Sprintf("endpoint with name %s already exists in network %s", c.name, net))
	}
	rec := simRecord{Op: "connect", ID: c.id, Nets: map[string][]string{net: copySettings(es).Aliases}, At: s.now()}
	if err := s.record(rec); err != nil {
		return err
	}
	s.apply(rec)
	return nil
}

// ImageInspect finds every image: the simulated engine has them all.
func (s *SimEngine) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	return image.InspectResponse{ID: simImageID(ref), RepoTags: []string{ref}}, nil
}

func copySettings(es *network.EndpointSettings) *network.EndpointSettings {
	if es == nil {
		return &network.EndpointSettings{}
	}
	cp := *es
	cp.Aliases = slices.Clone(es.Aliases)
	return &cp
}

// simImageID is a stable image ID for an image reference.
func simImageID(ref string) string {
	sum := sha256.Sum256([]byte(ref))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// newSimID is a container ID as an engine makes them: 64 hex digits.
func newSimID() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}
