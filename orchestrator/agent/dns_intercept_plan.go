package agent

import (
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/container"
)

// dnsInterceptLabel set to "false" on a container keeps it on Docker's
// embedded resolver.
const dnsInterceptLabel = "xo.dns-intercept"

// interceptTarget says whether a container gets the DNS fast path (its
// queries to 127.0.0.11 go straight to dnsd) and where its network
// namespace is. It does when dnsd answers everything Docker's embedded
// resolver would: the container runs, and every network it is on is an
// xoverlay network (ours tells an endpoint of this node's xoverlay
// networks), with no legacy links and no per-container --dns servers.
// why says why not.
func interceptTarget(in container.InspectResponse, ours func(endpointID string) bool) (nsPath string, want bool, why string) {
	if in.ContainerJSONBase == nil || in.State == nil || !in.State.Running {
		return "", false, "not running"
	}
	if in.NetworkSettings != nil {
		nsPath = in.NetworkSettings.SandboxKey
	}
	if nsPath == "" && in.State.Pid > 0 {
		nsPath = fmt.Sprintf("/proc/%d/ns/net", in.State.Pid)
	}
	if hc := in.HostConfig; hc != nil {
		switch mode := hc.NetworkMode; {
		case mode.IsHost(), mode.IsNone(), mode.IsContainer():
			return "", false, "network mode " + string(mode)
		case len(hc.DNS) > 0:
			return nsPath, false, "its own DNS servers (--dns " + strings.Join(hc.DNS, ",") + ")"
		case len(hc.Links) > 0:
			return nsPath, false, "legacy links (--link), which only Docker's resolver answers"
		}
	}
	if in.Config != nil && strings.EqualFold(in.Config.Labels[dnsInterceptLabel], "false") {
		return nsPath, false, "label " + dnsInterceptLabel + "=false"
	}
	if in.NetworkSettings == nil || len(in.NetworkSettings.Networks) == 0 {
		return nsPath, false, "no networks"
	}
	for name, es := range in.NetworkSettings.Networks {
		switch {
		case es == nil || es.EndpointID == "" || !ours(es.EndpointID):
			return nsPath, false, "on network " + name + ", which is not an xoverlay network"
		case len(es.Links) > 0:
			return nsPath, false, "legacy links (--link), which only Docker's resolver answers"
		}
	}
	if nsPath == "" {
		return "", false, "no network namespace in the engine's inspect"
	}
	return nsPath, true, ""
}
