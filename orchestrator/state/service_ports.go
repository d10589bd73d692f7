package state

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Labels that put a service behind the nodes' HTTP proxy (lbproxy/ingress).
const (
	// LabelHTTPHost lists the host names routed to the service, comma
	// separated ("app.example.com,*.app.example.com"); none: any host.
	LabelHTTPHost = "xo.http.host"
	// LabelHTTPPath is the path prefix routed to the service; none: "/".
	LabelHTTPPath = "xo.http.path"
	// LabelHTTPPort is the tasks' port for a service without a mode=http
	// publish: it is then served on DefaultHTTPPort.
	LabelHTTPPort = "xo.http.port"
	// LabelHTTPPolicy is the upstream policy: round_robin (default),
	// least_conn, ip_hash or hash.
	LabelHTTPPolicy = "xo.http.policy"
	// LabelHTTPHashKey is the request key of policy hash ($request_uri,
	// $http_NAME, $cookie_NAME, ...).
	LabelHTTPHashKey = "xo.http.hash-key"

	// DefaultHTTPPort is where the nodes serve the services routed by
	// xo.http.* labels without a mode=http publish.
	DefaultHTTPPort = 80
)

// httpPolicies are the upstream policies of the HTTP proxy.
var httpPolicies = []string{"round_robin", "least_conn", "ip_hash", "hash"}

// HTTPRoute is how one listener of the nodes' HTTP proxy reaches a
// service.
type HTTPRoute struct {
	Port    uint16   // the nodes' listener
	Target  uint16   // the tasks' port
	Hosts   []string // lower case, without trailing dot; empty: any host
	Path    string   // "/" or a prefix without trailing slash
	Policy  string   // "" is round_robin
	HashKey string   // for policy hash
}

// HTTPRoutes returns the routes of the nodes' HTTP proxy to the service:
// one per mode=http publish, or one on DefaultHTTPPort when only
// xo.http.* labels ask for it. The error names every bad label.
func (s ServiceSpec) HTTPRoutes() ([]HTTPRoute, error) {
	var p problems
	base := HTTPRoute{Path: "/", Policy: s.Labels[LabelHTTPPolicy], HashKey: s.Labels[LabelHTTPHashKey]}
	if h, ok := s.Labels[LabelHTTPHost]; ok {
		for name := range strings.SplitSeq(h, ",") {
			name = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
			if msg := httpHostProblem(name); msg != "" {
				p.add("--label %s=%s: host %q: %s", LabelHTTPHost, h, name, msg)
				continue
			}
			if !slices.Contains(base.Hosts, name) {
				base.Hosts = append(base.Hosts, name)
			}
		}
		slices.Sort(base.Hosts)
	}
	if v, ok := s.Labels[LabelHTTPPath]; ok {
		path, msg := httpPath(v)
		if msg != "" {
			p.add("--label %s=%s: %s", LabelHTTPPath, v, msg)
		}
		base.Path = path
	}
	switch {
	case base.Policy != "" && !slices.Contains(httpPolicies, base.Policy):
		p.add("--label %s=%s: want one of %s", LabelHTTPPolicy, base.Policy, strings.Join(httpPolicies, ", "))
	case base.Policy == "hash" && base.HashKey == "":
		p.add("--label %s=hash: set the request key too, e.g. --label %s='$request_uri'", LabelHTTPPolicy, LabelHTTPHashKey)
	case base.Policy != "hash" && base.HashKey != "":
		p.add("--label %s: only policy hash uses a key: add --label %s=hash or drop the key", LabelHTTPHashKey, LabelHTTPPolicy)
	}
	var routes []HTTPRoute
	for _, port := range s.Ports {
		if port.Mode != PublishHTTP {
			continue
		}
		if port.Published == 0 {
			p.add("--publish %s: mode http needs a published port, as in published=80,target=%d,mode=http", port, port.Target)
			continue
		}
		r := base
		r.Port, r.Target = port.Published, port.Target
		routes = append(routes, r)
	}
	label, hasPort := s.Labels[LabelHTTPPort]
	_, hasHost := s.Labels[LabelHTTPHost]
	_, hasPath := s.Labels[LabelHTTPPath]
	switch {
	case hasPort && len(routes) > 0:
		p.add("--label %s: the target port comes from --publish ...,mode=http: drop the label", LabelHTTPPort)
	case hasPort:
		target, err := strconv.ParseUint(label, 10, 16)
		if err != nil || target == 0 {
			p.add("--label %s=%s: want the tasks' port, 1 to 65535", LabelHTTPPort, label)
			break
		}
		r := base
		r.Port, r.Target = DefaultHTTPPort, uint16(target)
		routes = append(routes, r)
	case len(routes) == 0 && (hasHost || hasPath || base.Policy != ""):
		p.add("xo.http.* labels need the tasks' port: publish it with --publish published=%d,target=PORT,mode=http "+
			"or add --label %s=PORT", DefaultHTTPPort, LabelHTTPPort)
	}
	return routes, p.err()
}

// httpHostProblem says what is wrong with a route's host name, or "".
func httpHostProblem(name string) string {
	if strings.Contains(name, ":") {
		return "drop the port: the listener has it"
	}
	rest, _ := strings.CutPrefix(name, "*.")
	if rest == "" || len(rest) > 253 || strings.Contains(rest, "*") {
		return "want a host name like app.example.com or *.example.com"
	}
	for label := range strings.SplitSeq(rest, ".") {
		if label == "" || len(label) > 63 || strings.Trim(label, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			return "want a host name like app.example.com or *.example.com (letters, digits, '-', '.')"
		}
	}
	return ""
}

// httpPath returns a route's path prefix in canonical form, or what is
// wrong with it.
func httpPath(v string) (string, string) {
	if !strings.HasPrefix(v, "/") {
		return v, "a path prefix starts with '/'"
	}
	if strings.ContainsAny(v, "?#* \t\r\n") {
		return v, "a path prefix has no query, fragment, wildcard or space (/api matches /api and /api/...)"
	}
	if v != "/" {
		v = strings.TrimSuffix(v, "/")
	}
	for seg := range strings.SplitSeq(v[1:], "/") {
		if v != "/" && (seg == "" || seg == "." || seg == "..") {
			return v, "write the path without '//', '.' or '..' segments"
		}
	}
	return v, ""
}

// publishedPorts are the ports the nodes serve for a spec: its published
// ports, and DefaultHTTPPort for label-only HTTP routing.
func publishedPorts(s ServiceSpec, routes []HTTPRoute) []PortConfig {
	var out []PortConfig
	for _, p := range s.Ports {
		if p.Published != 0 {
			out = append(out, p)
		}
	}
	for _, r := range routes {
		if !slices.ContainsFunc(out, func(p PortConfig) bool { return p.Mode == PublishHTTP && p.Published == r.Port }) {
			out = append(out, PortConfig{Target: r.Target, Published: r.Port, Protocol: ProtocolTCP, Mode: PublishHTTP})
		}
	}
	return out
}

// dnsPort is the port of the agent's DNS server on every node.
const dnsPort = 53

// checkPublished refuses a spec (already validated, networks resolved)
// whose published ports clash with another service's or with the
// cluster's own port, or whose HTTP routes are taken. Two services may
// share a port when both publish it in mode http (the proxy tells them
// apart by host and path) or both in mode host (the scheduler keeps them
// on different nodes).
func (w *writeTx) checkPublished(spec ServiceSpec) error {
	routes, err := spec.HTTPRoutes()
	if err != nil {
		return err
	}
	mine := publishedPorts(spec, routes)
	if len(mine) == 0 {
		return nil
	}
	var p problems
	if len(spec.Networks) == 0 {
		p.add("--publish %s: the nodes reach published tasks over an xoverlay network: add --network NET", mine[0])
	}
	for _, port := range mine {
		if port.Published == dnsPort {
			// The published ports catch traffic to every local address of
			// a node, the agent's DNS address included, which is where
			// every container's queries go.
			p.add("--publish %s: port 53 is the nodes' DNS server (xo agent, every container's resolver): choose another published port", port)
			continue
		}
		if port.Protocol != ProtocolTCP {
			continue
		}
		for _, n := range w.s.data.Nodes {
			if _, cp, err := net.SplitHostPort(n.RaftAddr); err == nil && cp == strconv.Itoa(int(port.Published)) {
				p.add("--publish %s: port %d/tcp is the cluster's own port (xo agent --listen-addr): choose another published port",
					port, port.Published)
				break
			}
		}
	}
	others := make([]*Service, 0, len(w.s.data.Services))
	for _, o := range w.s.data.Services {
		if o.Name != spec.Name && !o.External {
			others = append(others, o)
		}
	}
	slices.SortFunc(others, func(a, b *Service) int { return strings.Compare(a.Name, b.Name) })
	for _, o := range others {
		theirRoutes, _ := o.Spec.HTTPRoutes()
		for _, q := range publishedPorts(o.Spec, theirRoutes) {
			for _, port := range mine {
				if port.Published != q.Published || port.Protocol != q.Protocol {
					continue
				}
				switch {
				case port.Mode == PublishHTTP && q.Mode == PublishHTTP:
					routeClashes(&p, port.Published, routes, theirRoutes, o.Name)
				case port.Mode == PublishHost && q.Mode == PublishHost:
				default:
					p.add("--publish %s: port %d/%s is already published by service %s (mode %s): choose another published port, "+
						"or use mode http on both to share it by host and path", port, port.Published, port.Protocol, o.Name, q.Mode)
				}
			}
		}
	}
	if len(p) > 0 {
		return fmt.Errorf("%w: %s", ErrConflict, strings.Join(p, "; "))
	}
	return nil
}

// routeClashes adds a problem for each host and path on port that both
// route sets claim.
func routeClashes(p *problems, port uint16, mine, theirs []HTTPRoute, other string) {
	anyHost := []string{""}
	for _, a := range mine {
		for _, b := range theirs {
			if a.Port != port || b.Port != port || a.Path != b.Path {
				continue
			}
			ah, bh := a.Hosts, b.Hosts
			if len(ah) == 0 {
				ah = anyHost
			}
			if len(bh) == 0 {
				bh = anyHost
			}
			for _, h := range ah {
				if slices.Contains(bh, h) {
					shown := h
					if h == "" {
						shown = "any host"
					}
					p.add("HTTP port %d: %s, path %s is already routed to service %s: set another %s or %s label",
						port, shown, a.Path, other, LabelHTTPHost, LabelHTTPPath)
				}
			}
		}
	}
}
