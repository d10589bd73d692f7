package state

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// serviceName is Docker's rule for service names: a DNS label that may
// also hold '_'. Dots would make task names (SERVICE.SLOT.ID) ambiguous.
var serviceName = regexp.MustCompile(`^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$`)

// dnsLabel is what a network alias may be.
var dnsLabel = regexp.MustCompile(`^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?)*$`)

// MinMemoryLimit is the smallest memory limit Docker accepts.
const MinMemoryLimit = 6 << 20

// WithDefaults returns a copy with the defaults filled in (replicated,
// vip, restart on any exit, tcp, ingress, volume), constraints written
// canonically, and empty lists and maps made nil, so that equal specs
// compare equal.
func (s ServiceSpec) WithDefaults() ServiceSpec {
	s.Mode = or(s.Mode, ModeReplicated)
	s.EndpointMode = or(s.EndpointMode, EndpointVIP)
	s.RestartPolicy.Condition = or(s.RestartPolicy.Condition, RestartAny)
	s.Command, s.Args, s.Env = nilIfEmpty(s.Command), nilIfEmpty(s.Args), nilIfEmpty(s.Env)
	s.Constraints, s.Preferences = nilIfEmpty(s.Constraints), nilIfEmpty(s.Preferences)
	if len(s.Labels) == 0 {
		s.Labels = nil
	}
	s.Constraints = slices.Clone(s.Constraints)
	for i, c := range s.Constraints {
		if p, err := ParseConstraint(c); err == nil {
			s.Constraints[i] = p.String()
		}
	}
	s.Networks = slices.Clone(nilIfEmpty(s.Networks))
	for i := range s.Networks {
		s.Networks[i].Aliases = nilIfEmpty(s.Networks[i].Aliases)
	}
	s.Ports = slices.Clone(nilIfEmpty(s.Ports))
	for i := range s.Ports {
		s.Ports[i].Protocol = or(s.Ports[i].Protocol, ProtocolTCP)
		s.Ports[i].Mode = or(s.Ports[i].Mode, PublishIngress)
	}
	s.Mounts = slices.Clone(nilIfEmpty(s.Mounts))
	for i := range s.Mounts {
		s.Mounts[i].Type = or(s.Mounts[i].Type, MountVolume)
	}
	if h := s.Healthcheck; h != nil {
		c := *h
		c.Test = nilIfEmpty(c.Test)
		s.Healthcheck = &c
	}
	s.policiesWithDefaults()
	return s
}

// Validate checks everything a user can get wrong in a spec, and names
// every problem by its `xo service create` flag. Networks are checked
// against the cluster when the FSM applies the spec.
func (s ServiceSpec) Validate() error {
	s = s.WithDefaults()
	var p problems
	if msg := nameProblem(s.Name); msg != "" {
		p.add("%s", msg)
	}
	switch {
	case s.Image == "":
		p.add("IMAGE: required")
	case strings.ContainsAny(s.Image, " \t\n") || strings.HasPrefix(s.Image, "-"):
		p.add("IMAGE %q: not an image reference like nginx:1.27 or registry.example/app@sha256:...", s.Image)
	}
	switch s.Mode {
	case ModeReplicated:
	case ModeGlobal:
		if s.Replicas != 0 {
			p.add("--replicas: only for --mode replicated, a global service runs one task per node")
		}
	default:
		p.add("--mode %q: want replicated or global", s.Mode)
	}
	for _, e := range s.Env {
		if k, _, _ := strings.Cut(e, "="); strings.TrimSpace(k) == "" {
			p.add("--env %q: want KEY=VALUE", e)
		}
	}
	for k := range s.Labels {
		if strings.TrimSpace(k) == "" {
			p.add("--label %q: want KEY=VALUE", "="+s.Labels[k])
		}
	}
	s.validateNetworks(&p)
	for _, c := range s.Constraints {
		if _, err := ParseConstraint(c); err != nil {
			p.add("%s", err)
		}
	}
	for _, c := range s.Preferences {
		if _, err := ParsePreference(c); err != nil {
			p.add("%s", err)
		}
	}
	s.Resources.validate(&p)
	s.RestartPolicy.validate(&p)
	s.Healthcheck.validate(&p)
	p.nonNegative("--stop-grace-period", s.StopGracePeriod)
	if s.EndpointMode != EndpointVIP && s.EndpointMode != EndpointDNSRR {
		p.add("--endpoint-mode %q: want vip or dnsrr", s.EndpointMode)
	}
	s.validatePorts(&p)
	validateMounts(s.Mounts, &p)
	s.validatePolicies(&p)
	return p.err()
}

// nameProblem says what is wrong with a service name, or "".
func nameProblem(name string) string {
	switch {
	case name == "":
		return "--name: required"
	case len(name) > 63 || !serviceName.MatchString(name):
		return fmt.Sprintf("--name %q: want letters, digits, '-' and '_', starting and ending with a letter or digit, at most 63 characters", name)
	}
	return ""
}

func (s ServiceSpec) validateNetworks(p *problems) {
	seen := map[string]bool{}
	for _, n := range s.Networks {
		if n.Target == "" {
			p.add("--network: a network name or ID is required")
			continue
		}
		if seen[n.Target] {
			p.add("--network %s: given twice", n.Target)
		}
		seen[n.Target] = true
		for _, a := range n.Aliases {
			if len(a) > 253 || !dnsLabel.MatchString(a) {
				p.add("--network %s: alias %q is not a DNS name", n.Target, a)
			}
		}
	}
}

func (r ResourceRequirements) validate(p *problems) {
	p.nonNegativeInt("--reserve-cpu", r.Reservations.NanoCPUs)
	p.nonNegativeInt("--reserve-memory", r.Reservations.MemoryBytes)
	p.nonNegativeInt("--limit-cpu", r.Limits.NanoCPUs)
	p.nonNegativeInt("--limit-memory", r.Limits.MemoryBytes)
	if l, res := r.Limits.NanoCPUs, r.Reservations.NanoCPUs; l > 0 && l < res {
		p.add("--limit-cpu %s is below --reserve-cpu %s", HumanCPUs(l), HumanCPUs(res))
	}
	if l, res := r.Limits.MemoryBytes, r.Reservations.MemoryBytes; l > 0 && l < res {
		p.add("--limit-memory %s is below --reserve-memory %s", HumanBytes(l), HumanBytes(res))
	}
	if l := r.Limits.MemoryBytes; l > 0 && l < MinMemoryLimit {
		p.add("--limit-memory %s: the minimum is %s", HumanBytes(l), HumanBytes(MinMemoryLimit))
	}
}

func (r RestartPolicy) validate(p *problems) {
	switch r.Condition {
	case RestartAny, RestartOnFailure, RestartNone:
	default:
		p.add("--restart-condition %q: want any, on-failure or none", r.Condition)
	}
	p.nonNegative("--restart-delay", r.Delay)
	p.nonNegative("--restart-window", r.Window)
}

func (h *Healthcheck) validate(p *problems) {
	if h == nil {
		return
	}
	if len(h.Test) > 0 {
		switch kind := h.Test[0]; {
		case kind == "NONE" && len(h.Test) == 1:
		case kind == "CMD" && len(h.Test) > 1:
		case kind == "CMD-SHELL" && len(h.Test) == 2:
		default:
			p.add("--health-cmd %q: want [\"CMD\", args...], [\"CMD-SHELL\", command] or [\"NONE\"]", h.Test)
		}
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--health-interval", h.Interval}, {"--health-timeout", h.Timeout}, {"--health-start-period", h.StartPeriod}} {
		if d.v != 0 && d.v < time.Millisecond {
			p.add("%s %s: want at least 1ms (or 0 for the image's)", d.flag, d.v)
		}
	}
	if h.Retries < 0 {
		p.add("--health-retries %d: must not be negative", h.Retries)
	}
}

func (s ServiceSpec) validatePorts(p *problems) {
	seen := map[string]bool{}
	for _, port := range s.Ports {
		flag := "--publish " + port.String()
		if port.Target == 0 {
			p.add("%s: the target (container) port is required", flag)
		}
		if port.Protocol != ProtocolTCP && port.Protocol != ProtocolUDP {
			p.add("%s: protocol %q: want tcp or udp", flag, port.Protocol)
		}
		switch port.Mode {
		case PublishIngress, PublishHost:
		case PublishHTTP:
			if port.Protocol != ProtocolTCP {
				p.add("%s: mode http needs protocol tcp", flag)
			}
		default:
			p.add("%s: mode %q: want ingress, host or http", flag, port.Mode)
		}
		if port.Mode == PublishIngress && s.EndpointMode == EndpointDNSRR {
			p.add("%s: ingress ports need --endpoint-mode vip (or publish with mode=host)", flag)
		}
		if port.Published == 0 {
			continue
		}
		key := fmt.Sprintf("%d/%s", port.Published, port.Protocol)
		if seen[key] {
			p.add("%s: port %s is published twice", flag, key)
		}
		seen[key] = true
	}
}

func validateMounts(mounts []Mount, p *problems) {
	targets := map[string]bool{}
	for _, m := range mounts {
		flag := "--mount " + m.String()
		switch {
		case m.Target == "":
			p.add("%s: target is required", flag)
		case !path.IsAbs(m.Target):
			p.add("%s: target must be an absolute path", flag)
		case targets[path.Clean(m.Target)]:
			p.add("%s: target %s is mounted twice", flag, m.Target)
		}
		targets[path.Clean(m.Target)] = true
		switch m.Type {
		case MountBind:
			if !path.IsAbs(m.Source) {
				p.add("%s: a bind mount needs an absolute source path on the host", flag)
			}
		case MountVolume:
			if strings.Contains(m.Source, "/") {
				p.add("%s: a volume source is a volume name; use type=bind for a host path", flag)
			}
		case MountTmpfs:
			if m.Source != "" {
				p.add("%s: a tmpfs mount takes no source", flag)
			}
		default:
			p.add("%s: type %q: want bind, volume or tmpfs", flag, m.Type)
		}
	}
}

// String is the port as `--publish` takes it: 8080:80/tcp.
func (p PortConfig) String() string {
	s := fmt.Sprintf("%d/%s", p.Target, or(p.Protocol, ProtocolTCP))
	if p.Published != 0 {
		s = strconv.Itoa(int(p.Published)) + ":" + s
	}
	if p.Mode != "" && p.Mode != PublishIngress {
		s += ",mode=" + p.Mode
	}
	return s
}

// String is the mount as `--mount` takes it.
func (m Mount) String() string {
	s := "type=" + or(m.Type, MountVolume)
	if m.Source != "" {
		s += ",source=" + m.Source
	}
	s += ",target=" + m.Target
	if m.ReadOnly {
		s += ",readonly"
	}
	return s
}

// HumanBytes writes a size the way the flags take it: 512MiB, 1.5GiB.
func HumanBytes(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size {
			return strconv.FormatFloat(float64(n)/float64(u.size), 'f', -1, 64) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// HumanCPUs writes nano CPUs as a number of CPUs: 1.5 for 1.5e9.
func HumanCPUs(nano int64) string {
	return strconv.FormatFloat(float64(nano)/1e9, 'f', -1, 64)
}

// problems collects every problem of a spec, so one error names them all.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (p *problems) nonNegative(flag string, d time.Duration) {
	if d < 0 {
		p.add("%s %s: must not be negative", flag, d)
	}
}

func (p *problems) nonNegativeInt(flag string, v int64) {
	if v < 0 {
		p.add("%s: must not be negative", flag)
	}
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(p, "; "))
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func nilIfEmpty[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return s
}
