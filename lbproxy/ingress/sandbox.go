package ingress

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Names of the ingress container.
const (
	// ContainerName is the ingress container's name on every engine.
	ContainerName = "xo-ingress"
	// LabelIngress marks the ingress container; its value is the node ID.
	LabelIngress = "xo.ingress"
)

// ContainerEngine is what the ingress container needs of the engine's
// containers and networks.
type ContainerEngine interface {
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error)
	ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig,
		networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, name string) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, id string, options container.StartOptions) error
	ContainerRemove(ctx context.Context, id string, options container.RemoveOptions) error
	NetworkConnect(ctx context.Context, networkID, containerID string, config *network.EndpointSettings) error
	NetworkDisconnect(ctx context.Context, networkID, containerID string, force bool) error
}

// sandboxes keeps the node's one ingress container.
type sandboxes struct {
	eng   ContainerEngine
	node  string
	image func(ctx context.Context) (string, error) // the image reference, imported if needed
}

// Ensure makes the ingress container run on exactly nets (at least
// one) and returns it.
func (s *sandboxes) Ensure(ctx context.Context, nets []Network) (Sandbox, error) {
	id, err := s.find(ctx)
	if err != nil {
		return Sandbox{}, err
	}
	if id == "" {
		if id, err = s.create(ctx, nets[0]); err != nil {
			return Sandbox{}, err
		}
	}
	in, err := s.eng.ContainerInspect(ctx, id)
	if err != nil {
		return Sandbox{}, fmt.Errorf("ingress: inspect container %s: %w", ContainerName, err)
	}
	if in.State == nil || !in.State.Running {
		if err := s.eng.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
			return Sandbox{}, fmt.Errorf("ingress: start container %s: %w", ContainerName, err)
		}
		if in, err = s.eng.ContainerInspect(ctx, id); err != nil {
			return Sandbox{}, fmt.Errorf("ingress: inspect container %s: %w", ContainerName, err)
		}
	}
	if changed, err := s.attach(ctx, in, nets); err != nil {
		return Sandbox{}, err
	} else if changed {
		if in, err = s.eng.ContainerInspect(ctx, id); err != nil {
			return Sandbox{}, fmt.Errorf("ingress: inspect container %s: %w", ContainerName, err)
		}
	}
	return sandboxOf(in, nets)
}

// find returns the ingress container's ID ("" if none), removing extra
// copies.
func (s *sandboxes) find(ctx context.Context) (string, error) {
	list, err := s.list(ctx)
	if err != nil {
		return "", err
	}
	if len(list) == 0 {
		return "", nil
	}
	// Keep a running one if there is one.
	slices.SortStableFunc(list, func(a, b container.Summary) int {
		return boolInt(b.State == container.StateRunning) - boolInt(a.State == container.StateRunning)
	})
	for _, extra := range list[1:] {
		if err := s.eng.ContainerRemove(ctx, extra.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			return "", fmt.Errorf("ingress: remove extra ingress container %.12s: %w", extra.ID, err)
		}
	}
	return list[0].ID, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *sandboxes) list(ctx context.Context) ([]container.Summary, error) {
	list, err := s.eng.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", LabelIngress))})
	if err != nil {
		return nil, fmt.Errorf("ingress: list the engine's containers: %w", err)
	}
	return list, nil
}

// create makes and starts the container on its first network.
func (s *sandboxes) create(ctx context.Context, first Network) (string, error) {
	ref, err := s.image(ctx)
	if err != nil {
		return "", err
	}
	cfg := &container.Config{
		Image:    ref,
		Cmd:      []string{"/xo", "pause"},
		Hostname: ContainerName,
		Labels:   map[string]string{LabelIngress: s.node, "xo.dns-intercept": "false"},
	}
	host := &container.HostConfig{
		NetworkMode:   container.NetworkMode(first.EngineID),
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped},
		Sysctls: map[string]string{
			"net.ipv4.ip_forward":              "1", // it forwards mesh traffic to the tasks
			"net.ipv4.conf.all.send_redirects": "0", // out of the interface it came in: no redirect to the host
		},
		ReadonlyRootfs: true,
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		LogConfig:      container.LogConfig{Type: "none"},
	}
	nets := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{first.EngineID: {}}}
	res, err := s.eng.ContainerCreate(ctx, cfg, host, nets, nil, ContainerName)
	if cerrdefs.IsConflict(err) {
		return "", fmt.Errorf("ingress: a container named %s exists that the agent did not make (no label %s): rename or remove it: %w",
			ContainerName, LabelIngress, err)
	}
	if err != nil {
		return "", fmt.Errorf("ingress: create container %s: %w", ContainerName, err)
	}
	if err := s.eng.ContainerStart(ctx, res.ID, container.StartOptions{}); err != nil {
		return "", fmt.Errorf("ingress: start container %s: %w", ContainerName, err)
	}
	return res.ID, nil
}

// attach connects the container to the networks of nets it misses and
// disconnects it from the others.
func (s *sandboxes) attach(ctx context.Context, in container.InspectResponse, nets []Network) (changed bool, err error) {
	have := map[string]bool{}
	want := map[string]bool{}
	for _, n := range nets {
		want[n.EngineID] = true
	}
	var errs []error
	if in.NetworkSettings != nil {
		for name, es := range in.NetworkSettings.Networks {
			if es == nil {
				continue
			}
			have[es.NetworkID] = true
			if want[es.NetworkID] {
				continue
			}
			changed = true
			if err := s.eng.NetworkDisconnect(ctx, es.NetworkID, in.ID, true); err != nil && !cerrdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("ingress: disconnect %s from network %s: %w", ContainerName, name, err))
			}
		}
	}
	for _, n := range nets {
		if have[n.EngineID] {
			continue
		}
		changed = true
		if err := s.eng.NetworkConnect(ctx, n.EngineID, in.ID, nil); err != nil {
			errs = append(errs, fmt.Errorf("ingress: connect %s to network %s: %w", ContainerName, n.Name, err))
		}
	}
	return changed, errors.Join(errs...)
}

// sandboxOf reads the container's namespace and its address on each of
// nets.
func sandboxOf(in container.InspectResponse, nets []Network) (Sandbox, error) {
	sb := Sandbox{ID: in.ID, Addrs: map[string]netip.Addr{}}
	if in.State == nil || !in.State.Running {
		return Sandbox{}, fmt.Errorf("ingress: container %s is not running", ContainerName)
	}
	if in.NetworkSettings != nil {
		sb.NS = in.NetworkSettings.SandboxKey
		byEngine := map[string]netip.Addr{}
		for _, es := range in.NetworkSettings.Networks {
			if es == nil {
				continue
			}
			if a, err := netip.ParseAddr(es.IPAddress); err == nil && a.Is4() {
				byEngine[es.NetworkID] = a
			}
		}
		for _, n := range nets {
			if a, ok := byEngine[n.EngineID]; ok {
				sb.Addrs[n.ID] = a
			}
		}
	}
	if sb.NS == "" && in.State.Pid > 0 {
		sb.NS = fmt.Sprintf("/proc/%d/ns/net", in.State.Pid)
	}
	if sb.NS == "" {
		return Sandbox{}, fmt.Errorf("ingress: container %s has no network namespace", ContainerName)
	}
	return sb, nil
}

// Remove removes the ingress container, if there is one.
func (s *sandboxes) Remove(ctx context.Context) error {
	list, err := s.list(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range list {
		if err := s.eng.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("ingress: remove container %s: %w", ContainerName, err))
		}
	}
	return errors.Join(errs...)
}
