package executor

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"strconv"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// attachment is one of a service's networks as this engine knows it.
type attachment struct {
	name    string // the engine's name for the network
	id      string // the engine's network ID
	aliases []string
}

// networks resolves a spec's networks on node's engine. wait says why the
// task cannot be created yet (this engine has no copy of a network yet:
// the network sync makes it); gone names a network that no longer exists.
func networks(tx state.ReadTx, spec state.ServiceSpec, node string) (nets []attachment, wait, gone string) {
	for _, a := range spec.Networks {
		n := tx.Network(a.Target)
		if n == nil {
			for _, c := range tx.Networks() {
				if c.Name == a.Target {
					n = c
					break
				}
			}
		}
		switch {
		case n == nil:
			return nil, "", fmt.Sprintf("network %s is gone", a.Target)
		case n.Deleting:
			return nil, "", fmt.Sprintf("network %s is being removed", cmp.Or(n.Name, n.ID))
		case n.Engines[node] == "":
			return nil, fmt.Sprintf("waiting for network %s on this engine", cmp.Or(n.Name, n.ID)), ""
		}
		nets = append(nets, attachment{name: cmp.Or(n.Name, n.Engines[node]), id: n.Engines[node], aliases: a.Aliases})
	}
	return nets, "", ""
}

// containerSpec is the engine request that creates t's container from
// spec: the first network in the request, the others connected before
// the start. Published ports are not the engine's: the load balancer
// serves them. The service's name is no alias: discovery answers it from
// the label xo.service of the endpoints.
func containerSpec(svc *state.Service, spec state.ServiceSpec, t *state.Task, node string, nets []attachment) (
	*container.Config, *container.HostConfig, *network.NetworkingConfig) {
	labels := maps.Clone(spec.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelService], labels[LabelServiceID], labels[LabelTask] = svc.Name, svc.ID, t.ID
	labels[LabelSlot], labels[LabelNode] = strconv.FormatUint(t.Slot, 10), node
	cfg := &container.Config{
		Image:       spec.Image,
		Entrypoint:  spec.Command,
		Cmd:         spec.Args,
		Env:         spec.Env,
		Labels:      labels,
		Healthcheck: healthConfig(spec.Healthcheck),
		StopTimeout: graceSeconds(t.StopGracePeriod),
	}
	host := &container.HostConfig{
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled}, // the orchestrator replaces
		Resources: container.Resources{
			NanoCPUs:          spec.Resources.Limits.NanoCPUs,
			Memory:            spec.Resources.Limits.MemoryBytes,
			MemoryReservation: spec.Resources.Reservations.MemoryBytes,
		},
	}
	for _, m := range spec.Mounts {
		host.Mounts = append(host.Mounts, mount.Mount{Type: mount.Type(cmp.Or(m.Type, state.MountVolume)),
			Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	var netCfg *network.NetworkingConfig
	if len(nets) > 0 {
		host.NetworkMode = container.NetworkMode(nets[0].name)
		netCfg = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			nets[0].name: {Aliases: nets[0].aliases},
		}}
	}
	return cfg, host, netCfg
}

func healthConfig(h *state.Healthcheck) *container.HealthConfig {
	if h == nil {
		return nil // the image's
	}
	return &container.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
		StartPeriod: h.StartPeriod, Retries: h.Retries}
}

// graceSeconds is a stop grace period in whole seconds (rounded up) for
// the engine; nil (the engine's default, 10 s) for none.
func graceSeconds(d time.Duration) *int {
	if d <= 0 {
		return nil
	}
	s := int(math.Ceil(d.Seconds()))
	return &s
}

// connected says whether a container's network settings (by network
// name) include the network a.
func connected(settings map[string]*network.EndpointSettings, a attachment) bool {
	if _, ok := settings[a.name]; ok {
		return true
	}
	for _, es := range settings {
		if es != nil && es.NetworkID != "" && es.NetworkID == a.id {
			return true
		}
	}
	return false
}
